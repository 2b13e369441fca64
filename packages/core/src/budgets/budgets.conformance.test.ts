import fc from 'fast-check';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { backends } from '../../../../test/helpers/backends.js';
import type { TestStore } from '../../../../test/helpers/backends.js';
import type { BudgetConfig } from '../config/config.js';
import type { Executor } from '../store/db.js';
import { recordTxStatements } from '../../../../test/helpers/statements.js';
import { BUDGET_ALERT_SHARE, BudgetService, periodStart } from './budgets.js';
import type { BudgetAlert, BudgetExceeded } from './budgets.js';

type Outcome = { ok: true; alerts: BudgetAlert[] } | { ok: false; exceeded: BudgetExceeded };
interface ModelRow {
  calls: number;
  cost: number;
  alerted: boolean;
}

/**
 * The reservation as specified, on rows in memory: every budget checked against its row as it was before the call
 * (all or nothing), then every row charged from that reading; an alert when the larger share reaches the alert share
 * on a row that had not alerted. Two budgets of one scope and period read the same row, and it is charged once.
 */
function modelReserve(
  rows: Map<string, ModelRow>,
  list: readonly BudgetConfig[],
  cost: number,
  now: Date,
  force: boolean,
): Outcome {
  const sorted = [...list].sort((a, b) => `${a.scope}/${a.period}`.localeCompare(`${b.scope}/${b.period}`));
  const keyOf = (b: BudgetConfig) => `${b.scope}/${b.period}@${periodStart(b.period, now)}`;
  const read: { b: BudgetConfig; row: ModelRow }[] = [];
  for (const b of sorted) {
    const row = { ...(rows.get(keyOf(b)) ?? { calls: 0, cost: 0, alerted: false }) };
    if (!rows.has(keyOf(b))) rows.set(keyOf(b), { ...row });
    read.push({ b, row });
    const over =
      (b.calls !== undefined && row.calls + 1 > b.calls) ||
      (b.cost !== undefined && row.cost + cost > b.cost);
    if (over && !force)
      return {
        ok: false,
        exceeded: { budget: b, periodStart: periodStart(b.period, now), calls: row.calls, cost: row.cost },
      };
  }
  const alerts: BudgetAlert[] = [];
  for (const { b, row } of read) {
    const calls = row.calls + 1;
    const spent = row.cost + cost;
    const share = Math.max(b.calls ? calls / b.calls : 0, b.cost ? spent / b.cost : 0);
    const alert = share >= BUDGET_ALERT_SHARE && !row.alerted;
    rows.set(keyOf(b), { calls, cost: spent, alerted: alert || row.alerted });
    if (alert)
      alerts.push({
        scope: b.scope,
        period: b.period,
        periodStart: periodStart(b.period, now),
        percent: Math.round(share * 100),
      });
  }
  return { ok: true, alerts };
}

const limit = fc.option(fc.oneof(fc.integer({ min: 0, max: 12 }), fc.constant(2 ** 53)), { nil: undefined });
const budgetArb = (scope: string) =>
  fc
    .record({ period: fc.constantFrom('day' as const, 'total' as const), calls: limit, cost: limit })
    .filter((b) => b.calls !== undefined || b.cost !== undefined)
    .map((b): BudgetConfig => ({
      scope,
      period: b.period,
      ...(b.calls !== undefined ? { calls: b.calls } : {}),
      ...(b.cost !== undefined ? { cost: b.cost } : {}),
      onExceed: 'deny',
      approvers: 'approvers',
    }));
const op = fc.record({
  cost: fc.integer({ min: 0, max: 4 }),
  force: fc.integer({ min: 0, max: 9 }).map((n) => n < 2),
  extra: fc.boolean(),
});

describe.each(backends)('budgets on $name', (backend) => {
  let t: TestStore;
  beforeEach(async (ctx) => {
    if (!backend.enabled) return ctx.skip();
    t = await backend.create();
  });
  afterEach(async () => {
    await t?.cleanup();
  });

  const usage = async (db: Executor, scope: string, period: BudgetConfig['period'], now: Date) => {
    const row = await db.get<{ calls: number | string; cost: number | string; alerted: number | string }>(
      'SELECT calls, cost, alerted FROM budget_usage WHERE scope = ? AND period_start = ?',
      [`${scope}/${period}`, periodStart(period, now)],
    );
    return row
      ? { calls: Number(row.calls), cost: Number(row.cost), alerted: Number(row.alerted) !== 0 }
      : undefined;
  };

  it('reserves as the specification does: the same answers, alerts and rows over random sequences', async () => {
    let run = 0;
    const now = new Date();
    await fc.assert(
      fc.asyncProperty(
        fc.array(budgetArb('role'), { minLength: 1, maxLength: 3 }),
        fc.option(budgetArb('agent'), { nil: undefined }),
        fc.array(op, { minLength: 1, maxLength: 25 }),
        async (roleBudgets, extraBudget, ops) => {
          run += 1;
          // Each case its own scopes, so cases share no rows.
          const role = `r${run}`;
          const agentId = `a${run}`;
          // Two budgets of one scope and period are drawn too: they share one row.
          const configured = roleBudgets.map((b) => ({ ...b, scope: `role:${role}` }));
          const extra = extraBudget ? { ...extraBudget, scope: `agent:${agentId}` } : undefined;
          const service = new BudgetService(t.store.db, configured);
          const rows = new Map<string, ModelRow>();
          for (const o of ops) {
            const extras = o.extra && extra ? [extra] : [];
            const got = await t.store.db.tx((tx) =>
              service.reserve(tx, { id: agentId, role }, o.cost, { now, force: o.force, extra: extras }),
            );
            const want = modelReserve(rows, [...configured, ...extras], o.cost, now, o.force);
            expect(got).toEqual(want);
          }
          for (const b of [...configured, ...(extra ? [extra] : [])]) {
            const stored = await usage(t.store.db, b.scope, b.period, now);
            const model = rows.get(`${b.scope}/${b.period}@${periodStart(b.period, now)}`);
            // A row the model never touched may exist with nothing charged (a reservation taken back).
            expect(stored ?? { calls: 0, cost: 0, alerted: false }).toEqual(
              model ?? { calls: 0, cost: 0, alerted: false },
            );
          }
        },
      ),
      { numRuns: backend.name === 'postgres' ? 60 : 150 },
    );
  });

  it('charges a quiet call in one statement, and takes back a partial charge when a later budget refuses', async () => {
    const now = new Date();
    const service = new BudgetService(t.store.db, [
      { scope: 'agent:a1', period: 'day', calls: 100, onExceed: 'deny', approvers: 'approvers' },
      { scope: 'role:r1', period: 'day', calls: 2, onExceed: 'deny', approvers: 'approvers' },
    ]);
    const statements = recordTxStatements(t.store.db);
    const reserve = () => t.store.db.tx((tx) => service.reserve(tx, { id: 'a1', role: 'r1' }, 1, { now }));
    // role:r1 allows 2 calls; its first is below 80% (1/2 = 50%): quiet, one statement each budget.
    expect(await reserve()).toEqual({ ok: true, alerts: [] });
    expect(statements).toHaveLength(2);
    // The second reaches 100% of role:r1: an alert, so the long way (charge taken back, then locked and checked).
    statements.length = 0;
    expect(await reserve()).toMatchObject({ ok: true, alerts: [{ scope: 'role:r1', percent: 100 }] });
    expect(statements.length).toBeGreaterThan(2);
    // The third is over role:r1: refused, and agent:a1's charge is taken back.
    expect(await reserve()).toMatchObject({
      ok: false,
      exceeded: { budget: { scope: 'role:r1' }, calls: 2 },
    });
    expect(await usage(t.store.db, 'agent:a1', 'day', now)).toEqual({ calls: 2, cost: 2, alerted: false });
    expect(await usage(t.store.db, 'role:r1', 'day', now)).toEqual({ calls: 2, cost: 2, alerted: true });
  });
});
