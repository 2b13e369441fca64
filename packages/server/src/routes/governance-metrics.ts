import { Counter, Gauge, Histogram } from 'prom-client';
import type { Registry } from 'prom-client';
import { readGovernanceGauges } from '@autonomy-os/core';
import type { AosEvent, Engine } from '@autonomy-os/core';

/**
 * Keeps a label's values bounded: the first `max` distinct values are kept, every later one is reported as
 * `other`. Agents and tools are open-ended sets (1,000 agents must not mean 1,000 series per metric).
 */
export class LabelCap {
  private readonly seen = new Set<string>();
  constructor(private readonly max: number) {}

  /** `value`, or `other` once `max` distinct values are taken. */
  of(value: unknown): string {
    const v = typeof value === 'string' && value ? value : 'unknown';
    if (this.seen.has(v)) return v;
    if (this.seen.size >= this.max) return 'other';
    this.seen.add(v);
    return v;
  }
}

const FINAL = new Set(['succeeded', 'failed', 'unknown_outcome', 'denied', 'rejected', 'expired', 'blocked']);
const BREAKER = { closed: 0, half_open: 1, open: 2 } as const;
const SECONDS = [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];
const WAIT_SECONDS = [1, 10, 30, 60, 300, 900, 1800, 3600, 4 * 3600, 24 * 3600];

/**
 * The governance metrics of `/metrics`: actions by outcome, agent, tool and connector; decision, approval-wait,
 * execution and workflow-step latency; pending approvals and their age; budget use; kill switches; runs by
 * status; connector errors and breaker state. Counters count this node's events only (every node serves its own
 * `/metrics`); gauges read the shared store at scrape time. Answers the function that stops counting.
 */
export function registerGovernanceMetrics(registry: Registry, engine: Engine): () => void {
  const max = engine.config.telemetry.metrics.maxLabelValues;
  const agents = new LabelCap(max);
  const tools = new LabelCap(max);
  const workflows = new LabelCap(max);
  const registers = [registry];

  const decisions = new Counter({
    name: 'aos_actions_total',
    help: 'Actions decided, by outcome (allowed, pending_approval, denied), agent, tool and connector',
    labelNames: ['outcome', 'agent', 'tool', 'connector'],
    registers,
  });
  const results = new Counter({
    name: 'aos_action_results_total',
    help: 'Actions that reached a final status, by status, agent, tool and connector',
    labelNames: ['status', 'agent', 'tool', 'connector'],
    registers,
  });
  const decisionSeconds = new Histogram({
    name: 'aos_decision_duration_seconds',
    help: 'Time from request to recorded decision (guards, policy, budget, durable record), by outcome',
    labelNames: ['outcome'],
    buckets: SECONDS,
    registers,
  });
  const executionSeconds = new Histogram({
    name: 'aos_execution_duration_seconds',
    help: 'Time of the upstream call of an action, by connector and status',
    labelNames: ['connector', 'status'],
    buckets: SECONDS,
    registers,
  });
  const approvalWaitSeconds = new Histogram({
    name: 'aos_approval_wait_seconds',
    help: 'Time from approval request to decision, by outcome (approved, denied)',
    labelNames: ['outcome'],
    buckets: WAIT_SECONDS,
    registers,
  });
  const connectorErrors = new Counter({
    name: 'aos_connector_errors_total',
    help: 'Upstream calls that failed, by connector and error code (tool_error: the tool reported isError)',
    labelNames: ['connector', 'code'],
    registers,
  });
  const stepSeconds = new Histogram({
    name: 'aos_workflow_step_duration_seconds',
    help: 'Time of a workflow step attempt from start to completion or failure, by workflow and result',
    labelNames: ['workflow', 'result'],
    buckets: [...SECONDS, 60, 300, 3600],
    registers,
  });

  let gauges: ReturnType<typeof readGovernanceGauges> | undefined;
  // One store read serves every gauge of a scrape.
  const snapshot = () =>
    (gauges ??= readGovernanceGauges(engine.store.db).finally(() => (gauges = undefined)));
  new Gauge({
    name: 'aos_approvals_oldest_pending_age_seconds',
    help: 'Age of the oldest approval request still waiting (0: none waits)',
    registers,
    async collect() {
      this.set((await snapshot()).oldestPendingApprovalSec);
    },
  });
  new Gauge({
    name: 'aos_workflow_runs',
    help: 'Workflow runs by status',
    labelNames: ['status'],
    registers,
    async collect() {
      this.reset();
      for (const [status, n] of Object.entries((await snapshot()).runsByStatus)) this.set({ status }, n);
    },
  });
  new Gauge({
    name: 'aos_killswitch_engaged',
    help: 'Kill switches by scope kind (global, role, agent): how many are engaged',
    labelNames: ['kind'],
    registers,
    async collect() {
      this.reset();
      const n = { global: 0, role: 0, agent: 0 };
      for (const k of await engine.killSwitches.list())
        if (k.active) n[(k.scope.split(':')[0] ?? 'global') as keyof typeof n] += 1;
      for (const [kind, v] of Object.entries(n)) this.set({ kind }, v);
    },
  });
  new Gauge({
    name: 'aos_budget_used',
    help: 'Use of each configured budget in its current period, by scope, period and unit (calls, cost)',
    labelNames: ['scope', 'period', 'unit'],
    registers,
    async collect() {
      this.reset();
      for (const b of await engine.budgets.usage()) {
        const scope = agents.of(b.scope);
        this.set({ scope, period: b.period, unit: 'calls' }, b.used.calls);
        this.set({ scope, period: b.period, unit: 'cost' }, b.used.cost);
      }
    },
  });
  new Gauge({
    name: 'aos_connector_breaker_state',
    help: "This node's circuit breaker of each connector: 0 closed, 1 half open, 2 open",
    labelNames: ['connector'],
    registers,
    collect() {
      this.reset();
      const done = new Set<string>();
      for (const t of engine.tools.list()) {
        if (done.has(t.connector)) continue;
        done.add(t.connector);
        const b = engine.tools.breakerState(t.name);
        if (b) this.set({ connector: b.connector }, BREAKER[b.state]);
      }
    },
  });

  const stepStarts = new Map<string, number>();
  const onEvent = (e: AosEvent) => {
    const d = e.data;
    const at = Date.parse(e.at);
    if (e.type.startsWith('action.')) {
      const status = e.type.slice('action.'.length);
      const labels = {
        agent: agents.of(d.agentId),
        tool: tools.of(d.tool),
        connector: typeof d.connector === 'string' ? d.connector : 'unknown',
      };
      if (typeof d.decisionMs === 'number') {
        decisions.inc({ ...labels, outcome: String(d.outcome) });
        decisionSeconds.observe({ outcome: String(d.outcome) }, d.decisionMs / 1000);
      }
      if (typeof d.executionMs === 'number')
        executionSeconds.observe({ connector: labels.connector, status }, d.executionMs / 1000);
      if (typeof d.errorCode === 'string')
        connectorErrors.inc({ connector: labels.connector, code: d.errorCode });
      if (FINAL.has(status)) results.inc({ ...labels, status });
    } else if (
      (e.type === 'approval.approved' || e.type === 'approval.denied') &&
      typeof d.waitMs === 'number'
    ) {
      approvalWaitSeconds.observe({ outcome: e.type.slice('approval.'.length) }, d.waitMs / 1000);
    } else if (e.type === 'run.step_started') {
      // Bounded: a step whose end this node never sees (another node finished it) is forgotten past 10,000.
      if (stepStarts.size >= 10_000) stepStarts.clear();
      stepStarts.set(`${String(d.runId)}:${String(d.stepId)}`, at);
    } else if (e.type === 'run.step_completed' || e.type === 'run.step_failed') {
      const key = `${String(d.runId)}:${String(d.stepId)}`;
      const start = stepStarts.get(key);
      stepStarts.delete(key);
      if (start !== undefined)
        stepSeconds.observe(
          {
            workflow: workflows.of(d.workflow),
            result: e.type === 'run.step_completed' ? 'completed' : 'failed',
          },
          Math.max(0, at - start) / 1000,
        );
    }
  };
  // Forwarders see this node's own events only (not those fanned in from other nodes), so no node counts twice.
  return engine.events.forward(onEvent);
}
