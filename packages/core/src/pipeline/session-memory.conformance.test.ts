import { afterEach, beforeEach, describe, expect, it } from 'vitest';
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
import { recordAppendAlone, recordTxStatements } from '../../../../test/helpers/statements.js';

/**
 * The support desk with no call budget (a long session would spend it) and one more read, `payments.read_ticket`,
 * whose output a third party controls.
 */
function config(paymentsUrl: string) {
  return supportDeskConfig(paymentsUrl, (raw) => {
    raw.budgets = [];
    const payments = (raw.connectors as { operations: Record<string, unknown>[] }[])[0];
    payments?.operations.push({
      name: 'read_ticket',
      description: 'Read a customer ticket',
      method: 'GET',
      url: `${paymentsUrl}/orders/{orderId}`,
      headers: { 'x-api-key': '$' + '{secret:payments-api-key}' },
      inputSchema: {
        type: 'object',
        properties: { orderId: { type: 'string' } },
        required: ['orderId'],
        additionalProperties: false,
      },
      annotations: { readOnlyHint: true, openWorldHint: true },
    });
    (raw.tools as Record<string, unknown>)['payments.read_ticket'] = { untrustedOutput: true };
  });
}

describe.each(backends)('session memory on $name', (backend) => {
  let t: TestStore;
  let payments: Payments;
  let engine: Engine;
  let bot: Agent;

  beforeEach(async (ctx) => {
    if (!backend.enabled) return ctx.skip();
    t = await backend.create();
    payments = await startPayments();
    await seedSupportDesk(t);
    engine = await supportDeskEngine(t, config(payments.url));
    bot = (await t.store.agents.require('refund-bot')) as Agent;
  });
  afterEach(async () => {
    await engine?.close();
    await payments?.close();
    await t?.cleanup();
  });

  const refund = (sessionId?: string) =>
    engine.actions.submit(bot, {
      tool: 'payments.refund',
      input: { orderId: 'o-1', amount: 10 },
      ...(sessionId ? { sessionId } : {}),
    });
  const readTicket = (sessionId?: string) =>
    engine.actions.submit(bot, {
      tool: 'payments.read_ticket',
      input: { orderId: 'o-1' },
      ...(sessionId ? { sessionId } : {}),
    });

  it('still remembers an untrusted read after 1,001 harmless calls: the payment is denied', async () => {
    const session = await engine.actions.openSession(bot.id);
    for (let i = 0; i < 1001; i++) {
      const read = await engine.actions.submit(bot, {
        tool: 'payments.get_order',
        input: { orderId: 'o-1' },
        sessionId: session,
      });
      expect(read.status).toBe('succeeded');
    }
    expect((await readTicket(session)).status).toBe('succeeded');
    const pay = await refund(session);
    expect(pay.outcome).toBe('denied');
    expect(pay.decision.policies).toEqual(['no-payments-after-untrusted-input']);
    expect(payments.calls('POST /refunds')).toBe(0);
    const [decided] = await t.store.audit.list({ subject: `action:${pay.id}` });
    expect(decided?.payload).toMatchObject({
      session: {
        readUntrusted: true,
        calls: 1002,
        tools: expect.arrayContaining(['payments.get_order', 'payments.read_ticket']),
      },
    });
  }, 120_000);

  it('counts every call of the session and only succeeded ones as tools used', async () => {
    const session = await engine.actions.openSession(bot.id);
    await engine.actions.submit(bot, {
      tool: 'payments.delete_customer',
      input: { customerId: 'c-1' },
      sessionId: session,
    });
    const next = await engine.actions.submit(bot, {
      tool: 'payments.get_order',
      input: { orderId: 'o-1' },
      sessionId: session,
    });
    const [decided] = await t.store.audit.list({ subject: `action:${next.id}` });
    expect(decided?.payload).toMatchObject({ session: { calls: 1, tools: [], readUntrusted: false } });
  });

  it('keeps the taint when the agent leaves the session out, or names one it was never given', async () => {
    const session = await engine.actions.openSession(bot.id);
    expect((await readTicket(session)).status).toBe('succeeded');
    expect((await refund(session)).outcome).toBe('denied');
    for (const other of [undefined, 's-made-up', `${session}x`]) {
      const pay = await refund(other);
      expect(pay.outcome, `sessionId ${String(other)}`).toBe('denied');
      expect(pay.decision.policies).toEqual(['no-payments-after-untrusted-input']);
    }
    expect(payments.calls('POST /refunds')).toBe(0);
  });

  it('marks the agent scope on an untrusted read made without a session', async () => {
    expect((await readTicket()).status).toBe('succeeded');
    expect((await refund()).outcome).toBe('denied');
    expect((await refund('s-made-up')).outcome).toBe('denied');
  });

  it('starts a session the engine minted clean, and binds it to its agent', async () => {
    expect((await readTicket()).status).toBe('succeeded');
    const fresh = await engine.actions.openSession(bot.id);
    expect(fresh).toMatch(/^ses_[0-9a-f]{24}$/);
    expect((await refund(fresh)).outcome).toBe('allowed');
    // Another agent naming this agent's session gets its own agent scope, not the session.
    const other = await engine.actions.openSession('reader');
    await engine.actions.submit((await t.store.agents.require('reader')) as Agent, {
      tool: 'payments.read_ticket',
      input: { orderId: 'o-1' },
      sessionId: other,
    });
    expect((await refund(other)).outcome).toBe('denied');
  });
  it("opens the engine's own session with its first call: a clean scope, and no statement of its own", async () => {
    // The agent scope is tainted; a workflow run's session, opened by its first call, is not.
    expect((await readTicket()).status).toBe('succeeded');
    const seen = recordTxStatements(t.store.db);
    const system = () =>
      engine.actions.submit(
        bot,
        { tool: 'payments.refund', input: { orderId: 'o-1', amount: 10 }, sessionId: 'wf:run-1' },
        { system: true },
      );
    const first = await system();
    expect(first.outcome).toBe('allowed');
    expect(seen.filter((s) => /INSERT INTO action_sessions[\s\S]*DO NOTHING/.test(s))).toEqual([]);
    const [decided] = await t.store.audit.list({ subject: `action:${first.id}` });
    expect(decided?.payload).toMatchObject({ sessionScope: 'session', session: { calls: 0, tools: [] } });
    const second = await system();
    const [again] = await t.store.audit.list({ subject: `action:${second.id}` });
    expect(again?.payload).toMatchObject({
      sessionScope: 'session',
      session: { calls: 1, tools: ['payments.refund'], readUntrusted: false },
    });
    expect(
      await t.store.db.get(
        'SELECT calls, read_untrusted FROM action_sessions WHERE agent_id = ? AND session_id = ?',
        [bot.id, 'wf:run-1'],
      ),
    ).toEqual({ calls: 2, read_untrusted: 0 });
  });
  it('records what a success teaches the session with its outcome, in one statement that commits by itself', async () => {
    // What a success adds (a tool new to the scope, an untrusted read) depends on no read, so it rides the
    // outcome's write alone: one round trip on PostgreSQL, where a transaction of its own took four.
    const alone = recordAppendAlone(t.store.audit);
    const session = await engine.actions.openSession(bot.id);
    const outcomes = () => alone.filter((w) => w.some((sql) => sql.startsWith('UPDATE actions SET status')));

    expect((await readTicket(session)).status).toBe('succeeded');
    const [untrusted] = outcomes();
    expect(untrusted?.some((sql) => sql.includes('INSERT INTO action_session_tools'))).toBe(true);
    expect(untrusted?.some((sql) => sql.includes('SET read_untrusted = 1'))).toBe(true);
    const tainted = await t.store.db.all<{ session_id: string; read_untrusted: number }>(
      'SELECT session_id, read_untrusted FROM action_sessions WHERE agent_id = ? ORDER BY session_id',
      [bot.id],
    );
    expect(tainted.map((r) => [r.session_id, Number(r.read_untrusted)])).toEqual([
      ['', 1],
      [session, 1],
    ]);
    // A tool new to a clean session, with nothing untrusted read: the tool alone joins the outcome.
    const clean = await engine.actions.openSession(bot.id);
    const order = await engine.actions.submit(bot, {
      tool: 'payments.get_order',
      input: { orderId: 'o-1' },
      sessionId: clean,
    });
    expect(order.status).toBe('succeeded');
    const learned = outcomes()[1];
    expect(learned?.some((sql) => sql.includes('INSERT INTO action_session_tools'))).toBe(true);
    expect(learned?.some((sql) => sql.includes('read_untrusted'))).toBe(false);
    expect(
      (
        await t.store.db.all<{ tool: string }>(
          'SELECT tool FROM action_session_tools WHERE agent_id = ? AND session_id = ? ORDER BY tool',
          [bot.id, clean],
        )
      ).map((r) => r.tool),
    ).toEqual(['payments.get_order']);
  });
  it('writes a tool used once per scope: a success of a tool every scope already lists writes nothing more', async () => {
    const seen = recordTxStatements(t.store.db);
    const toolWrites = () => seen.filter((s) => s.includes('INSERT INTO action_session_tools')).length;
    const read = (sessionId?: string) =>
      engine.actions.submit(bot, {
        tool: 'payments.get_order',
        input: { orderId: 'o-1' },
        ...(sessionId ? { sessionId } : {}),
      });
    const tools = async (sessionId: string) =>
      (
        await t.store.db.all<{ tool: string }>(
          'SELECT tool FROM action_session_tools WHERE agent_id = ? AND session_id = ? ORDER BY tool',
          [bot.id, sessionId],
        )
      ).map((r) => r.tool);

    // No session: the agent scope learns the tool on the first success, and the next ones write nothing.
    for (let i = 0; i < 3; i++) expect((await read()).status).toBe('succeeded');
    expect(toolWrites()).toBe(1);
    // A session the engine opened: the agent scope lists the tool, the session does not yet.
    const session = await engine.actions.openSession(bot.id);
    for (let i = 0; i < 3; i++) expect((await read(session)).status).toBe('succeeded');
    expect(toolWrites()).toBe(2);
    expect(await tools(session)).toEqual(['payments.get_order']);
    // A session the agent named but was never given is decided under the agent scope, yet still written (it may be
    // opened for the agent before the call ends).
    expect((await read('s-named')).status).toBe('succeeded');
    expect(toolWrites()).toBe(3);
    // A session that is new to a tool the agent scope knows is written again; what a policy sees is unchanged.
    const next = await engine.actions.openSession(bot.id);
    expect((await read(next)).status).toBe('succeeded');
    expect(toolWrites()).toBe(4);
    expect(await tools(next)).toEqual(['payments.get_order']);
    expect(await tools('')).toEqual(['payments.get_order']);
    const last = await read(next);
    const [decided] = await t.store.audit.list({ subject: `action:${last.id}` });
    expect(decided?.payload).toMatchObject({ session: { tools: ['payments.get_order'], calls: 1 } });
  });
});
