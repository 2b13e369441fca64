import fs from 'node:fs';
import type { Command } from 'commander';
import { stringify as toYaml } from 'yaml';
import {
  UserError,
  captureSuite,
  evalCoverage,
  formatJunit,
  formatSummary,
  loadSuiteFile,
  parseDurationSec,
  runSuite,
} from '@autonomy-os/core';
import type { AosConfig, CaseResult, EvalSuite } from '@autonomy-os/core';
import { cliActor, printJson, printTable, withEngine } from '../context.js';
import { applyOrganisation, loadOrganisation } from '../demo/organisation.js';
import { demoEvalRules } from '../demo/support-evals.js';

/** A suite by file, or by its name in the config's `evals.suites`. */
function resolveSuite(ref: string, config: AosConfig): EvalSuite {
  if (fs.existsSync(ref)) return loadSuiteFile(ref);
  const file = config.evals.suites[ref];
  if (!file)
    throw new UserError(`is neither a file nor a suite named in evals.suites: ${ref}`, { field: 'suite' });
  return loadSuiteFile(file);
}

/** Progress on stderr: a bar on a terminal, one plain line per case otherwise (pipes, CI=true). */
function progress(): (r: CaseResult, done: number, total: number) => void {
  const tty = process.stderr.isTTY === true && !process.env.CI;
  return (r, done, total) => {
    if (!tty) {
      process.stderr.write(`${r.pass ? 'pass' : 'FAIL'} ${r.id} (${r.category}) [${done}/${total}]\n`);
      return;
    }
    const width = 30;
    const filled = Math.round((done / total) * width);
    process.stderr.write(
      `\r[${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${done}/${total} ${r.id.slice(0, 40).padEnd(40)}`,
    );
    if (done === total) process.stderr.write('\n');
  };
}

const sinceIso = (since: string) =>
  new Date(Date.now() - parseDurationSec(since, 'since') * 1000).toISOString();

/** `aos eval …`: run suites, capture regression cases from recorded actions, report coverage. */
export function registerEval(program: Command): void {
  const evalCmd = program.command('eval').description('evaluation suites: run, capture, coverage');

  evalCmd
    .command('run')
    .description('run a suite; prints Suite/Cases/Pass/Fail/Result and exits 1 on FAIL (never prompts)')
    .argument('<suite>', 'suite file, or a suite name from the config (evals.suites)')
    .option('--config <file>', 'aos.yaml: policies, tool settings and eval upstreams the sandbox uses')
    .option(
      '--organisation <file>',
      'create the people and agents of this organisation file first (the demo)',
    )
    .option('--agent <id>', 'the agent under test (default the suite’s)')
    .option(
      '--rule <name>',
      `drive the agent with this built-in rule agent (${Object.keys(demoEvalRules).join(', ')})`,
    )
    .option('--threshold <pct>', 'pass threshold in percent (default the suite’s)')
    .option('--tier <n>', 'evaluate the agent at this tier (default its own)')
    .option('--junit <file>', 'write JUnit XML here')
    .option('--json <file>', 'write the full report as JSON here')
    .action(
      async (
        ref: string,
        o: {
          config?: string;
          organisation?: string;
          agent?: string;
          rule?: string;
          threshold?: string;
          tier?: string;
          junit?: string;
          json?: string;
        },
        cmd: Command,
      ) => {
        const num = (v: string | undefined, field: string) => {
          if (v === undefined) return undefined;
          const n = Number(v);
          if (!Number.isFinite(n)) throw new UserError('must be a number', { field });
          return n;
        };
        const threshold = num(o.threshold, 'threshold');
        const tier = num(o.tier, 'tier');
        const report = await withEngine(cmd, o.config, async (engine) => {
          const suite = resolveSuite(ref, engine.config);
          if (o.organisation)
            await applyOrganisation(engine.store, loadOrganisation(o.organisation), cliActor());
          return runSuite({
            engine,
            suite,
            rules: demoEvalRules,
            actor: cliActor(),
            trigger: process.env.CI ? 'ci' : 'manual',
            onCase: progress(),
            ...(o.agent ? { agentId: o.agent } : {}),
            ...(o.rule ? { rule: o.rule } : {}),
            ...(threshold !== undefined ? { threshold } : {}),
            ...(tier !== undefined ? { tier } : {}),
          });
        });
        if (o.junit) fs.writeFileSync(o.junit, formatJunit(report));
        if (o.json) fs.writeFileSync(o.json, `${JSON.stringify(report, null, 2)}\n`);
        process.stdout.write(`${formatSummary(report)}\n`);
        if (report.result !== 'pass') process.exitCode = 1;
      },
    );

  evalCmd
    .command('capture')
    .description(
      "turn an agent's recorded (redacted) actions into a regression suite (YAML on stdout or --out)",
    )
    .requiredOption('--agent <id>', 'whose actions')
    .option('--since <duration>', 'how far back (30m, 12h, 7d)', '7d')
    .option('--name <suite>', 'suite name (default <agent>_regression)')
    .option('--out <file>', 'write the suite here')
    .option('--config <file>', 'aos.yaml (connectors whose pinned tool definitions the suite mirrors)')
    .action(
      async (
        o: { agent: string; since: string; name?: string; out?: string; config?: string },
        cmd: Command,
      ) => {
        const since = sinceIso(o.since);
        const suite = await withEngine(cmd, o.config, async (engine) => {
          await engine.store.agents.require(o.agent, 'agent');
          return captureSuite(engine, { agentId: o.agent, since, ...(o.name ? { name: o.name } : {}) });
        });
        const text = `# Captured by aos eval capture --agent ${o.agent} --since ${o.since}: review before committing.\n${toYaml(suite)}`;
        if (o.out) {
          fs.writeFileSync(o.out, text);
          process.stderr.write(`${(suite.cases as unknown[]).length} case(s) written to ${o.out}\n`);
        } else process.stdout.write(text);
      },
    );

  evalCmd
    .command('coverage')
    .description(
      "share of each agent's and workflow's actions whose tool and policy outcome a passing case covers",
    )
    .option('--since <duration>', 'how far back (30m, 12h, 7d)', '7d')
    .option('--agent <id>', 'only this agent')
    .option('--json', 'print JSON')
    .action(async (o: { since: string; agent?: string; json?: boolean }, cmd: Command) => {
      const since = sinceIso(o.since);
      const report = await withEngine(cmd, undefined, (engine) =>
        evalCoverage(engine.store, { since, ...(o.agent ? { agentId: o.agent } : {}) }),
      );
      if (o.json) return printJson(report);
      const pct = (v: number | null) => (v === null ? '-' : `${v.toFixed(1)}%`);
      printTable(
        [
          ...report.agents.map((a) => ({
            kind: 'agent',
            id: a.agentId,
            actions: a.actions,
            covered: a.covered,
            coverage: pct(a.coverage),
            suites: a.suites.join(','),
          })),
          ...report.workflows.map((w) => ({
            kind: 'workflow',
            id: w.workflow,
            actions: w.actions,
            covered: w.covered,
            coverage: pct(w.coverage),
            suites: '',
          })),
        ],
        ['kind', 'id', 'actions', 'covered', 'coverage', 'suites'],
      );
    });
}
