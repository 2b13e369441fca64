import type { Command } from 'commander';
import { UserError } from '@autonomy-os/core';
import type { Approval } from '@autonomy-os/core';
import { actingHuman, printJson, printTable, remote, withEngine, withRemoteOptions } from '../context.js';

interface VoteOptions {
  as?: string;
  config?: string;
  comment?: string;
  binding?: string;
  json?: boolean;
}

function parseInputOption(text: string | undefined): Record<string, unknown> | undefined {
  if (text === undefined) return undefined;
  try {
    const v = JSON.parse(text) as unknown;
    if (v && typeof v === 'object' && !Array.isArray(v)) return v as Record<string, unknown>;
  } catch {
    /* fall through */
  }
  throw new UserError('must be a JSON object', { field: 'input' });
}

/** `aos approvals …`: the inbox and decisions. */
export function registerApprovals(program: Command): void {
  const approvals = program
    .command('approvals')
    .description('list, show, approve and deny approval requests');

  withRemoteOptions(approvals.command('list'))
    .description('approval requests (default: pending)')
    .option('--status <s>', 'pending, approved, denied, expired or all', 'pending')
    .option('--json', 'print JSON')
    .action(async (o: { status: string; json?: boolean }, cmd: Command) => {
      const status = o.status === 'all' ? undefined : (o.status as Approval['status']);
      const client = remote(cmd);
      const list = client
        ? ((await client.listApprovals(status)).approvals as unknown as Approval[])
        : await withEngine(cmd, undefined, (e) => e.approvals.list(status ? { status } : {}));
      if (o.json) printJson(list);
      else
        printTable(
          list.map((a) => ({
            ...a,
            // A workflow approval step has no agent: the inbox names its run and step instead.
            agent: a.evidence.agent?.id ?? `run:${a.runId ?? ''}/${a.stepId ?? ''}`,
            tool: a.evidence.tool,
            input: JSON.stringify(a.evidence.input),
          })),
          ['id', 'status', 'group', 'quorum', 'agent', 'tool', 'input', 'expiresAt'],
        );
    });

  withRemoteOptions(approvals.command('show'))
    .description('one request with its evidence pack')
    .argument('<id>', 'approval id (apr_…)')
    .action(async (id: string, _o: unknown, cmd: Command) => {
      const client = remote(cmd);
      printJson(
        client
          ? await client.getApproval(id)
          : await withEngine(cmd, undefined, (e) => e.approvals.require(id)),
      );
    });

  for (const vote of ['approve', 'deny'] as const) {
    withRemoteOptions(approvals.command(vote))
      .description(`${vote} a request; on the last approval needed, the action runs (once)`)
      .argument('<id>', 'approval id (apr_…)')
      .option('--as <human>', 'local mode: the human you are (must be in the deciding group)')
      .option('--config <file>', 'local mode: aos.yaml, for the connectors that execute the approved action')
      .option('--comment <text>', 'why')
      .option(
        '--binding <hash>',
        'the binding hash you reviewed; refused if the request is bound to anything else',
      )
      .option('--input <json>', 'the arguments you reviewed; refused if they differ')
      .option('--json', 'print JSON')
      .action(async (id: string, o: VoteOptions & { input?: string }, cmd: Command) => {
        const input = parseInputOption(o.input);
        const body = {
          ...(o.comment ? { comment: o.comment } : {}),
          ...(o.binding ? { bindingHash: o.binding } : {}),
          ...(input ? { input } : {}),
        };
        const client = remote(cmd);
        const res = client
          ? vote === 'approve'
            ? await client.approve(id, body)
            : await client.deny(id, body)
          : await withEngine(cmd, o.config, async (e) =>
              e.actions.vote({ approvalId: id, human: await actingHuman(e.store, o.as), vote, ...body }),
            );
        if (o.json) printJson(res);
        else {
          const a = res.approval as { id: string; status: string };
          const act = res.action as { id: string; status: string } | null;
          process.stdout.write(
            act
              ? `approval ${a.id} is ${a.status}; action ${act.id} is ${act.status}\n`
              : `approval ${a.id} is ${a.status}; its workflow run moves on\n`,
          );
        }
      });
  }
}
