import type { Executor } from '../../store/db.js';

/** The figures of one workflow, one agent, or everything. */
export interface ReportRow {
  name: string;
  /** Workflow runs started in the period (for an agent: runs it acted in). */
  runs: number;
  /** Cycle time of the runs that ended (start to end), in seconds. */
  cycleTime: { p50Sec: number | null; p90Sec: number | null };
  actions: {
    total: number;
    allowed: number;
    /** Sent to a human approval (whatever the human then decided). */
    approval: number;
    denied: number;
    succeeded: number;
    failed: number;
    unknownOutcome: number;
  };
  /** Share of actions that needed a human (an approval), 0-1; null without actions. */
  escalationRate: number | null;
  /** From request to a human's decision, in seconds, over approvals decided in the period. */
  approvalLatency: { p50Sec: number | null; p90Sec: number | null };
  /** Cost units of the actions inside runs per run, and of all actions per delivered change (a succeeded write). */
  costPerRun: number | null;
  costPerChange: number | null;
  /** Share of cases covered by a passing evaluation suite; `n/a` until evals report it. */
  evalCoverage: number | 'n/a';
  /**
   * Share of settled actions whose receipt is complete: decision and determining policies, policy hash, the approver
   * where one was needed, the outcome, and the reversal (or "none") the receipt can name. Null without settled actions.
   */
  auditability: number | null;
}

/** `aos report` and `GET /v1/reports/summary`. */
export interface LeaderReport {
  since: string;
  until: string;
  totals: ReportRow;
  workflows: ReportRow[];
  agents: ReportRow[];
}

/** What the report needs beyond the store. */
export interface LeaderReportOptions {
  /** Start of the period (ISO time). */
  since: string;
  /** Whether a tool changes something upstream (`effect: write`); undefined when the tool is unknown. */
  isWrite: (tool: string) => boolean | undefined;
  /**
   * The evaluation coverage of an agent or workflow (0-1), when evals measure it; the hook the evals part fills.
   * Default: `n/a` everywhere.
   */
  evalCoverage?: (scope: { kind: 'agent' | 'workflow' | 'total'; name: string }) => number | undefined;
  now?: number;
}

interface ActionRow {
  id: string;
  agent_id: string;
  tool: string;
  session_id: string | null;
  outcome: string;
  status: string;
  decision_json: string;
  policy_hash: string;
  cost: number | string;
  finished_at: string | null;
  approval_status: string | null;
  approval_quorum: number | string | null;
  approve_votes: number | string | null;
  deny_votes: number | string | null;
}

const RAN = new Set(['succeeded', 'failed', 'unknown_outcome', 'executing']);
const SETTLED = new Set([
  'denied',
  'succeeded',
  'failed',
  'rejected',
  'expired',
  'blocked',
  'unknown_outcome',
]);

/** Whether the receipt of a settled action answers every question: see {@link ReportRow.auditability}. */
export function receiptComplete(a: ActionRow, toolKnown: boolean): boolean {
  let decision: { outcome?: unknown; policies?: unknown };
  try {
    decision = JSON.parse(a.decision_json) as typeof decision;
  } catch {
    return false;
  }
  if (typeof decision.outcome !== 'string' || !Array.isArray(decision.policies) || !decision.policies.length)
    return false;
  if (!a.policy_hash) return false;
  if (a.status === 'unknown_outcome') return false;
  if ((a.status === 'succeeded' || a.status === 'failed') && !a.finished_at) return false;
  if (a.outcome === 'pending_approval') {
    const s = a.approval_status;
    if (s === 'approved' && Number(a.approve_votes ?? 0) < Number(a.approval_quorum ?? 1)) return false;
    if (s === 'denied' && Number(a.deny_votes ?? 0) < 1) return false;
    if (s !== 'approved' && s !== 'denied' && s !== 'expired') return false;
  }
  return toolKnown;
}

function quantile(sorted: number[], q: number): number | null {
  if (!sorted.length) return null;
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1));
  return Math.round((sorted[i] as number) * 10) / 10;
}

function pair(values: number[]): { p50Sec: number | null; p90Sec: number | null } {
  const s = [...values].sort((a, b) => a - b);
  return { p50Sec: quantile(s, 0.5), p90Sec: quantile(s, 0.9) };
}

const share = (n: number, d: number) => (d ? Math.round((n / d) * 1000) / 1000 : null);

/** A group's raw material while the report is built. */
class Group {
  runs = new Set<string>();
  cycles: number[] = [];
  latencies: number[] = [];
  actions: ActionRow[] = [];
  complete = 0;
  settled = 0;
  cost = 0;
  /** Cost of the actions taken inside runs. */
  runCost = 0;
  changes = 0;

  row(name: string, coverage: number | undefined): ReportRow {
    const count = (f: (a: ActionRow) => boolean) => this.actions.filter(f).length;
    const approval = count((a) => a.outcome === 'pending_approval');
    return {
      name,
      runs: this.runs.size,
      cycleTime: pair(this.cycles),
      actions: {
        total: this.actions.length,
        allowed: count((a) => a.outcome === 'allowed'),
        approval,
        denied: count((a) => a.outcome === 'denied'),
        succeeded: count((a) => a.status === 'succeeded'),
        failed: count((a) => a.status === 'failed'),
        unknownOutcome: count((a) => a.status === 'unknown_outcome'),
      },
      escalationRate: share(approval, this.actions.length),
      approvalLatency: pair(this.latencies),
      costPerRun: this.runs.size ? Math.round((this.runCost / this.runs.size) * 100) / 100 : null,
      costPerChange: this.changes ? Math.round((this.cost / this.changes) * 100) / 100 : null,
      evalCoverage: coverage ?? 'n/a',
      auditability: share(this.complete, this.settled),
    };
  }
}

function groupOf(map: Map<string, Group>, key: string): Group {
  let g = map.get(key);
  if (!g) map.set(key, (g = new Group()));
  return g;
}

/** The run an action belongs to: the engine's sessions for a run are `wf:<runId>` and `wf:<runId>:…`. */
function runOf(sessionId: string | null): string | undefined {
  const m = sessionId ? /^wf:([^:]+)/.exec(sessionId) : null;
  return m?.[1];
}

/**
 * Leader metrics for a period, per workflow and per agent: runs and cycle time, actions by outcome, escalation rate,
 * approval latency, cost per run and per delivered change, evaluation coverage and auditability. Answers "did we get
 * faster without getting sloppier?" from one table.
 */
export async function leaderReport(db: Executor, o: LeaderReportOptions): Promise<LeaderReport> {
  const until = new Date(o.now ?? Date.now()).toISOString();
  const runs = await db.all<{
    id: string;
    workflow: string;
    status: string;
    created_at: string;
    updated_at: string;
  }>('SELECT id, workflow, status, created_at, updated_at FROM workflow_runs WHERE created_at >= ?', [
    o.since,
  ]);
  const actions = await db.all<ActionRow>(
    `SELECT a.id, a.agent_id, a.tool, a.session_id, a.outcome, a.status, a.decision_json, a.policy_hash, a.cost,
            a.finished_at, p.status AS approval_status, p.quorum AS approval_quorum,
            (SELECT COUNT(*) FROM approval_votes v WHERE v.approval_id = p.id AND v.vote = 'approve') AS approve_votes,
            (SELECT COUNT(*) FROM approval_votes v WHERE v.approval_id = p.id AND v.vote = 'deny') AS deny_votes
     FROM actions a LEFT JOIN approvals p ON p.id = a.approval_id WHERE a.created_at >= ?`,
    [o.since],
  );
  const approvals = await db.all<{ action_id: string; created_at: string; decided_at: string }>(
    "SELECT action_id, created_at, decided_at FROM approvals WHERE created_at >= ? AND status IN ('approved', 'denied') AND decided_at IS NOT NULL",
    [o.since],
  );

  const total = new Group();
  const byWorkflow = new Map<string, Group>();
  const byAgent = new Map<string, Group>();
  const workflowOfRun = new Map<string, string>();
  for (const r of runs) {
    workflowOfRun.set(r.id, r.workflow);
    const groups = [total, groupOf(byWorkflow, r.workflow)];
    const ended = r.status === 'completed' || r.status === 'failed' || r.status === 'cancelled';
    for (const g of groups) {
      g.runs.add(r.id);
      if (ended) g.cycles.push((Date.parse(r.updated_at) - Date.parse(r.created_at)) / 1000);
    }
  }
  const agentOfAction = new Map<string, { agent: string; workflow: string | undefined }>();
  for (const a of actions) {
    const run = runOf(a.session_id);
    const workflow = run ? workflowOfRun.get(run) : undefined;
    agentOfAction.set(a.id, { agent: a.agent_id, workflow });
    const groups = [
      total,
      groupOf(byAgent, a.agent_id),
      ...(workflow ? [groupOf(byWorkflow, workflow)] : []),
    ];
    const write = o.isWrite(a.tool);
    const settled = SETTLED.has(a.status);
    const complete = settled && receiptComplete(a, write !== undefined);
    for (const g of groups) {
      g.actions.push(a);
      // Only what ran spends: a denied or rejected action's cost was never reserved.
      const spent = RAN.has(a.status) ? Number(a.cost) : 0;
      g.cost += spent;
      if (workflow) g.runCost += spent;
      if (write && a.status === 'succeeded') g.changes += 1;
      if (settled) g.settled += 1;
      if (complete) g.complete += 1;
    }
    if (run && workflow) groupOf(byAgent, a.agent_id).runs.add(run);
  }
  for (const p of approvals) {
    const of = agentOfAction.get(p.action_id);
    const sec = (Date.parse(p.decided_at) - Date.parse(p.created_at)) / 1000;
    const groups = [
      total,
      ...(of ? [groupOf(byAgent, of.agent)] : []),
      ...(of?.workflow ? [groupOf(byWorkflow, of.workflow)] : []),
    ];
    for (const g of groups) g.latencies.push(sec);
  }
  const cov = o.evalCoverage ?? (() => undefined);
  const rows = (m: Map<string, Group>, kind: 'agent' | 'workflow') =>
    [...m.entries()]
      .sort(([a], [b]) => a.localeCompare(b))
      .map(([name, g]) => g.row(name, cov({ kind, name })));
  return {
    since: o.since,
    until,
    totals: total.row('all', cov({ kind: 'total', name: 'all' })),
    workflows: rows(byWorkflow, 'workflow'),
    agents: rows(byAgent, 'agent'),
  };
}

/** `7d`, `24h`, `30m` or an ISO date: the start of the period, as an ISO time. */
export function reportSince(value: string, now = Date.now()): string | undefined {
  const m = /^(\d{1,5})([mhd])$/.exec(value.trim());
  if (m) {
    const unit = { m: 60_000, h: 3_600_000, d: 86_400_000 }[m[2] as 'm' | 'h' | 'd'];
    return new Date(now - Number(m[1]) * unit).toISOString();
  }
  const t = Date.parse(value);
  return Number.isNaN(t) ? undefined : new Date(t).toISOString();
}

/** The report as the table `aos report` prints. */
export function formatReport(r: LeaderReport): string {
  const head = [
    'scope',
    'name',
    'runs',
    'cycle p50',
    'cycle p90',
    'actions',
    'allow/appr/deny',
    'escalation',
    'approval p50',
    'cost/run',
    'cost/change',
    'eval cov',
    'auditability',
  ];
  const sec = (v: number | null) =>
    v === null
      ? '-'
      : v < 120
        ? `${v}s`
        : v < 7200
          ? `${Math.round(v / 6) / 10}m`
          : `${Math.round(v / 360) / 10}h`;
  const pct = (v: number | null | 'n/a') =>
    v === null ? '-' : v === 'n/a' ? 'n/a' : `${Math.round(v * 1000) / 10}%`;
  const num = (v: number | null) => (v === null ? '-' : String(v));
  const line = (scope: string, x: ReportRow) => [
    scope,
    x.name,
    String(x.runs),
    sec(x.cycleTime.p50Sec),
    sec(x.cycleTime.p90Sec),
    String(x.actions.total),
    `${x.actions.allowed}/${x.actions.approval}/${x.actions.denied}`,
    pct(x.escalationRate),
    sec(x.approvalLatency.p50Sec),
    num(x.costPerRun),
    num(x.costPerChange),
    pct(x.evalCoverage),
    pct(x.auditability),
  ];
  const rows = [
    head,
    ...r.workflows.map((w) => line('workflow', w)),
    ...r.agents.map((a) => line('agent', a)),
    line('total', r.totals),
  ];
  const widths = head.map((_, i) => Math.max(...rows.map((row) => (row[i] as string).length)));
  const text = rows.map((row) =>
    row
      .map((c, i) => c.padEnd(widths[i] as number))
      .join('  ')
      .trimEnd(),
  );
  return [`Leader report ${r.since} → ${r.until}`, ...text].join('\n') + '\n';
}
