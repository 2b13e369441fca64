import type { AuditLog } from '../audit/audit-log.js';
import type { Db } from '../store/db.js';

/** What started a run. */
export type EvalTrigger = 'manual' | 'schedule' | 'ci';

/** One case as a stored run keeps it: verdict, the tools called with their policy outcomes, what failed. */
export interface EvalCaseSummary {
  id: string;
  category: string;
  pass: boolean;
  calls: { tool: string; outcome: string }[];
  failures?: string[];
}

/** A stored suite run. */
export interface EvalRun {
  id: string;
  suite: string;
  /** Content hash of the suite the run used. */
  suiteHash: string;
  agentId: string;
  /** What drove the agent: `rule:<name>`, `llm`, `http`, `transcript`. */
  agentKind: string;
  trigger: EvalTrigger;
  cases: number;
  passed: number;
  failed: number;
  /** Percent, one decimal. */
  passRate: number;
  threshold: number;
  result: 'pass' | 'fail';
  /** Failed cases per category, most first. */
  failedByCategory: { category: string; count: number }[];
  caseSummaries: EvalCaseSummary[];
  startedAt: string;
  finishedAt: string;
}

interface Row {
  id: string;
  suite: string;
  suite_hash: string;
  agent_id: string;
  agent_kind: string;
  trigger: EvalTrigger;
  cases: number;
  passed: number;
  failed: number;
  pass_rate: number;
  threshold: number;
  result: 'pass' | 'fail';
  by_category_json: string;
  cases_json: string;
  started_at: string;
  finished_at: string;
}

const toRun = (r: Row): EvalRun => ({
  id: r.id,
  suite: r.suite,
  suiteHash: r.suite_hash,
  agentId: r.agent_id,
  agentKind: r.agent_kind,
  trigger: r.trigger,
  cases: Number(r.cases),
  passed: Number(r.passed),
  failed: Number(r.failed),
  passRate: Number(r.pass_rate),
  threshold: Number(r.threshold),
  result: r.result,
  failedByCategory: JSON.parse(r.by_category_json) as EvalRun['failedByCategory'],
  caseSummaries: JSON.parse(r.cases_json) as EvalCaseSummary[],
  startedAt: r.started_at,
  finishedAt: r.finished_at,
});

/** Stored suite runs: each recorded with its audit record in one transaction. */
export class EvalRunStore {
  constructor(
    private readonly db: Db,
    private readonly audit: AuditLog,
  ) {}

  /** Stores a run and audits it (`eval.run_completed`, subject the agent) together. */
  async record(run: EvalRun, actor: string): Promise<void> {
    await this.db.tx(async (tx) => {
      await tx.run(
        `INSERT INTO eval_runs (id, suite, suite_hash, agent_id, agent_kind, trigger, cases, passed, failed, pass_rate,
           threshold, result, by_category_json, cases_json, started_at, finished_at)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
        [
          run.id,
          run.suite,
          run.suiteHash,
          run.agentId,
          run.agentKind,
          run.trigger,
          run.cases,
          run.passed,
          run.failed,
          run.passRate,
          run.threshold,
          run.result,
          JSON.stringify(run.failedByCategory),
          JSON.stringify(run.caseSummaries),
          run.startedAt,
          run.finishedAt,
        ],
      );
      await this.audit.append(tx, {
        actor,
        type: 'eval.run_completed',
        subject: `agent:${run.agentId}`,
        payload: {
          runId: run.id,
          suite: run.suite,
          suiteHash: run.suiteHash,
          trigger: run.trigger,
          agentKind: run.agentKind,
          cases: run.cases,
          passed: run.passed,
          failed: run.failed,
          passRate: run.passRate,
          threshold: run.threshold,
          result: run.result,
          failedByCategory: run.failedByCategory,
        },
      });
    });
  }

  async get(id: string): Promise<EvalRun | undefined> {
    const r = await this.db.get<Row>('SELECT * FROM eval_runs WHERE id = ?', [id]);
    return r ? toRun(r) : undefined;
  }

  /** Runs, newest first, filtered by agent, suite and finish time. */
  async list(
    filter: { agentId?: string; suite?: string; since?: string; limit?: number } = {},
  ): Promise<EvalRun[]> {
    const where: string[] = [];
    const params: (string | number)[] = [];
    if (filter.agentId) {
      where.push('agent_id = ?');
      params.push(filter.agentId);
    }
    if (filter.suite) {
      where.push('suite = ?');
      params.push(filter.suite);
    }
    if (filter.since) {
      where.push('finished_at >= ?');
      params.push(filter.since);
    }
    params.push(Math.min(Math.max(filter.limit ?? 100, 1), 1000));
    const rows = await this.db.all<Row>(
      `SELECT * FROM eval_runs${where.length ? ` WHERE ${where.join(' AND ')}` : ''} ORDER BY finished_at DESC, id DESC LIMIT ?`,
      params,
    );
    return rows.map(toRun);
  }
}
