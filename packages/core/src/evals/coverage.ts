import type { Db } from '../store/db.js';
import type { AuditLog } from '../audit/audit-log.js';
import { EvalRunStore } from './eval-run-store.js';

/** Coverage of one agent or workflow. */
export interface CoverageEntry {
  /** Actions in the period (the eval environment's own are not counted). */
  actions: number;
  /** Of those, the ones whose tool and policy outcome a passing case covers. */
  covered: number;
  /** Percent, one decimal; null when there were no actions. */
  coverage: number | null;
  /** The uncovered (tool, outcome) pairs, most frequent first. */
  uncovered: { tool: string; outcome: string; count: number }[];
}

/** Evaluation coverage over a period. */
export interface CoverageReport {
  since: string;
  agents: (CoverageEntry & { agentId: string; suites: string[] })[];
  workflows: (CoverageEntry & { workflow: string })[];
}

const OUTCOME: Record<string, string> = { allowed: 'allow', pending_approval: 'approval', denied: 'deny' };

/**
 * Evaluation coverage: the share of each agent's (and each workflow's) actions since `since` whose tool, with the
 * policy outcome it got, is exercised by a passing case in the latest run of some suite for that agent — the metric
 * leaders review to see how much of what agents really do is evaluated.
 */
export async function evalCoverage(
  deps: { db: Db; audit: AuditLog },
  o: { since: string; agentId?: string },
): Promise<CoverageReport> {
  const rows = await deps.db.all<{
    agent_id: string;
    tool: string;
    outcome: string;
    workflow: string | null;
    n: number;
  }>(
    `SELECT a.agent_id, a.tool, a.outcome, w.workflow, COUNT(*) AS n
       FROM actions a LEFT JOIN workflow_runs w ON a.session_id = 'wf:' || w.id
      WHERE a.created_at >= ? AND a.environment <> 'eval'${o.agentId ? ' AND a.agent_id = ?' : ''}
      GROUP BY a.agent_id, a.tool, a.outcome, w.workflow`,
    o.agentId ? [o.since, o.agentId] : [o.since],
  );
  const runs = new EvalRunStore(deps.db, deps.audit);
  const coveredBy = new Map<string, { pairs: Set<string>; suites: string[] }>();
  for (const agentId of new Set(rows.map((r) => r.agent_id).concat(o.agentId ? [o.agentId] : []))) {
    const latest = new Map<string, Awaited<ReturnType<typeof runs.list>>[number]>();
    for (const r of await runs.list({ agentId, limit: 200 }))
      if (!latest.has(r.suite)) latest.set(r.suite, r);
    const pairs = new Set<string>();
    for (const run of latest.values())
      for (const c of run.caseSummaries)
        if (c.pass) for (const call of c.calls) pairs.add(`${call.tool}\u0000${call.outcome}`);
    coveredBy.set(agentId, { pairs, suites: [...latest.keys()].sort() });
  }
  const entry = (): CoverageEntry => ({ actions: 0, covered: 0, coverage: null, uncovered: [] });
  const agents = new Map<string, CoverageEntry & { agentId: string; suites: string[] }>();
  const workflows = new Map<string, CoverageEntry & { workflow: string }>();
  const gaps = new Map<CoverageEntry, Map<string, number>>();
  for (const r of rows) {
    const n = Number(r.n);
    const outcome = OUTCOME[r.outcome] ?? r.outcome;
    const cov = coveredBy.get(r.agent_id);
    const isCovered = cov?.pairs.has(`${r.tool}\u0000${outcome}`) ?? false;
    const targets: CoverageEntry[] = [];
    let a = agents.get(r.agent_id);
    if (!a) agents.set(r.agent_id, (a = { agentId: r.agent_id, suites: cov?.suites ?? [], ...entry() }));
    targets.push(a);
    if (r.workflow) {
      let w = workflows.get(r.workflow);
      if (!w) workflows.set(r.workflow, (w = { workflow: r.workflow, ...entry() }));
      targets.push(w);
    }
    for (const t of targets) {
      t.actions += n;
      if (isCovered) t.covered += n;
      else {
        const g = gaps.get(t) ?? new Map<string, number>();
        g.set(`${r.tool}\u0000${outcome}`, (g.get(`${r.tool}\u0000${outcome}`) ?? 0) + n);
        gaps.set(t, g);
      }
    }
  }
  for (const t of [...agents.values(), ...workflows.values()]) {
    t.coverage = t.actions ? Math.round((t.covered / t.actions) * 1000) / 10 : null;
    t.uncovered = [...(gaps.get(t) ?? new Map<string, number>())]
      .map(([k, count]) => {
        const [tool, outcome] = k.split('\u0000') as [string, string];
        return { tool, outcome, count };
      })
      .sort((x, y) => y.count - x.count || x.tool.localeCompare(y.tool));
  }
  if (o.agentId && !agents.has(o.agentId))
    agents.set(o.agentId, { agentId: o.agentId, suites: coveredBy.get(o.agentId)?.suites ?? [], ...entry() });
  return {
    since: o.since,
    agents: [...agents.values()].sort((x, y) => x.agentId.localeCompare(y.agentId)),
    workflows: [...workflows.values()].sort((x, y) => x.workflow.localeCompare(y.workflow)),
  };
}

/**
 * The leader report's coverage hook from a coverage report: the share (0-1) of an agent's, a workflow's or all
 * actions that a passing case covers; undefined where there were no actions.
 */
export function coverageShares(
  report: CoverageReport,
): (scope: { kind: 'agent' | 'workflow' | 'total'; name: string }) => number | undefined {
  const agents = new Map(report.agents.map((a) => [a.agentId, a]));
  const workflows = new Map(report.workflows.map((w) => [w.workflow, w]));
  const total = report.agents.reduce(
    (t, a) => ({ actions: t.actions + a.actions, covered: t.covered + a.covered }),
    {
      actions: 0,
      covered: 0,
    },
  );
  return (scope) => {
    const e =
      scope.kind === 'agent'
        ? agents.get(scope.name)
        : scope.kind === 'workflow'
          ? workflows.get(scope.name)
          : total;
    return e && e.actions > 0 ? e.covered / e.actions : undefined;
  };
}
