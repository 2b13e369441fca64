import type { BudgetConfig } from '../config/config.js';
import type { Db, Executor } from '../store/db.js';

/** The part of an agent budgets look at. */
export interface BudgetSubject {
  id: string;
  role: string;
}

/** A budget that would be overspent. */
export interface BudgetExceeded {
  budget: BudgetConfig;
  periodStart: string;
  calls: number;
  cost: number;
}

/** A budget that crossed its alert threshold with this reservation. */
export interface BudgetAlert {
  scope: string;
  period: BudgetConfig['period'];
  periodStart: string;
  /** Percent used, the larger of calls and cost. */
  percent: number;
}

/** The share of a budget that raises an alert. */
export const BUDGET_ALERT_SHARE = 0.8;

/** The key of the period `now` falls in. */
export function periodStart(period: BudgetConfig['period'], now: Date): string {
  const iso = now.toISOString();
  switch (period) {
    case 'hour':
      return `${iso.slice(0, 13)}:00Z`;
    case 'day':
      return iso.slice(0, 10);
    case 'month':
      return iso.slice(0, 7);
    case 'total':
      return 'total';
  }
}

interface UsageRow {
  calls: number;
  cost: number;
  alerted: number;
}

/**
 * Budgets per agent, per role and global: calls and cost units per period. Reservation happens inside the caller's
 * decision transaction with the usage rows locked (row locks on PostgreSQL, the write lock on SQLite), so
 * concurrent calls can never overspend. A reservation is all-or-nothing across the budgets that apply.
 */
export class BudgetService {
  constructor(
    private readonly db: Db,
    private readonly budgets: readonly BudgetConfig[],
  ) {}

  /** Budgets that apply to an agent, in a fixed order (so locks are always taken in the same order). */
  applicable(agent: BudgetSubject): BudgetConfig[] {
    const scopes = new Set(['global', `role:${agent.role}`, `agent:${agent.id}`]);
    return this.budgets
      .filter((b) => scopes.has(b.scope))
      .sort((a, b) => `${a.scope}/${a.period}`.localeCompare(`${b.scope}/${b.period}`));
  }

  private async lockUsage(tx: Executor, scope: string, start: string): Promise<UsageRow> {
    await tx.run(
      'INSERT INTO budget_usage (scope, period_start, calls, cost, alerted) VALUES (?, ?, 0, 0, 0) ON CONFLICT (scope, period_start) DO NOTHING',
      [scope, start],
    );
    const row = await tx.get<UsageRow>(
      `SELECT calls, cost, alerted FROM budget_usage WHERE scope = ? AND period_start = ?${this.db.forUpdate}`,
      [scope, start],
    );
    return {
      calls: Number(row?.calls ?? 0),
      cost: Number(row?.cost ?? 0),
      alerted: Number(row?.alerted ?? 0),
    };
  }

  /**
   * Reserves one call of `cost` units against every applicable budget, or nothing if any would be exceeded.
   * `force` charges even over the limit (an approved over-budget call).
   */
  async reserve(
    tx: Executor,
    agent: BudgetSubject,
    cost: number,
    options: { now?: Date; force?: boolean; extra?: readonly BudgetConfig[] } = {},
  ): Promise<{ ok: true; alerts: BudgetAlert[] } | { ok: false; exceeded: BudgetExceeded }> {
    const now = options.now ?? new Date();
    const list = [...this.applicable(agent), ...(options.extra ?? [])].sort((a, b) =>
      `${a.scope}/${a.period}`.localeCompare(`${b.scope}/${b.period}`),
    );
    const usage: { budget: BudgetConfig; start: string; row: UsageRow; scopeKey: string }[] = [];
    for (const budget of list) {
      const start = periodStart(budget.period, now);
      const scopeKey = `${budget.scope}/${budget.period}`;
      const row = await this.lockUsage(tx, scopeKey, start);
      usage.push({ budget, start, row, scopeKey });
      const over =
        (budget.calls !== undefined && row.calls + 1 > budget.calls) ||
        (budget.cost !== undefined && row.cost + cost > budget.cost);
      if (over && !options.force)
        return { ok: false, exceeded: { budget, periodStart: start, calls: row.calls, cost: row.cost } };
    }
    const alerts: BudgetAlert[] = [];
    for (const { budget, start, row, scopeKey } of usage) {
      const calls = row.calls + 1;
      const spent = row.cost + cost;
      const share = Math.max(budget.calls ? calls / budget.calls : 0, budget.cost ? spent / budget.cost : 0);
      const alert = share >= BUDGET_ALERT_SHARE && !row.alerted;
      await tx.run(
        'UPDATE budget_usage SET calls = ?, cost = ?, alerted = ? WHERE scope = ? AND period_start = ?',
        [calls, spent, alert || row.alerted ? 1 : 0, scopeKey, start],
      );
      if (alert)
        alerts.push({
          scope: budget.scope,
          period: budget.period,
          periodStart: start,
          percent: Math.round(share * 100),
        });
    }
    return { ok: true, alerts };
  }

  /** What a scope has spent in the period `now` falls in (e.g. a workflow run's `run:<id>` over `total`). */
  async spent(
    scope: string,
    period: BudgetConfig['period'],
    now = new Date(),
  ): Promise<{ calls: number; cost: number }> {
    const row = await this.db.get<UsageRow>(
      'SELECT calls, cost, alerted FROM budget_usage WHERE scope = ? AND period_start = ?',
      [`${scope}/${period}`, periodStart(period, now)],
    );
    return { calls: Number(row?.calls ?? 0), cost: Number(row?.cost ?? 0) };
  }

  /** Current usage of every configured budget. */
  async usage(
    now = new Date(),
  ): Promise<(BudgetConfig & { periodStart: string; used: { calls: number; cost: number } })[]> {
    const out = [];
    for (const b of this.budgets) {
      const start = periodStart(b.period, now);
      const row = await this.db.get<UsageRow>(
        'SELECT calls, cost, alerted FROM budget_usage WHERE scope = ? AND period_start = ?',
        [`${b.scope}/${b.period}`, start],
      );
      out.push({
        ...b,
        periodStart: start,
        used: { calls: Number(row?.calls ?? 0), cost: Number(row?.cost ?? 0) },
      });
    }
    return out;
  }
}
