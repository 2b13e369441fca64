import type { BudgetConfig } from '../config/config.js';
import type { Db, Executor, Statement } from '../store/db.js';

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

/** What one model call used, to charge after the fact (its size is known only once it answered). */
export interface ModelUsageCharge {
  inputTokens: number;
  outputTokens: number;
  /** Cost units, from the model's configured price. */
  cost: number;
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

/** The share of a budget used by these totals: the larger of calls and cost (a limit of 0 or none counts 0). */
function shareOf(budget: BudgetConfig, calls: number, cost: number): number {
  return Math.max(budget.calls ? calls / budget.calls : 0, budget.cost ? cost / budget.cost : 0);
}

/** How long a budget whose quiet charge failed takes the long way ({@link BudgetService.noteLoud}). */
export const LOUD_MS = 1000;

/** The largest total `n` with `n / limit` below the alert share, as {@link shareOf} divides (-1 when none is). */
function quietTotal(limit: number): number {
  let n = Math.floor(limit * BUDGET_ALERT_SHARE);
  while (n >= 0 && n / limit >= BUDGET_ALERT_SHARE) n--;
  while ((n + 1) / limit < BUDGET_ALERT_SHARE) n++;
  return n;
}

/** A limit {@link BudgetService.reserve}'s one-statement charge can compare exactly: none, or a whole number ≤ 2^50. */
function countable(limit: number | undefined): boolean {
  return limit === undefined || (Number.isSafeInteger(limit) && limit >= 0 && limit <= 2 ** 50);
}

/**
 * The upsert that charges one call of `cost` to `budget`'s row if the call fits and raises no alert: the totals after
 * it are within the limits and below the alert share, or the row has already alerted. It changes one row when it
 * charges and none otherwise (a new row is only written when its first call qualifies). Undefined when no call can
 * be charged this way.
 */
function quietCharge(
  budget: BudgetConfig,
  scopeKey: string,
  start: string,
  cost: number,
): Statement | undefined {
  // Limits are whole numbers (the config's schema); one too large to count exactly in a double takes the long way.
  if (!countable(budget.calls) || !countable(budget.cost)) return undefined;
  const callsLimit = budget.calls ?? Number.MAX_SAFE_INTEGER;
  const costLimit = budget.cost ?? Number.MAX_SAFE_INTEGER;
  // The largest totals whose share stays below the alert share, computed as reserveChecked computes the share.
  const callsQuiet = budget.calls ? quietTotal(budget.calls) : callsLimit;
  const costQuiet = budget.cost ? quietTotal(budget.cost) : costLimit;
  // A first call writes the row as (1, cost, not alerted): only when that is the quiet outcome.
  if (1 > Math.min(callsLimit, callsQuiet) || cost > Math.min(costLimit, costQuiet)) return undefined;
  return {
    sql: `INSERT INTO budget_usage (scope, period_start, calls, cost, alerted) VALUES (?, ?, 1, ?, 0)
       ON CONFLICT (scope, period_start) DO UPDATE SET calls = budget_usage.calls + 1, cost = budget_usage.cost + ?
       WHERE budget_usage.calls + 1 <= ? AND budget_usage.cost + ? <= ?
         AND (budget_usage.alerted <> 0 OR (budget_usage.calls + 1 <= ? AND budget_usage.cost + ? <= ?))`,
    params: [scopeKey, start, cost, cost, callsLimit, cost, costLimit, callsQuiet, cost, costQuiet],
  };
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
  /** Budgets whose quiet charge failed lately, by scope and period: until when they take the long way. */
  private readonly loud = new Map<string, number>();

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

  /**
   * Creates the period's usage row if needed and reads it locked, in one statement: the upsert's no-op update locks
   * the row (PostgreSQL) as `FOR UPDATE` did, within the write lock (SQLite), and RETURNING reads it.
   */
  private async lockUsage(tx: Executor, scope: string, start: string): Promise<UsageRow> {
    const row = await tx.get<UsageRow>(
      `INSERT INTO budget_usage (scope, period_start, calls, cost, alerted) VALUES (?, ?, 0, 0, 0)
       ON CONFLICT (scope, period_start) DO UPDATE SET calls = budget_usage.calls
       RETURNING calls, cost, alerted`,
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
   *
   * Most reservations change no budget's state: the call fits and raises no alert (the row is below its alert
   * share, or already alerted). Those charge each budget in one statement, an upsert whose update applies only under
   * exactly those conditions ({@link chargeIfQuiet}). When one budget's upsert does not apply, the charges already
   * made are taken back and the reservation is made again the long way ({@link reserveChecked}): every row locked
   * and read, checked, then updated, with alerts raised.
   */
  async reserve(
    tx: Executor,
    agent: BudgetSubject,
    cost: number,
    options: { now?: Date; force?: boolean; extra?: readonly BudgetConfig[] } = {},
  ): Promise<{ ok: true; alerts: BudgetAlert[] } | { ok: false; exceeded: BudgetExceeded }> {
    const now = options.now ?? new Date();
    const { list, shared } = this.chargedBy(agent, options.extra);
    if (options.force || shared || !Number.isSafeInteger(cost) || cost < 0)
      return this.reserveChecked(tx, list, cost, now, options.force === true);
    const charged: { scopeKey: string; start: string }[] = [];
    for (const budget of list) {
      const start = periodStart(budget.period, now);
      const scopeKey = `${budget.scope}/${budget.period}`;
      if (await this.chargeIfQuiet(tx, budget, scopeKey, start, cost)) {
        charged.push({ scopeKey, start });
        continue;
      }
      for (const c of charged)
        await tx.run(
          'UPDATE budget_usage SET calls = calls - 1, cost = cost - ? WHERE scope = ? AND period_start = ?',
          [cost, c.scopeKey, c.start],
        );
      return this.reserveChecked(tx, list, cost, now, false);
    }
    return { ok: true, alerts: [] };
  }

  /** The budgets a call is charged to, in the order their rows are locked, and whether two of them share a row. */
  private chargedBy(
    agent: BudgetSubject,
    extra: readonly BudgetConfig[] = [],
  ): { list: BudgetConfig[]; shared: boolean } {
    const list = [...this.applicable(agent), ...extra].sort((a, b) =>
      `${a.scope}/${a.period}`.localeCompare(`${b.scope}/${b.period}`),
    );
    // Two budgets of one scope and period share one row: both limits are checked against it and it is charged once,
    // which only the long way does.
    return { list, shared: new Set(list.map((b) => `${b.scope}/${b.period}`)).size < list.length };
  }

  /**
   * Charges one call of `cost` to `budget`'s row in one statement if the call fits and raises no alert: the totals
   * after it are within the limits and below the alert share, or the row has already alerted. True when charged;
   * false leaves the row as it was (a new row is only written when its first call qualifies).
   */
  private async chargeIfQuiet(
    tx: Executor,
    budget: BudgetConfig,
    scopeKey: string,
    start: string,
    cost: number,
  ): Promise<boolean> {
    const charge = quietCharge(budget, scopeKey, start, cost);
    if (!charge) return false;
    const row = await tx.get<{ calls: number | string }>(`${charge.sql} RETURNING calls`, charge.params);
    return row !== undefined;
  }

  /**
   * The statements that charge one call of `cost` to every budget that applies, each changing its row (one) only if
   * the call fits and raises no alert there, as {@link reserve}'s short way does: for a caller that writes them with
   * its other writes and requires a change of each ({@link Db.writeAlone}), and takes {@link reserve} in a
   * transaction when one changes nothing. Undefined when the call must take the long way from the start (two budgets
   * of one row, a cost that is not a whole number, a limit too large to count exactly, a first call that alerts).
   */
  quietCharges(
    agent: BudgetSubject,
    cost: number,
    options: { now?: Date; extra?: readonly BudgetConfig[] } = {},
  ): Statement[] | undefined {
    const now = options.now ?? new Date();
    const { list, shared } = this.chargedBy(agent, options.extra);
    if (shared || !Number.isSafeInteger(cost) || cost < 0) return undefined;
    const out: Statement[] = [];
    for (const budget of list) {
      const scopeKey = `${budget.scope}/${budget.period}`;
      if ((this.loud.get(scopeKey) ?? 0) > now.getTime()) return undefined;
      const charge = quietCharge(budget, scopeKey, periodStart(budget.period, now), cost);
      if (!charge) return undefined;
      out.push(charge);
    }
    return out;
  }

  /**
   * A call's {@link quietCharges} did not all charge (a budget is spent, or the call crossed an alert): its budgets
   * answer none for {@link LOUD_MS}, so the calls right after it take the long way at once instead of failing a
   * quiet charge first.
   */
  noteLoud(agent: BudgetSubject, extra: readonly BudgetConfig[] = [], now = Date.now()): void {
    if (this.loud.size >= 10_000) this.loud.clear();
    for (const b of this.chargedBy(agent, extra).list) this.loud.set(`${b.scope}/${b.period}`, now + LOUD_MS);
  }

  /** {@link reserve} with every row locked and read first: the path that rejects, forces and raises alerts. */
  private async reserveChecked(
    tx: Executor,
    list: readonly BudgetConfig[],
    cost: number,
    now: Date,
    force: boolean,
  ): Promise<{ ok: true; alerts: BudgetAlert[] } | { ok: false; exceeded: BudgetExceeded }> {
    const usage: { budget: BudgetConfig; start: string; row: UsageRow; scopeKey: string }[] = [];
    for (const budget of list) {
      const start = periodStart(budget.period, now);
      const scopeKey = `${budget.scope}/${budget.period}`;
      const row = await this.lockUsage(tx, scopeKey, start);
      usage.push({ budget, start, row, scopeKey });
      const over =
        (budget.calls !== undefined && row.calls + 1 > budget.calls) ||
        (budget.cost !== undefined && row.cost + cost > budget.cost);
      if (over && !force)
        return { ok: false, exceeded: { budget, periodStart: start, calls: row.calls, cost: row.cost } };
    }
    const alerts: BudgetAlert[] = [];
    for (const { budget, start, row, scopeKey } of usage) {
      const calls = row.calls + 1;
      const spent = row.cost + cost;
      const share = shareOf(budget, calls, spent);
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

  /**
   * Charges a model call an LLM agent made: its tokens and cost units go to every budget that applies to the agent
   * (not a call: calls count actions), and always to the agent's running total (`agent:<id>` over `total`), so its
   * token use shows even where no budget is configured. A model call's size is known only after it answered, so it is
   * charged even over a limit; {@link exhausted} then stops the agent before its next call.
   */
  async chargeModelUsage(
    agent: BudgetSubject,
    usage: ModelUsageCharge,
    now = new Date(),
  ): Promise<{ alerts: BudgetAlert[] }> {
    const list = this.applicable(agent);
    const rows = list.map((b) => ({
      scopeKey: `${b.scope}/${b.period}`,
      start: periodStart(b.period, now),
      budget: b,
    }));
    const own = `agent:${agent.id}/total`;
    if (!rows.some((r) => r.scopeKey === own))
      rows.push({ scopeKey: own, start: 'total', budget: undefined as never });
    rows.sort((a, b) => a.scopeKey.localeCompare(b.scopeKey));
    return this.db.tx(async (tx) => {
      const alerts: BudgetAlert[] = [];
      for (const { scopeKey, start, budget } of rows) {
        const row = await this.lockUsage(tx, scopeKey, start);
        const spent = row.cost + usage.cost;
        const share = budget
          ? Math.max(budget.calls ? row.calls / budget.calls : 0, budget.cost ? spent / budget.cost : 0)
          : 0;
        const alert = !!budget && share >= BUDGET_ALERT_SHARE && !row.alerted;
        await tx.run(
          'UPDATE budget_usage SET cost = ?, tokens_in = tokens_in + ?, tokens_out = tokens_out + ?, alerted = ? WHERE scope = ? AND period_start = ?',
          [spent, usage.inputTokens, usage.outputTokens, alert || row.alerted ? 1 : 0, scopeKey, start],
        );
        if (alert && budget)
          alerts.push({
            scope: budget.scope,
            period: budget.period,
            periodStart: start,
            percent: Math.round(share * 100),
          });
      }
      return { alerts };
    });
  }

  /** The first budget that applies to the agent and is already used up (calls or cost), if any. */
  async exhausted(agent: BudgetSubject, now = new Date()): Promise<BudgetExceeded | undefined> {
    for (const budget of this.applicable(agent)) {
      const start = periodStart(budget.period, now);
      const used = await this.spent(budget.scope, budget.period, now);
      if (
        (budget.calls !== undefined && used.calls >= budget.calls) ||
        (budget.cost !== undefined && used.cost >= budget.cost)
      )
        return { budget, periodStart: start, calls: used.calls, cost: used.cost };
    }
    return undefined;
  }

  /** What a scope has spent in the period `now` falls in (e.g. a workflow run's `run:<id>` over `total`). */
  async spent(
    scope: string,
    period: BudgetConfig['period'],
    now = new Date(),
  ): Promise<{ calls: number; cost: number }> {
    const { calls, cost } = await this.spentWithTokens(scope, period, now);
    return { calls, cost };
  }

  /** {@link spent}, with the model tokens LLM agents used in and out. */
  async spentWithTokens(
    scope: string,
    period: BudgetConfig['period'],
    now = new Date(),
  ): Promise<{ calls: number; cost: number; tokensIn: number; tokensOut: number }> {
    const row = await this.db.get<UsageRow & { tokens_in: number; tokens_out: number }>(
      'SELECT calls, cost, alerted, tokens_in, tokens_out FROM budget_usage WHERE scope = ? AND period_start = ?',
      [`${scope}/${period}`, periodStart(period, now)],
    );
    return {
      calls: Number(row?.calls ?? 0),
      cost: Number(row?.cost ?? 0),
      tokensIn: Number(row?.tokens_in ?? 0),
      tokensOut: Number(row?.tokens_out ?? 0),
    };
  }

  /** Current usage of every configured budget; `tokens` are what LLM agents' model calls used. */
  async usage(now = new Date()): Promise<
    (BudgetConfig & {
      periodStart: string;
      used: { calls: number; cost: number };
      tokens: { input: number; output: number };
    })[]
  > {
    const out = [];
    for (const b of this.budgets) {
      const u = await this.spentWithTokens(b.scope, b.period, now);
      out.push({
        ...b,
        periodStart: periodStart(b.period, now),
        used: { calls: u.calls, cost: u.cost },
        tokens: { input: u.tokensIn, output: u.tokensOut },
      });
    }
    return out;
  }

  /**
   * Use of the per-run budgets (a workflow's `budget:`, reserved as `run:<id>` over the run's whole life) of the
   * `limit` most recent runs that have spent from one, newest first, each with its run's workflow and status. The
   * limit is the one pinned on the run's definition, so a changed workflow file does not rewrite an old run's limit.
   */
  async runUsage(limit = 50): Promise<RunBudgetUsage[]> {
    const rows = await this.db.all<{
      id: string;
      workflow: string;
      status: string;
      definition_json: string;
      calls: number;
      cost: number;
      tokens_in: number;
      tokens_out: number;
    }>(
      `SELECT r.id, r.workflow, r.status, r.definition_json, u.calls, u.cost, u.tokens_in, u.tokens_out
         FROM workflow_runs r JOIN budget_usage u ON u.scope = 'run:' || r.id || '/total' AND u.period_start = 'total'
        ORDER BY r.created_at DESC, r.id DESC LIMIT ?`,
      [Math.min(Math.max(Math.trunc(limit), 1), 500)],
    );
    const out: RunBudgetUsage[] = [];
    for (const r of rows) {
      const budget = (JSON.parse(r.definition_json) as { budget?: RunBudgetLimit }).budget;
      if (!budget) continue;
      out.push({
        scope: `run:${r.id}`,
        period: 'total',
        ...(budget.calls !== undefined ? { calls: budget.calls } : {}),
        ...(budget.cost !== undefined ? { cost: budget.cost } : {}),
        onExceed: budget.onExceed ?? 'deny',
        approvers: budget.approvers ?? 'approvers',
        periodStart: 'total',
        used: { calls: Number(r.calls), cost: Number(r.cost) },
        tokens: { input: Number(r.tokens_in), output: Number(r.tokens_out) },
        run: { id: r.id, workflow: r.workflow, status: r.status },
      });
    }
    return out;
  }
}

/** A workflow's per-run limit, as pinned on the run's definition. */
interface RunBudgetLimit {
  calls?: number;
  cost?: number;
  onExceed?: 'deny' | 'approval';
  approvers?: string;
}

/** One run's use of its workflow's budget (`GET /v1/budgets`, `runs`). */
export interface RunBudgetUsage {
  /** `run:<id>`. */
  scope: string;
  period: 'total';
  calls?: number;
  cost?: number;
  onExceed: 'deny' | 'approval';
  approvers: string;
  periodStart: 'total';
  used: { calls: number; cost: number };
  tokens: { input: number; output: number };
  run: { id: string; workflow: string; status: string };
}
