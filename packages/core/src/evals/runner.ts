import crypto from 'node:crypto';
import type { ModelClient } from '../agents/model-client.js';
import type { LlmAgentConfig } from '../config/llm-agent-config.js';
import type { Engine } from '../engine.js';
import { UserError } from '../errors.js';
import { checkAssertions } from './assertions.js';
import type { AssertionResult } from './assertions.js';
import { EvalRunStore } from './eval-run-store.js';
import type { EvalRun, EvalTrigger } from './eval-run-store.js';
import { evalConnectors, runCaseInSandbox } from './sandbox.js';
import type { EvalCall, EvalRuleAgent, SandboxOptions } from './sandbox.js';
import type { EvalAgentSpec, EvalSuite } from './suite.js';

/** One case's verdict. */
export interface CaseResult {
  id: string;
  category: string;
  pass: boolean;
  assertions: AssertionResult[];
  calls: EvalCall[];
  output: string;
  error?: string;
}

/** Options for {@link runSuite}. */
export interface RunSuiteOptions {
  /** The organisation's engine: its store records the run, its config, policies and secrets shape the sandbox. */
  engine: Pick<Engine, 'store' | 'config' | 'policies' | 'secrets'>;
  suite: EvalSuite;
  /** The agent under test (default the suite's `agent.agent`). */
  agentId?: string;
  /** Pass threshold in percent (default the suite's). */
  threshold?: number;
  /** Tier to evaluate the agent at (default its own). */
  tier?: number;
  /** Built-in rule agents a suite may name. */
  rules?: Readonly<Record<string, EvalRuleAgent>>;
  /** Drive the agent with this rule agent instead of the suite's agent spec. */
  rule?: string;
  trigger?: EvalTrigger;
  /** Who started the run (audited). */
  actor: string;
  /** Called as each case finishes (progress). */
  onCase?: (result: CaseResult, done: number, total: number) => void;
  /** A model client for LLM agents under test (tests use the scripted model). */
  model?: (config: LlmAgentConfig, apiKey: string | undefined) => ModelClient;
}

/** A finished run: the stored record and every case's detail. */
export interface EvalRunReport extends EvalRun {
  results: CaseResult[];
}

/**
 * Runs a suite: every case in its own sandbox through the real pipeline (see {@link runCaseInSandbox}), several at
 * once, then stores the run and audits it in one transaction. A case whose agent throws fails; the run goes on.
 */
export async function runSuite(o: RunSuiteOptions): Promise<EvalRunReport> {
  const { engine, suite } = o;
  const spec: EvalAgentSpec = o.rule
    ? { type: 'rule', rule: o.rule, ...(suite.agent?.agent ? { agent: suite.agent.agent } : {}) }
    : (suite.agent ?? { type: 'transcript' });
  const agentId = o.agentId ?? spec.agent;
  if (!agentId) throw new UserError('is required (the suite names no agent)', { field: 'agent' });
  const agent = await engine.store.agents.require(agentId, 'agent');
  const threshold = o.threshold ?? suite.threshold;
  if (!(threshold >= 0 && threshold <= 100))
    throw new UserError('must be a percentage 0-100', { field: 'threshold' });
  evalConnectors(engine.config, suite);
  const sandbox: SandboxOptions = {
    config: engine.config,
    policies: engine.policies(),
    secrets: engine.secrets,
    agent,
    ...(o.tier !== undefined ? { tier: o.tier } : {}),
    owner: await engine.store.humans.get(agent.owner),
    suite,
    spec,
    rules: o.rules ?? {},
    ...(o.model ? { model: o.model } : {}),
  };
  const startedAt = new Date().toISOString();
  const results: CaseResult[] = new Array<CaseResult>(suite.cases.length);
  let next = 0;
  let done = 0;
  const worker = async () => {
    for (let i = next++; i < suite.cases.length; i = next++) {
      const c = suite.cases[i]!;
      const outcome = await runCaseInSandbox(sandbox, c);
      const assertions = checkAssertions(c.assert, outcome);
      if (outcome.error)
        assertions.unshift({ type: 'agent', pass: false, message: `agent failed: ${outcome.error}` });
      const r: CaseResult = {
        id: c.id,
        category: c.category,
        pass: assertions.every((a) => a.pass),
        assertions,
        calls: outcome.calls,
        output: outcome.output,
        ...(outcome.error ? { error: outcome.error } : {}),
      };
      results[i] = r;
      o.onCase?.(r, ++done, suite.cases.length);
    }
  };
  const concurrency = Math.min(engine.config.evals.concurrency, suite.cases.length);
  await Promise.all(Array.from({ length: concurrency }, worker));
  const passed = results.filter((r) => r.pass).length;
  const failedByCategory = new Map<string, number>();
  for (const r of results)
    if (!r.pass) failedByCategory.set(r.category, (failedByCategory.get(r.category) ?? 0) + 1);
  const passRate = Math.round((passed / results.length) * 1000) / 10;
  const run: EvalRun = {
    id: `evr_${crypto.randomBytes(10).toString('hex')}`,
    suite: suite.name,
    suiteHash: suite.hash,
    agentId: agent.id,
    agentKind: spec.type === 'rule' ? `rule:${spec.rule}` : spec.type,
    trigger: o.trigger ?? 'manual',
    cases: results.length,
    passed,
    failed: results.length - passed,
    passRate,
    threshold,
    result: (passed / results.length) * 100 >= threshold ? 'pass' : 'fail',
    failedByCategory: [...failedByCategory]
      .map(([category, count]) => ({ category, count }))
      .sort((a, b) => b.count - a.count || a.category.localeCompare(b.category)),
    caseSummaries: results.map((r) => ({
      id: r.id,
      category: r.category,
      pass: r.pass,
      calls: r.calls.map((c) => ({ tool: c.tool, outcome: c.outcome })),
      ...(r.pass
        ? {}
        : { failures: r.assertions.filter((a) => !a.pass).map((a) => `${a.type}: ${a.message}`) }),
    })),
    startedAt,
    finishedAt: new Date().toISOString(),
  };
  await new EvalRunStore(engine.store.db, engine.store.audit).record(run, o.actor);
  return { ...run, results };
}

/**
 * The summary every front prints, exactly as the design names it:
 * `Suite / Cases / Pass: n (pct%) / Fail: n / - count category… / Result: PASS|FAIL (threshold t%)`.
 */
export function formatSummary(run: EvalRun): string {
  return [
    `Suite: ${run.suite}`,
    `Cases: ${run.cases}`,
    `Pass: ${run.passed} (${run.passRate.toFixed(1)}%)`,
    `Fail: ${run.failed}`,
    ...run.failedByCategory.map((f) => `- ${f.count} ${f.category}`),
    `Result: ${run.result.toUpperCase()} (threshold ${run.threshold.toFixed(1)}%)`,
  ].join('\n');
}

const xml = (s: string) =>
  s.replace(
    /[&<>"']/g,
    (ch) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&apos;' })[ch] as string,
  );

/** JUnit XML for CI systems: one testsuite per category, one testcase per case, a failure naming what failed. */
export function formatJunit(report: EvalRunReport): string {
  const byCategory = new Map<string, CaseResult[]>();
  for (const r of report.results) byCategory.set(r.category, [...(byCategory.get(r.category) ?? []), r]);
  const suites = [...byCategory].map(([category, list]) => {
    const cases = list.map((r) => {
      const failures = r.assertions.filter((a) => !a.pass);
      const body = failures.length
        ? `<failure message="${xml(failures[0]!.message)}" type="${xml(failures[0]!.type)}">${xml(failures.map((f) => `${f.type}: ${f.message}`).join('\n'))}</failure>`
        : '';
      return `    <testcase name="${xml(r.id)}" classname="${xml(`${report.suite}.${category}`)}">${body}</testcase>`;
    });
    const failed = list.filter((r) => !r.pass).length;
    return `  <testsuite name="${xml(`${report.suite}.${category}`)}" tests="${list.length}" failures="${failed}" errors="0">\n${cases.join('\n')}\n  </testsuite>`;
  });
  return `<?xml version="1.0" encoding="UTF-8"?>\n<testsuites name="${xml(report.suite)}" tests="${report.cases}" failures="${report.failed}">\n${suites.join('\n')}\n</testsuites>\n`;
}
