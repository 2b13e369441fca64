import fs from 'node:fs';
import type { Command } from 'commander';
import {
  UserError,
  assertPoliciesTypeCheck,
  defaultDecisionOptions,
  defaultEnvironment,
  configPolicyTools,
  loadConfigFile,
  loadPolicyDirectory,
  loadPolicyTestFile,
  loadToolCatalog,
  parseSessionsJsonl,
  parseSince,
  replayDecisions,
  runPolicyTests,
  simulateSession,
  validatePolicyDirectory,
} from '@autonomy-os/core';
import type { DecisionOptions, PolicyProblem, ReplayReport } from '@autonomy-os/core';
import { printJson, withStore } from '../context.js';

function readSessions(file: string): string {
  try {
    return fs.readFileSync(file === '-' ? 0 : file, 'utf8');
  } catch (err) {
    throw new UserError(`cannot read ${file} (${(err as NodeJS.ErrnoException).code ?? 'error'})`, {
      field: 'sessions',
    });
  }
}

function decisionOptions(productionEnvironments: string | undefined): DecisionOptions {
  if (productionEnvironments === undefined) return defaultDecisionOptions();
  const list = productionEnvironments
    .split(',')
    .map((e) => e.trim())
    .filter(Boolean);
  return defaultDecisionOptions({ productionEnvironments: list });
}

const PRODUCTION_HELP = 'comma-separated environments that count as production (default: production,prod)';

function formatProblem(kind: string, p: PolicyProblem): string {
  return `${kind}: ${p.file}: ${p.policy ? `policy ${p.policy}: ` : ''}${p.message}\n`;
}

function printReplay(r: ReplayReport, json: boolean): void {
  const transitions = Object.entries(r.transitions).sort(([a], [b]) => a.localeCompare(b));
  if (json) {
    for (const c of r.changed) printJson(c);
    printJson({
      summary: {
        policyHash: r.policyHash,
        replayed: r.replayed,
        changed: r.changed.length,
        unchanged: r.unchanged,
        skipped: r.skipped.length,
        transitions: r.transitions,
        skippedActions: r.skipped,
      },
    });
    return;
  }
  const out = (line: string) => process.stdout.write(`${line}\n`);
  for (const c of r.changed) {
    out(`${c.actionId} ${c.tool} ${c.agent}: ${c.before} -> ${c.after} (${c.policies.join(', ')})`);
  }
  for (const s of r.skipped) out(`${s.actionId} ${s.tool} ${s.agent}: skipped (${s.reason})`);
  const by = transitions.length ? ` (${transitions.map(([k, n]) => `${k} ${n}`).join(', ')})` : '';
  out(
    `${r.replayed} decisions replayed under policy ${r.policyHash.slice(0, 12)}: ${r.changed.length} changed${by}, ` +
      `${r.unchanged} unchanged, ${r.skipped.length} skipped (not policy decisions)`,
  );
}

/** `aos policy …`: check sessions against a policy set, run policy tests, replay history, validate a set. */
export function registerPolicy(program: Command): void {
  const policy = program
    .command('policy')
    .description('check, test, replay and validate Cedar policy sets offline');

  policy
    .command('check')
    .description('replay sessions of tool calls (JSONL) against a policy set; prints one JSON line per call')
    .requiredOption('--policies <dir>', 'policy directory (*.cedar, approvals/*.cedar)')
    .requiredOption(
      '--tools <file>',
      'tools, JSON or YAML: MCP tools/list entries (inputSchema, annotations…) and/or name, effect, untrustedOutput, risk',
    )
    .requiredOption('--sessions <file>', 'sessions, one JSON object a line ("-" reads stdin)')
    .option('--environment <env>', 'environment of calls and sessions that name none', defaultEnvironment())
    .option('--production-environments <list>', PRODUCTION_HELP)
    .action(
      (o: {
        policies: string;
        tools: string;
        sessions: string;
        environment: string;
        productionEnvironments?: string;
      }) => {
        const bundle = loadPolicyDirectory(o.policies);
        const tools = loadToolCatalog(o.tools);
        assertPoliciesTypeCheck(bundle, [...tools.values()]);
        const sessions = parseSessionsJsonl(readSessions(o.sessions), o.sessions, tools);
        const sim = {
          bundle,
          tools,
          options: decisionOptions(o.productionEnvironments),
          defaultEnvironment: o.environment,
        };
        // Decide everything before printing, so an error never leaves half the output behind.
        const lines = sessions.flatMap((s) =>
          simulateSession(s, sim).map(({ session, index, tool, outcome, policies }) =>
            JSON.stringify({ session, index, tool, outcome, policies }),
          ),
        );
        process.stdout.write(lines.map((l) => `${l}\n`).join(''));
      },
    );

  policy
    .command('test')
    .description('run a policy test file (YAML cases with expected outcomes); exits 1 if any case fails')
    .argument('<file>', 'policy test file')
    .action((file: string) => {
      const results = runPolicyTests(loadPolicyTestFile(file));
      for (const r of results) {
        const got = `${r.outcome} (${r.policies.join(', ') || 'no policies'})`;
        const why = r.pass
          ? got
          : r.outcome !== r.expect
            ? `expected ${r.expect}, got ${got}`
            : `got ${got}, missing ${r.missingPolicies.join(', ')}`;
        process.stdout.write(`${r.pass ? 'PASS' : 'FAIL'}  ${r.name}: ${why}\n`);
      }
      const failed = results.filter((r) => !r.pass).length;
      process.stdout.write(`${results.length - failed} passed, ${failed} failed\n`);
      if (failed > 0) process.exitCode = 1;
    });

  policy
    .command('replay')
    .description(
      're-decide recorded actions under a proposed policy set and print what would change (nothing is written)',
    )
    .requiredOption(
      '--since <date>',
      'only actions decided since this date (2025-01-31, ISO time, or 24h, 7d)',
    )
    .requiredOption('--policies <dir>', 'the proposed policy directory')
    .option('--production-environments <list>', PRODUCTION_HELP)
    .option('--json', 'one JSON line per changed action, then a summary line')
    .action(
      async (
        o: { since: string; policies: string; productionEnvironments?: string; json?: boolean },
        cmd: Command,
      ) => {
        const since = parseSince(o.since);
        const bundle = loadPolicyDirectory(o.policies);
        const options = decisionOptions(o.productionEnvironments);
        const report = await withStore(cmd, (s) =>
          replayDecisions({ audit: s.audit, bundle, options, since }),
        );
        printReplay(report, !!o.json);
      },
    );

  policy
    .command('validate')
    .description('load a policy set, report every problem by file and policy, print its hash and counts')
    .requiredOption('--policies <dir>', 'policy directory (*.cedar, approvals/*.cedar)')
    .option('--tools <file>', "type-check against these tools' inputSchemas (a tools file, as for check)")
    .option(
      '--config <file>',
      'type-check against the tools aos.yaml defines (HTTP operations, tool settings)',
    )
    .option('--json', 'print the report as JSON')
    .action((o: { policies: string; tools?: string; config?: string; json?: boolean }) => {
      const fromConfig = o.config ? configPolicyTools(loadConfigFile(o.config)) : undefined;
      const tools = o.tools ? [...loadToolCatalog(o.tools).values()] : fromConfig?.tools;
      const r = validatePolicyDirectory(o.policies, { tools });
      if (!o.tools && fromConfig && fromConfig.unlisted.length > 0) {
        r.warnings.push({
          file: o.config as string,
          message: `the tools of ${fromConfig.unlisted.join(', ')} are listed when aos serve connects, and checked then`,
        });
      }
      if (o.json) printJson(r);
      else {
        const out = (line: string) => process.stdout.write(`${line}\n`);
        const files = (n: number) => `${n} file${n === 1 ? '' : 's'}`;
        out(`policies: ${r.dir}`);
        out(
          `permit/forbid: ${r.permits.permit + r.permits.forbid} (${r.permits.permit} permit, ${r.permits.forbid} forbid) in ${files(r.permits.files)}`,
        );
        out(
          `approval rules: ${r.approvals.permit + r.approvals.forbid} (${r.approvals.permit} permit, ${r.approvals.forbid} forbid exemptions) in ${files(r.approvals.files)}`,
        );
        out(
          r.typeCheckedTools === undefined
            ? 'types: not checked (give --tools or --config to check policies against the tools)'
            : `types: checked against ${r.typeCheckedTools} tool${r.typeCheckedTools === 1 ? '' : 's'}`,
        );
        for (const p of r.errors) process.stdout.write(formatProblem('error', p));
        for (const p of r.warnings) process.stdout.write(formatProblem('warning', p));
        out(r.ok ? `hash: ${r.hash ?? ''}` : `invalid: ${r.errors.length} error(s)`);
      }
      if (!r.ok) process.exitCode = 1;
    });
}
