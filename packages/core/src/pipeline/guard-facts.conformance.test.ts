import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { backends } from '../../../../test/helpers/backends.js';
import type { TestStore } from '../../../../test/helpers/backends.js';
import {
  seedSupportDesk,
  startPayments,
  supportDeskConfig,
  supportDeskEngine,
} from '../../../../test/helpers/support-desk.js';
import type { Payments } from '../../../../test/helpers/support-desk.js';
import type { Engine } from '../engine.js';
import type { Agent } from '../identity/agents.js';
import { SECURITY_EPOCH_MAX_AGE_MS } from '../identity/authenticate.js';
import { KillSwitches } from '../intervention/kill-switches.js';
import type { Store } from '../store/open-store.js';
import { recordTransactions, recordTxStatements } from '../../../../test/helpers/statements.js';

const guardReads = (statements: readonly string[]) =>
  statements.filter((s) => /FROM (agents|killswitches|tools|security_epoch)\b/.test(s));

describe.each(backends)("the pipeline's guards on $name", (backend) => {
  let t: TestStore;
  let payments: Payments;
  let engine: Engine;
  let other: Store | undefined;
  const read = (agent: Agent) =>
    engine.actions.submit(agent, { tool: 'payments.get_order', input: { orderId: 'o-1' } });

  beforeEach(async (ctx) => {
    if (!backend.enabled) return ctx.skip();
    t = await backend.create();
    payments = await startPayments();
    await seedSupportDesk(t);
    engine = await supportDeskEngine(t, supportDeskConfig(payments.url));
  });
  afterEach(async () => {
    vi.useRealTimers();
    await other?.close();
    other = undefined;
    await engine?.close();
    await payments?.close();
    await t?.cleanup();
  });

  it('take the agent and the switches from the view of the epoch the transaction sees: one read, not three', async () => {
    const agent = (await t.store.agents.require('refund-bot')) as Agent;
    const seen = recordTxStatements(t.store.db, { outside: true });
    // No view held yet (nothing read the epoch outside a transaction): the decision reads the agent and the
    // switches itself, after the statement that reads the epoch with the tool's pin, once (on PostgreSQL its first
    // attempt, outside a transaction, makes the view of the epoch it read; the first sighting of the tool then
    // takes a transaction, which reads the epoch again and finds the view).
    expect(await read(agent)).toMatchObject({ status: 'succeeded' });
    const cold = guardReads(seen);
    expect(cold[0]).toMatch(/FROM security_epoch e LEFT JOIN tools t/);
    expect(cold.filter((s) => /FROM agents\b/.test(s))).toHaveLength(1);
    expect(cold.filter((s) => /FROM killswitches\b/.test(s))).toHaveLength(1);
    expect(cold).toHaveLength(backend.name === 'postgres' ? 4 : 3);

    await engine.security.current(); // what authenticating a request does
    await read(agent); // fills the view with the agent and the engaged switches (reads outside the transaction)
    // From here on PostgreSQL decides outside a transaction, written alone: its reads are recorded too.
    const warm = recordTxStatements(t.store.db, { outside: true });
    for (let i = 0; i < 3; i++) expect(await read(agent)).toMatchObject({ status: 'succeeded' });
    expect(guardReads(warm)).toHaveLength(3); // one a decision: the epoch and the tool's pin
    expect(guardReads(warm).every((s) => /FROM security_epoch e LEFT JOIN tools t/.test(s))).toBe(true);
  });

  it('read the guards, the session scope and the anomaly baseline in one statement on PostgreSQL', async () => {
    const agent = (await t.store.agents.require('refund-bot')) as Agent;
    await engine.security.current();
    await read(agent);
    const seen = recordTxStatements(t.store.db, { outside: true });
    const tx = recordTransactions(t.store.db);
    // Another order: not answered from the cache, so the call has an outcome to record.
    expect(
      await engine.actions.submit(agent, { tool: 'payments.get_order', input: { orderId: 'o-2' } }),
    ).toMatchObject({ status: 'succeeded', cached: false });
    const reads = seen.filter((s) => /FROM (security_epoch|action_sessions|anomaly_baselines)\b/.test(s));
    const writes = seen.filter((s) => /aos_audit_append|INSERT INTO audit_log/.test(s));
    if (backend.name === 'postgres') {
      // Outside a transaction, the baseline with its version rather than locked: the decision is written alone.
      expect(reads).toHaveLength(1);
      expect(reads[0]).toMatch(/security_epoch[\s\S]*action_sessions[\s\S]*anomaly_baselines/);
      expect(reads[0]).toMatch(/xmin::text AS row_version/);
      expect(reads[0]).not.toMatch(/FOR UPDATE/);
      // The decision's writes (the baseline's under its version) and its audit record, then the outcome's: a
      // statement each, neither in a transaction.
      expect(writes).toHaveLength(2);
      expect(writes[0]).toMatch(/INSERT INTO actions[\s\S]*aos_audit_append/);
      expect(writes[0]).toMatch(
        /UPDATE anomaly_baselines[^\n]*\n[^\n]*\n[^\n]*WHERE agent_id = \? AND xmin::text = \?/,
      );
      expect(writes[1]).toMatch(/UPDATE actions SET status[\s\S]*aos_audit_append/);
      expect(tx.count).toBe(0);
    } else {
      expect(reads).toHaveLength(3);
      expect(
        reads.map((s) => /FROM (security_epoch|action_sessions|anomaly_baselines)\b/.exec(s)?.[1]),
      ).toEqual(['security_epoch', 'action_sessions', 'anomaly_baselines']);
    }
  });

  /**
   * Runs `between` once, when the next decision written alone is about to be written: after its reads, before its
   * write (only PostgreSQL writes decisions alone).
   */
  const beforeNextDecisionWrite = (between: () => Promise<unknown>) => {
    const audit = t.store.audit;
    const appendAlone = audit.appendAlone.bind(audit);
    let armed = true;
    audit.appendAlone = (async (events, writes, options) => {
      const decided = Array.isArray(events) && events.some((e) => e.type === 'action.decided');
      if (armed && decided) {
        armed = false;
        await between();
      }
      return appendAlone(events, writes, options);
    }) as typeof audit.appendAlone;
    return () => armed;
  };

  /**
   * The agent after two calls (the detector has seen the tool, so the next decision is written alone), with a second
   * store open on the same database as `other`.
   */
  const warmWithAnotherStore = async () => {
    const agent = (await t.store.agents.require('refund-bot')) as Agent;
    await engine.security.current();
    for (const id of ['o-1', 'o-2'])
      await engine.actions.submit(agent, { tool: 'payments.get_order', input: { orderId: id } });
    const store = await t.reopen();
    other = store;
    return { agent, store };
  };

  it('deny a call whose agent was switched off between its reads and its write alone', async (ctx) => {
    if (backend.name !== 'postgres') return ctx.skip();
    const { agent, store } = await warmWithAnotherStore();
    const pending = beforeNextDecisionWrite(() =>
      new KillSwitches(store.db, store.audit).set(
        { scope: 'agent:refund-bot', active: true, reason: 'incident' },
        'operator:test',
      ),
    );
    const view = await engine.actions.submit(agent, {
      tool: 'payments.get_order',
      input: { orderId: 'o-3' },
    });
    expect(pending()).toBe(false);
    // The write alone found the epoch moved, wrote nothing, and the decision was made again in a transaction.
    expect(view).toMatchObject({ status: 'denied', decision: { policies: ['killswitch:agent:refund-bot'] } });
    expect(payments.calls('GET /orders/o-3')).toBe(0);
    const rows = await t.store.db.all("SELECT status FROM actions WHERE input_json LIKE '%o-3%'");
    expect(rows).toEqual([{ status: 'denied' }]);
  });

  it("count both calls in the agent's baseline when another node decided one between a call's reads and its write", async (ctx) => {
    if (backend.name !== 'postgres') return ctx.skip();
    const { agent, store } = await warmWithAnotherStore();
    const second = await supportDeskEngine({ ...t, store }, supportDeskConfig(payments.url));
    try {
      const calls = async () =>
        Number(
          (
            await t.store.db.get<{ calls: number }>(
              "SELECT calls FROM anomaly_baselines WHERE agent_id = 'refund-bot'",
            )
          )?.calls,
        );
      const before = await calls();
      const pending = beforeNextDecisionWrite(() =>
        second.actions.submit(agent, { tool: 'payments.get_order', input: { orderId: 'o-4' } }),
      );
      expect(
        await engine.actions.submit(agent, { tool: 'payments.get_order', input: { orderId: 'o-3' } }),
      ).toMatchObject({
        status: 'succeeded',
      });
      expect(pending()).toBe(false);
      // The first write alone required the baseline's version it read; the other node's call had moved it.
      expect(await calls()).toBe(before + 2);
    } finally {
      await second.close();
    }
  });

  it('see a pause, a kill switch and a quarantine made by another node at the next decision', async () => {
    const agent = (await t.store.agents.require('refund-bot')) as Agent;
    await engine.security.current();
    expect(await read(agent)).toMatchObject({ status: 'succeeded' });
    other = await t.reopen();

    // The caller's copy of the agent says active; the store says paused.
    await other.agents.setStatus('refund-bot', 'pause', 'operator:test');
    await engine.security.current();
    expect(await read(agent)).toMatchObject({
      status: 'denied',
      decision: { policies: ['builtin:agent-paused'] },
    });
    await other.agents.setStatus('refund-bot', 'resume', 'operator:test');
    await engine.security.current();
    expect(await read(agent)).toMatchObject({ status: 'succeeded' });

    // A switch engaged by raw SQL: the database bumps the epoch, not our code.
    await t.raw(
      "INSERT INTO killswitches (scope, active, reason, set_by, set_at) VALUES ('role:support', 1, 'incident', 'x', 'x')",
    );
    expect(await read(agent)).toMatchObject({
      status: 'denied',
      decision: { policies: ['killswitch:role:support'] },
    });
    await engine.security.current(); // a view of the new epoch: the engaged switch is in it
    expect(await read(agent)).toMatchObject({ decision: { policies: ['killswitch:role:support'] } });
    await new KillSwitches(other.db, other.audit).set(
      { scope: 'role:support', active: false },
      'operator:test',
    );
    expect(await read(agent)).toMatchObject({ status: 'succeeded' });

    // Tools do not move the epoch: their pin is read by the decision's statement itself.
    await engine.security.current();
    await t.raw("UPDATE tools SET status = 'quarantined' WHERE name = 'payments.get_order'");
    expect(await read(agent)).toMatchObject({
      status: 'denied',
      decision: { policies: ['builtin:tool-quarantined'] },
    });
  });

  it('read the agent and the switches again once the view is older than the ceiling', async () => {
    vi.useFakeTimers({ toFake: ['Date'] });
    const agent = (await t.store.agents.require('refund-bot')) as Agent;
    await engine.security.current();
    await read(agent);
    const seen = recordTxStatements(t.store.db, { outside: true });
    await read(agent);
    expect(guardReads(seen)).toHaveLength(1);
    vi.setSystemTime(Date.now() + SECURITY_EPOCH_MAX_AGE_MS);
    seen.length = 0;
    await read(agent);
    expect(guardReads(seen)).toHaveLength(3);
  });
});
