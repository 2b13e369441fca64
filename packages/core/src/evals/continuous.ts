import type { Engine } from '../engine.js';
import { parseDurationSec } from '../config/duration.js';
import { UserError } from '../errors.js';
import type { Agent } from '../identity/agents.js';
import { EvalRunStore } from './eval-run-store.js';
import type { EvalRun } from './eval-run-store.js';
import { runSuite } from './runner.js';
import type { EvalRuleAgent } from './sandbox.js';
import { loadSuiteFile } from './suite.js';

/** What a failing scheduled run did to the agent. */
export interface RegressionAction {
  agentId: string;
  action: 'demoted' | 'paused' | 'none';
  fromTier: number;
  toTier: number;
  runId: string;
}

/**
 * Acts on a run below threshold as `evals.schedule.onRegression` says: demote one tier (a tier-0 agent is paused
 * instead) or pause. Audited as `eval.regression` with the run's evidence, and announced as an `agent.demoted` /
 * `agent.paused` event for the owner. Since every node reads the agent's tier and status inside each action's
 * decision transaction, the change holds on every node from the next action.
 */
export async function applyRegression(
  engine: Pick<Engine, 'store' | 'events'>,
  run: EvalRun,
  onRegression: 'demote' | 'pause',
): Promise<RegressionAction> {
  const agent: Agent = await engine.store.agents.require(run.agentId, 'agent');
  const base = { agentId: agent.id, fromTier: agent.tier, toTier: agent.tier, runId: run.id };
  if (run.result === 'pass' || agent.status !== 'active') return { ...base, action: 'none' };
  const reason = `suite ${run.suite} scored ${run.passRate.toFixed(1)}% below ${run.threshold.toFixed(1)}% in run ${run.id}`;
  const actor = 'system:evals';
  let result: RegressionAction;
  if (onRegression === 'demote' && agent.tier > 0) {
    await engine.store.agents.setTier(agent.id, agent.tier - 1, actor, reason);
    result = { ...base, action: 'demoted', toTier: agent.tier - 1 };
  } else {
    await engine.store.agents.setStatus(agent.id, 'pause', actor, reason);
    result = { ...base, action: 'paused' };
  }
  await engine.store.audit.record({
    actor,
    type: 'eval.regression',
    subject: `agent:${agent.id}`,
    payload: {
      ...result,
      owner: agent.owner,
      suite: run.suite,
      suiteHash: run.suiteHash,
      passRate: run.passRate,
      threshold: run.threshold,
      failedByCategory: run.failedByCategory,
      failedCases: run.caseSummaries.filter((c) => !c.pass).map((c) => c.id),
    },
  });
  engine.events.publish(
    `agent.${result.action}`,
    { ...result, owner: agent.owner, suite: run.suite, reason },
    `agent:${agent.id}`,
  );
  return result;
}

/** Options for {@link ContinuousEvaluation}. */
export interface ContinuousEvaluationOptions {
  engine: Engine;
  /** Built-in rule agents the scheduled suites may name. */
  rules?: Readonly<Record<string, EvalRuleAgent>>;
}

/**
 * Continuous evaluation: reruns the suites of `evals.schedule` when the last scheduled run of each (suite, agent)
 * is older than `every`, and applies {@link applyRegression} to every run below threshold.
 */
export class ContinuousEvaluation {
  #running = false;
  #timer: NodeJS.Timeout | undefined;

  constructor(private readonly o: ContinuousEvaluationOptions) {}

  /** Runs what is due now, one suite after another; answers what each run did. Skips if a round is under way. */
  async tick(now = new Date()): Promise<{ run: EvalRun; regression: RegressionAction }[]> {
    const schedule = this.o.engine.config.evals.schedule;
    if (!schedule || this.#running) return [];
    this.#running = true;
    try {
      const out: { run: EvalRun; regression: RegressionAction }[] = [];
      const everyMs = parseDurationSec(schedule.every, 'evals.schedule.every') * 1000;
      const runs = new EvalRunStore(this.o.engine.store.db, this.o.engine.store.audit);
      for (const [i, entry] of schedule.runs.entries()) {
        const file = this.o.engine.config.evals.suites[entry.suite];
        if (!file)
          throw new UserError(`names no suite in evals.suites ('${entry.suite}')`, {
            field: `evals.schedule.runs.${i}.suite`,
          });
        const [last] = (await runs.list({ agentId: entry.agent, suite: entry.suite, limit: 20 })).filter(
          (r) => r.trigger === 'schedule',
        );
        if (last && now.getTime() - Date.parse(last.finishedAt) < everyMs) continue;
        const report = await runSuite({
          engine: this.o.engine,
          suite: loadSuiteFile(file),
          agentId: entry.agent,
          trigger: 'schedule',
          actor: 'system:evals',
          ...(this.o.rules ? { rules: this.o.rules } : {}),
        });
        const { results: _results, ...run } = report;
        out.push({ run, regression: await applyRegression(this.o.engine, run, schedule.onRegression) });
      }
      return out;
    } finally {
      this.#running = false;
    }
  }

  /** Checks every `intervalMs` (default a minute) in the background; errors are counted, never thrown. */
  start(intervalMs = 60_000): void {
    if (!this.o.engine.config.evals.schedule || this.#timer) return;
    const round = () =>
      void this.tick().catch((err: unknown) => this.o.engine.backgroundErrors.record('evals.schedule', err));
    this.#timer = setInterval(round, intervalMs);
    this.#timer.unref();
    round();
  }

  stop(): void {
    if (this.#timer) clearInterval(this.#timer);
    this.#timer = undefined;
  }
}
