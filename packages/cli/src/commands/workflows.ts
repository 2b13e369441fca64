import fs from 'node:fs';
import path from 'node:path';
import type { Command } from 'commander';
import {
  OUTCOME_DECISIONS,
  SQLITE_FILE,
  UserError,
  loadConfigFile,
  loadRuleModule,
  loadWorkflows,
} from '@autonomy-os/core';
import type {
  OutcomeDecision,
  WorkflowContext,
  RunStatus,
  WorkflowRun,
  WorkflowRunDetail,
} from '@autonomy-os/core';
import type { AosClient } from '@autonomy-os/sdk';
import {
  actingHuman,
  globals,
  printJson,
  printTable,
  remote,
  withEngine,
  withActingHuman,
  withRemoteOptions,
  withStore,
} from '../context.js';

function parseJsonOption(text: string | undefined, field: string): unknown {
  if (text === undefined) return {};
  try {
    return JSON.parse(text) as unknown;
  } catch {
    throw new UserError('must be JSON', { field });
  }
}

/** The options of a local-mode write ({@link withActingHuman}). */
interface LocalWrite {
  as?: string;
  config?: string;
}

function requireConfig(config: string | undefined): string {
  if (!config)
    throw new UserError('is required in local mode (or use --url and --token)', { field: 'config' });
  return config;
}

/** Remote `--wait`: polls the server (which advances the run) until the run is over or waits for a human. */
async function waitRemote(client: AosClient, id: string): Promise<WorkflowRunDetail> {
  let run = (await client.getRun(id)) as unknown as WorkflowRunDetail;
  for (let i = 0; i < 300; i++) {
    const waitsForHuman = Object.values(run.steps).some(
      (s) => s.status === 'waiting' && (s.approval || s.unknownOutcome),
    );
    if (!['running', 'compensating'].includes(run.status) || waitsForHuman) break;
    await new Promise((r) => setTimeout(r, 200));
    run = (await client.getRun(id)) as unknown as WorkflowRunDetail;
  }
  return run;
}

/**
 * `aos workflows …` and `aos runs …`: validate definitions; start, follow, cancel and decide runs. With `--url` and
 * `--token` (global; env AOS_URL, AOS_TOKEN) the commands other than `validate` talk to a running server through the
 * SDK and print the same output as in local mode.
 */
export function registerWorkflows(program: Command): void {
  const workflows = program.command('workflows').description('validate and list workflow definitions');

  workflows
    .command('validate')
    .description(
      'validate a workflow file or a directory of them; errors name the file and the path of the fault',
    )
    .argument('<path>', 'a .yaml file or a directory')
    .option('--config <file>', 'aos.yaml: also check rule handler names against its `rules` module')
    .action(async (target: string, o: { config?: string }, cmd: Command) => {
      const defs = loadWorkflows(target, await organisation(cmd, o.config));
      for (const d of defs)
        process.stdout.write(
          `ok ${d.name} v${d.version} (owner ${d.owner}, ${plural(Object.keys(d.steps).length, 'step')})\n`,
        );
    });

  withRemoteOptions(workflows.command('list'))
    .description("the workflows of a configuration's `workflows:` directory")
    .option('--config <file>', 'local mode: aos.yaml')
    .option('--json', 'print JSON')
    .action(async (o: { config?: string; json?: boolean }, cmd: Command) => {
      const client = remote(cmd);
      const defs = client
        ? await client.listWorkflows()
        : await withEngine(cmd, requireConfig(o.config), async (e) => e.workflows.definitions());
      if (o.json) printJson(defs);
      else
        printTable(
          defs.map((d) => ({ ...d, steps: Object.keys(d.steps).join(' ') })),
          ['name', 'version', 'owner', 'steps'],
        );
    });

  const runs = program
    .command('runs')
    .description('start, list, show, signal, retry, pause, resume and cancel workflow runs');

  withActingHuman(
    withRemoteOptions(runs.command('start'))
      .description('start a run; with --wait, advance it here until it finishes or waits for a human')
      .argument('<workflow>', 'workflow name')
      .option('--config <file>', 'local mode: aos.yaml (workflows, rules, connectors)'),
    "the human you act as (the workflow's owner or an admin)",
  )
    .option('--input <json>', 'the run input', '{}')
    .option(
      '--wait',
      'until the run is over or waits for a human: advance it in this process (local) or follow it (--url)',
    )
    .action(
      async (
        name: string,
        o: { config?: string; input: string; wait?: boolean; as?: string },
        cmd: Command,
      ) => {
        const input = parseJsonOption(o.input, 'input');
        const client = remote(cmd);
        if (client) {
          const r = await client.startRun(name, input);
          printJson(o.wait ? await waitRemote(client, r.id) : r);
          return;
        }
        const run = await withEngine(cmd, requireConfig(o.config), async (e) => {
          const r = await e.workflows.start(name, input, await actingHuman(e.store, o.as));
          if (!o.wait) return r;
          // Advancing here executes actions: register (and pin) the configured tools first, as `aos serve` does.
          await e.tools.sync();
          await e.workflows.drain();
          return e.workflows.get(r.id);
        });
        printJson(run);
      },
    );

  withRemoteOptions(runs.command('list'))
    .description('recent runs, newest first')
    .option('--status <status>', 'running, compensating, completed, failed or cancelled')
    .option('--workflow <name>', 'only this workflow')
    .option('--json', 'print JSON')
    .action(async (o: { status?: RunStatus; workflow?: string; json?: boolean }, cmd: Command) => {
      const filter = {
        ...(o.status ? { status: o.status } : {}),
        ...(o.workflow ? { workflow: o.workflow } : {}),
      };
      const client = remote(cmd);
      const list = client
        ? ((await client.listRuns(filter)) as unknown as WorkflowRun[])
        : await withEngine(cmd, undefined, (e) => e.workflows.list(filter));
      if (o.json) printJson(list);
      else
        printTable(list as unknown as Record<string, unknown>[], [
          'id',
          'workflow',
          'version',
          'status',
          'owner',
          'createdAt',
        ]);
    });

  withRemoteOptions(runs.command('show'))
    .description('a run with its steps and event history')
    .argument('<id>', 'run id (run_…)')
    .action(async (id: string, _o: unknown, cmd: Command) => {
      const client = remote(cmd);
      printJson(
        client ? await client.getRun(id) : await withEngine(cmd, undefined, (e) => e.workflows.get(id)),
      );
    });

  const MANAGER = "the human you act as (the run's owner or an admin)";

  withActingHuman(
    withRemoteOptions(runs.command('cancel'))
      .description(
        "cancel a run; completed steps' compensations run in reverse order when the run is next advanced",
      )
      .argument('<id>', 'run id (run_…)')
      .option('--reason <text>', 'why'),
    MANAGER,
  ).action(async (id: string, o: LocalWrite & { reason?: string }, cmd: Command) => {
    const client = remote(cmd);
    printJson(
      client
        ? await client.cancelRun(id, o.reason)
        : await withEngine(cmd, o.config, async (e) =>
            e.workflows.cancel(id, await actingHuman(e.store, o.as), o.reason),
          ),
    );
  });

  withActingHuman(
    withRemoteOptions(runs.command('pause'))
      .description('pause a running run: it starts no new step and submits nothing until resumed')
      .argument('<id>', 'run id (run_…)')
      .option('--reason <text>', 'why'),
    MANAGER,
  ).action(async (id: string, o: LocalWrite & { reason?: string }, cmd: Command) => {
    const client = remote(cmd);
    printJson(
      client
        ? await client.pauseRun(id, o.reason)
        : await withEngine(cmd, o.config, async (e) =>
            e.workflows.pause(id, await actingHuman(e.store, o.as), o.reason),
          ),
    );
  });

  withActingHuman(
    withRemoteOptions(runs.command('resume'))
      .description('resume a paused run from where it was')
      .argument('<id>', 'run id (run_…)'),
    MANAGER,
  ).action(async (id: string, o: LocalWrite, cmd: Command) => {
    const client = remote(cmd);
    printJson(
      client
        ? await client.resumeRun(id)
        : await withEngine(cmd, o.config, async (e) =>
            e.workflows.resume(id, await actingHuman(e.store, o.as)),
          ),
    );
  });

  withActingHuman(
    runs
      .command('signal')
      .description(
        'send a signal to a running run; a wait step with `event: <name>` takes it (DATA, JSON, is its output)',
      )
      .argument('<id>', 'run id (run_…)')
      .argument('<name>', 'signal name')
      // A positional, not `--data`: that is the global data directory option.
      .argument('[data]', 'the signal data as JSON (default null)'),
    MANAGER,
  ).action(async (id: string, name: string, raw: string | undefined, o: LocalWrite, cmd: Command) => {
    const data = raw === undefined ? null : parseJsonOption(raw, 'data');
    printJson(
      await withEngine(cmd, o.config, async (e) =>
        e.workflows.signal({ runId: id, name, data, by: await actingHuman(e.store, o.as) }),
      ),
    );
  });

  withActingHuman(
    runs
      .command('retry')
      .description('start a failed run again from where it failed (failed and compensated steps run again)')
      .argument('<id>', 'run id (run_…)'),
    MANAGER,
  ).action(async (id: string, o: LocalWrite, cmd: Command) => {
    printJson(
      await withEngine(cmd, o.config, async (e) => e.workflows.retry(id, await actingHuman(e.store, o.as))),
    );
  });

  withActingHuman(
    withRemoteOptions(runs.command('resolve'))
      .description(
        "decide what became of a step's action whose outcome is unknown after a crash (the workflow's owner or admins)",
      )
      .argument('<id>', 'run id (run_…)')
      .argument('<step>', 'the step waiting for the decision')
      .requiredOption(
        '--outcome <outcome>',
        'succeeded | failed | retry (retry: you vouch the effect did not happen)',
      )
      .option('--output <json>', 'with succeeded: the step output (default null)'),
    MANAGER,
  )
    .option('--comment <text>', 'why')
    .action(
      async (
        id: string,
        step: string,
        o: LocalWrite & { outcome: string; output?: string; comment?: string },
        cmd: Command,
      ) => {
        if (!(OUTCOME_DECISIONS as readonly string[]).includes(o.outcome))
          throw new UserError(`must be one of ${OUTCOME_DECISIONS.join(', ')}`, { field: 'outcome' });
        const decision = {
          outcome: o.outcome as OutcomeDecision,
          ...(o.output !== undefined ? { output: parseJsonOption(o.output, 'output') } : {}),
          ...(o.comment ? { comment: o.comment } : {}),
        };
        const client = remote(cmd);
        if (client) {
          printJson(await client.resolveRunStep(id, step, decision));
          return;
        }
        printJson(
          await withEngine(cmd, o.config, async (e) =>
            e.workflows.resolveOutcome({
              runId: id,
              stepId: step,
              human: await actingHuman(e.store, o.as),
              ...decision,
            }),
          ),
        );
      },
    );

  for (const vote of ['approve', 'deny'] as const) {
    withActingHuman(
      withRemoteOptions(runs.command(vote))
        .description(`${vote} a run's approval step`)
        .argument('<id>', 'run id (run_…)')
        .argument('<step>', 'the approval step id'),
      'the human you act as (in the step’s group)',
    )
      .option('--comment <text>', 'why')
      .action(async (id: string, step: string, o: LocalWrite & { comment?: string }, cmd: Command) => {
        const client = remote(cmd);
        if (client) {
          printJson(
            vote === 'approve'
              ? await client.approveRunStep(id, step, o.comment)
              : await client.denyRunStep(id, step, o.comment),
          );
          return;
        }
        const run = await withEngine(cmd, o.config, async (e) =>
          e.workflows.decide({
            runId: id,
            stepId: step,
            human: await actingHuman(e.store, o.as),
            vote,
            ...(o.comment ? { comment: o.comment } : {}),
          }),
        );
        printJson(run);
      });
  }
}

function plural(n: number, word: string): string {
  return `${n} ${word}${n === 1 ? '' : 's'}`;
}

/**
 * What `workflows validate` checks definitions against besides their own shape: the roles of the organisation's
 * agents (not revoked) when a store exists — a SQLite data directory already initialised, or a database URL — and the
 * rule handlers of the config's `rules` module. Without a store roles are not checked, and stderr says so.
 */
async function organisation(cmd: Command, configFile: string | undefined): Promise<WorkflowContext> {
  const context: WorkflowContext = {};
  if (configFile) {
    const config = loadConfigFile(configFile);
    if (config.rules) context.rules = new Set(Object.keys(await loadRuleModule(config.rules)));
  }
  const g = globals(cmd);
  if (g.databaseUrl || fs.existsSync(path.join(path.resolve(g.data), SQLITE_FILE))) {
    const agents = await withStore(cmd, (store) => store.agents.list());
    context.roles = new Set(agents.filter((a) => a.status !== 'revoked').map((a) => a.role));
  } else {
    process.stderr.write(`roles not checked: no store at ${path.resolve(g.data)} (aos init, or --data)\n`);
  }
  return context;
}
