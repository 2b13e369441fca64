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
import { ConflictError, ForbiddenError, NotFoundError, UserError } from '../errors.js';
import type { Agent } from '../identity/agents.js';
import type { Human } from '../identity/humans.js';
import { buildReceipt } from './receipt.js';
import { recordTxStatements } from '../../../../test/helpers/statements.js';

describe.each(backends)('action pipeline on $name', (backend) => {
  let t: TestStore;
  let payments: Payments;
  let engine: Engine;
  const agent = (id: string) => t.store.agents.require(id) as Promise<Agent>;
  const human = (id: string) => t.store.humans.require(id) as Promise<Human>;

  beforeEach(async (ctx) => {
    if (!backend.enabled) return ctx.skip();
    t = await backend.create();
    payments = await startPayments();
    await seedSupportDesk(t);
    engine = await supportDeskEngine(t, supportDeskConfig(payments.url));
  });
  afterEach(async () => {
    await engine?.close();
    await payments?.close();
    await t?.cleanup();
  });

  it('allows a read tool and returns the upstream result', async () => {
    const a = await engine.actions.submit(await agent('refund-bot'), {
      tool: 'payments.get_order',
      input: { orderId: 'o-1' },
    });
    expect(a).toMatchObject({ outcome: 'allowed', status: 'succeeded' });
    expect(a.result?.structuredContent).toMatchObject({ orderId: 'o-1', total: 420 });
    expect(a.decision.policies).toEqual(['support-read']);
    expect(payments.calls('GET /orders/:id')).toBe(1);
  });

  it('allows a refund under the threshold and executes it once', async () => {
    const a = await engine.actions.submit(await agent('refund-bot'), {
      tool: 'payments.refund',
      input: { orderId: 'o-1', amount: 50 },
    });
    expect(a).toMatchObject({ outcome: 'allowed', status: 'succeeded' });
    expect(a.decision.policies).toEqual(['support-refunds']);
    expect(payments.calls('POST /refunds')).toBe(1);
  });

  it('holds a refund over the threshold for a finance approver, then runs it once', async () => {
    const a = await engine.actions.submit(await agent('refund-bot'), {
      tool: 'payments.refund',
      input: { orderId: 'o-2', amount: 300 },
      reason: 'parcel lost',
      confidence: 0.9,
    });
    expect(a).toMatchObject({ outcome: 'pending_approval', status: 'pending_approval' });
    expect(payments.calls('POST /refunds')).toBe(0);
    const approval = await engine.approvals.require(a.approvalId as string);
    expect(approval).toMatchObject({
      group: 'approvers:finance',
      quorum: 1,
      status: 'pending',
      barOwner: true,
    });
    expect(approval.evidence).toMatchObject({
      reason: 'parcel lost',
      confidence: 0.9,
      input: { orderId: 'o-2', amount: 300 },
    });
    const { action } = await engine.actions.vote({
      approvalId: approval.id,
      human: await human('frank'),
      vote: 'approve',
    });
    expect(action).toMatchObject({ status: 'succeeded' });
    expect(payments.calls('POST /refunds')).toBe(1);
    const receipt = await buildReceipt({ ...engine, audit: t.store.audit }, a.id);
    expect(receipt.approval?.votes).toMatchObject([{ human: 'frank', vote: 'approve' }]);
    expect(receipt.policy.policies).toEqual(['support-refunds', 'large-refund']);
    expect(receipt.reversal).toMatchObject({ available: true, tool: 'payments.reverse_refund' });
    expect(receipt.audit.map((r) => r.type)).toEqual([
      'action.decided',
      'approval.requested',
      'approval.approved_by',
      'approval.approved',
      'action.completed',
    ]);
    expect((await t.store.audit.verify()).ok).toBe(true);
  });

  it('denies a forbidden tool without calling the upstream', async () => {
    const a = await engine.actions.submit(await agent('refund-bot'), {
      tool: 'payments.delete_customer',
      input: { customerId: 'c-42' },
    });
    expect(a).toMatchObject({ outcome: 'denied', status: 'denied' });
    expect(a.decision.policies).toEqual(['no-customer-deletion']);
    expect(payments.calls('DELETE /customers/:id')).toBe(0);
  });

  it('denies a refund above every permit (default deny)', async () => {
    const a = await engine.actions.submit(await agent('refund-bot'), {
      tool: 'payments.refund',
      input: { orderId: 'o-1', amount: 900 },
    });
    expect(a.decision.policies).toEqual(['builtin:default-deny']);
  });

  it('never lets a tier-0 agent write, and turns tier-1 writes into proposals', async () => {
    const denied = await engine.actions.submit(await agent('reader'), {
      tool: 'payments.refund',
      input: { orderId: 'o-1', amount: 5 },
    });
    expect(denied).toMatchObject({ outcome: 'denied' });
    expect(denied.decision.policies).toEqual(['builtin:tier-0-read-only']);
    const proposal = await engine.actions.submit(await agent('intern'), {
      tool: 'payments.refund',
      input: { orderId: 'o-1', amount: 5 },
    });
    expect(proposal).toMatchObject({ outcome: 'pending_approval' });
    expect((await engine.approvals.require(proposal.approvalId as string)).group).toBe(
      'approvers:support-leads',
    );
    expect(payments.calls('POST /refunds')).toBe(0);
  });

  it('refuses a paused agent, a killed role and the global switch, each recorded', async () => {
    const bot = await agent('refund-bot');
    await t.store.agents.setStatus('refund-bot', 'pause', 'operator:test');
    const paused = await engine.actions.submit(bot, {
      tool: 'payments.get_order',
      input: { orderId: 'o-1' },
    });
    expect(paused.decision.policies).toEqual(['builtin:agent-paused']);
    await t.store.agents.setStatus('refund-bot', 'resume', 'operator:test');
    await engine.killSwitches.set(
      { scope: 'role:support', active: true, reason: 'incident 42' },
      'human:ada',
    );
    const killed = await engine.actions.submit(bot, {
      tool: 'payments.get_order',
      input: { orderId: 'o-1' },
    });
    expect(killed.decision.policies).toEqual(['killswitch:role:support']);
    await engine.killSwitches.set({ scope: 'role:support', active: false }, 'human:ada');
    await engine.killSwitches.set({ scope: 'global', active: true }, 'human:ada');
    expect(
      (await engine.actions.submit(bot, { tool: 'payments.get_order', input: { orderId: 'o-1' } })).outcome,
    ).toBe('denied');
    await engine.killSwitches.set({ scope: 'global', active: false }, 'human:ada');
    expect(
      (await engine.actions.submit(bot, { tool: 'payments.get_order', input: { orderId: 'o-1' } })).outcome,
    ).toBe('allowed');
    expect(payments.calls('GET /orders/:id')).toBe(1);
    const types = (await t.store.audit.list({ type: 'action.decided', limit: 100 })).length;
    expect(types).toBe(4);
  });

  describe('approvals refuse', () => {
    let approvalId: string;
    beforeEach(async () => {
      // A finance approver the agent acts for: as the requester, they may not approve.
      await t.store.humans.add(
        { id: 'rita', groups: ['approvers:finance', 'acts-for:refund-bot'] },
        'operator:test',
      );
      const a = await engine.actions.submit(await agent('refund-bot'), {
        tool: 'payments.refund',
        input: { orderId: 'o-3', amount: 250 },
        onBehalfOf: 'rita',
      });
      approvalId = a.approvalId as string;
    });

    it('an approval with changed arguments', async () => {
      const err = await engine.actions
        .vote({
          approvalId,
          human: await human('lena'),
          vote: 'approve',
          input: { orderId: 'o-3', amount: 2500 },
        })
        .catch((e: unknown) => e);
      expect(err).toBeInstanceOf(ConflictError);
      const err2 = await engine.actions
        .vote({ approvalId, human: await human('lena'), vote: 'approve', bindingHash: 'f'.repeat(64) })
        .catch((e: unknown) => e);
      expect(err2).toBeInstanceOf(ConflictError);
    });

    it('the requester approving their own request', async () => {
      await expect(
        engine.actions.vote({ approvalId, human: await human('rita'), vote: 'approve' }),
      ).rejects.toBeInstanceOf(ForbiddenError);
    });

    it("the agent's owner where policy bars them", async () => {
      await expect(
        engine.actions.vote({ approvalId, human: await human('fiona'), vote: 'approve' }),
      ).rejects.toThrow(/bars the agent's owner/);
    });

    it('someone outside the approver group', async () => {
      await expect(
        engine.actions.vote({ approvalId, human: await human('olivia'), vote: 'approve' }),
      ).rejects.toThrow(/not in approvers:finance/);
    });

    it('an expired request, which escalates and finally denies, never approves', async () => {
      const later = Date.now() + 3_601_000;
      expect((await engine.approvals.sweep(later)).escalated).toEqual([approvalId]);
      const escalated = await engine.approvals.require(approvalId);
      expect(escalated).toMatchObject({ group: 'approvers:finance-leads', level: 1, status: 'pending' });
      const { expired } = await engine.approvals.sweep(later + 3_601_000);
      expect(expired.map((e) => e.approvalId)).toEqual([approvalId]);
      const action = await engine.actions.require(String(escalated.actionId));
      expect(action.status).toBe('expired');
      await expect(
        engine.actions.vote({ approvalId, human: await human('lena'), vote: 'approve' }),
      ).rejects.toBeInstanceOf(ConflictError);
      expect(payments.calls('POST /refunds')).toBe(0);
    });

    it('a second decision after the first', async () => {
      await engine.actions.vote({
        approvalId,
        human: await human('fay'),
        vote: 'deny',
        comment: 'no receipt',
      });
      await expect(
        engine.actions.vote({ approvalId, human: await human('frank'), vote: 'approve' }),
      ).rejects.toBeInstanceOf(ConflictError);
      expect((await engine.approvals.require(approvalId)).status).toBe('denied');
    });
  });

  it('executes exactly once when two approvers race', async () => {
    const a = await engine.actions.submit(await agent('refund-bot'), {
      tool: 'payments.refund',
      input: { orderId: 'o-9', amount: 200 },
    });
    const [frank, fay] = [await human('frank'), await human('fay')];
    const results = await Promise.allSettled([
      engine.actions.vote({ approvalId: a.approvalId as string, human: frank, vote: 'approve' }),
      engine.actions.vote({ approvalId: a.approvalId as string, human: fay, vote: 'approve' }),
    ]);
    expect(results.map((r) => r.status).sort()).toEqual(['fulfilled', 'rejected']);
    expect((results.find((r) => r.status === 'rejected') as PromiseRejectedResult).reason).toBeInstanceOf(
      ConflictError,
    );
    expect(payments.calls('POST /refunds')).toBe(1);
    expect((await engine.actions.require(a.id)).status).toBe('succeeded');
  });

  it('lets exactly 10 of 100 concurrent calls through a budget of 10 calls', async () => {
    await engine.close();
    engine = await supportDeskEngine(
      t,
      supportDeskConfig(payments.url, (raw) => {
        raw.budgets = [{ scope: 'agent:refund-bot', period: 'day', calls: 10, onExceed: 'deny' }];
      }),
    );
    const nodes = [engine, ...(t.schema ? [await supportDeskEngine(t, engine.config)] : [])];
    const bot = await agent('refund-bot');
    const results = await Promise.all(
      Array.from({ length: 100 }, (_, i) =>
        (nodes[i % nodes.length] as Engine).actions.submit(bot, {
          tool: 'payments.refund',
          input: { orderId: `o-${i}`, amount: 10 },
        }),
      ),
    );
    for (const n of nodes.slice(1)) await n.close();
    expect(results.filter((r) => r.status === 'succeeded')).toHaveLength(10);
    expect(
      results
        .filter((r) => r.outcome === 'denied')
        .every((r) => r.decision.policies[0] === 'budget:agent:refund-bot/day'),
    ).toBe(true);
    expect(payments.calls('POST /refunds')).toBe(10);
    expect((await t.store.audit.list({ type: 'budget.alert' })).length).toBe(1);
  });

  it("charges a quiet call's budget in the decision's write, and takes the long way to raise the alert", async () => {
    await engine.close();
    engine = await supportDeskEngine(
      t,
      supportDeskConfig(payments.url, (raw) => {
        raw.budgets = [{ scope: 'agent:refund-bot', period: 'day', calls: 5, onExceed: 'deny' }];
      }),
    );
    const bot = await agent('refund-bot');
    const refund = (i: number) =>
      engine.actions.submit(bot, { tool: 'payments.refund', input: { orderId: `o-${i}`, amount: 10 } });
    for (const i of [1, 2]) expect(await refund(i)).toMatchObject({ status: 'succeeded' });
    const seen = recordTxStatements(t.store.db, { outside: true });
    expect(await refund(3)).toMatchObject({ status: 'succeeded' });
    const charges = seen.filter((s) => /budget_usage/.test(s));
    // One statement charges it, with the action's row (PostgreSQL: the same statement), and reads nothing first.
    expect(charges).toHaveLength(1);
    expect(charges[0]).not.toMatch(/RETURNING calls|SELECT[^(]*FROM budget_usage/);
    if (backend.name === 'postgres') expect(charges[0]).toMatch(/INSERT INTO actions/);
    // The fourth call reaches 80%: its quiet charge changes nothing, so the decision is made again the long way,
    // which raises the alert once; the fifth fits; the sixth is over.
    expect(await refund(4)).toMatchObject({ status: 'succeeded' });
    expect(await refund(5)).toMatchObject({ status: 'succeeded' });
    expect(await refund(6)).toMatchObject({
      status: 'denied',
      decision: { policies: ['budget:agent:refund-bot/day'] },
    });
    expect(await t.store.audit.list({ type: 'budget.alert' })).toHaveLength(1);
    expect(await t.store.db.all('SELECT calls FROM budget_usage')).toEqual([{ calls: 5 }]);
    expect(payments.calls('POST /refunds')).toBe(5);
    expect(await t.store.db.all("SELECT id FROM actions WHERE tool = 'payments.refund'")).toHaveLength(6);
  });

  it("delivers one node's events to the others on PostgreSQL", async (ctx) => {
    if (backend.name !== 'postgres') return ctx.skip();
    const other = await supportDeskEngine(t, engine.config);
    try {
      const seen: string[] = [];
      other.events.subscribe((e) => seen.push(e.type));
      await engine.actions.submit(await agent('refund-bot'), {
        tool: 'payments.refund',
        input: { orderId: 'o-1', amount: 300 },
      });
      for (let i = 0; i < 100 && !seen.includes('approval.requested'); i++)
        await new Promise((r) => setTimeout(r, 20));
      expect(seen).toEqual(expect.arrayContaining(['action.pending_approval', 'approval.requested']));
    } finally {
      await other.close();
    }
  });

  it('closes an engine cleanly when it is closed twice', async () => {
    const other = await supportDeskEngine(t, engine.config);
    await other.close();
    await expect(other.close()).resolves.toBeUndefined();
  });

  it('honours a kill switch engaged on another node from its next action', async () => {
    const other = await supportDeskEngine(t, engine.config);
    try {
      const bot = await agent('refund-bot');
      expect(
        (await other.actions.submit(bot, { tool: 'payments.get_order', input: { orderId: 'o-1' } })).outcome,
      ).toBe('allowed');
      await engine.killSwitches.set(
        { scope: 'agent:refund-bot', active: true, reason: 'drill' },
        'human:ada',
      );
      const next = await other.actions.submit(bot, { tool: 'payments.get_order', input: { orderId: 'o-2' } });
      expect(next.decision.policies).toEqual(['killswitch:agent:refund-bot']);
      expect(payments.calls('GET /orders/:id')).toBe(1);
    } finally {
      await other.close();
    }
  });

  it('returns the first result for a repeated idempotency key and refuses it for another request', async () => {
    const bot = await agent('refund-bot');
    const first = await engine.actions.submit(bot, {
      tool: 'payments.refund',
      input: { orderId: 'o-1', amount: 20 },
      idempotencyKey: 'k1',
    });
    const again = await engine.actions.submit(bot, {
      tool: 'payments.refund',
      input: { orderId: 'o-1', amount: 20 },
      idempotencyKey: 'k1',
    });
    expect(again).toMatchObject({ id: first.id, replayed: true, status: 'succeeded' });
    // A replay is found by the decision's own reads (one statement on PostgreSQL) and writes nothing.
    const records = (await t.store.audit.list({ limit: 1000 })).length;
    const seen = recordTxStatements(t.store.db, { outside: true });
    expect(
      await engine.actions.submit(bot, {
        tool: 'payments.refund',
        input: { orderId: 'o-1', amount: 20 },
        idempotencyKey: 'k1',
      }),
    ).toMatchObject({ id: first.id, replayed: true });
    expect(seen.filter((s) => /^\s*(WITH aos_w|INSERT|UPDATE|DELETE)\b|aos_audit_append/.test(s))).toEqual(
      [],
    );
    expect(seen.filter((s) => /idempotency_key = \?/.test(s))).toHaveLength(1);
    if (backend.name === 'postgres') expect(seen).toHaveLength(1);
    expect(await t.store.audit.list({ limit: 1000 })).toHaveLength(records);
    await expect(
      engine.actions.submit(bot, {
        tool: 'payments.refund',
        input: { orderId: 'o-1', amount: 21 },
        idempotencyKey: 'k1',
      }),
    ).rejects.toBeInstanceOf(ConflictError);
    expect(payments.calls('POST /refunds')).toBe(1);
  });

  it.each([
    ['an unknown tool', { tool: 'payments.launch_rocket', input: {} }, NotFoundError, 'tool'],
    [
      'input failing the schema',
      { tool: 'payments.refund', input: { orderId: 'o-1', amount: -5 } },
      UserError,
      'input.amount',
    ],
    ['a missing field', { tool: 'payments.refund', input: { orderId: 'o-1' } }, UserError, 'input.amount'],
    [
      'an extra field',
      { tool: 'payments.refund', input: { orderId: 'o-1', amount: 1, to: 'me' } },
      UserError,
      'input.to',
    ],
    [
      'confidence out of range',
      { tool: 'payments.get_order', input: { orderId: 'o-1' }, confidence: 7 },
      UserError,
      'confidence',
    ],
    [
      'an unknown request field',
      { tool: 'payments.get_order', input: { orderId: 'o-1' }, sudo: true },
      UserError,
      'sudo',
    ],
  ])('rejects %s naming the field and leaves nothing behind', async (_n, request, type, field) => {
    const err = await engine.actions
      .submit(await agent('refund-bot'), request as never)
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(type);
    expect((err as UserError).field).toBe(field);
    expect(await engine.actions.list()).toEqual([]);
    expect(Object.keys(payments.state.calls)).toEqual([]);
  });

  it('answers repeated idempotent reads from the cache, still decided and audited', async () => {
    const bot = await agent('refund-bot');
    const a = await engine.actions.submit(bot, { tool: 'payments.get_order', input: { orderId: 'o-7' } });
    const b = await engine.actions.submit(bot, { tool: 'payments.get_order', input: { orderId: 'o-7' } });
    expect(b).toMatchObject({ status: 'succeeded', cached: true });
    expect(b.result).toEqual(a.result);
    expect(payments.calls('GET /orders/:id')).toBe(1);
    expect((await t.store.audit.list({ subject: `action:${b.id}` })).map((r) => r.type)).toEqual([
      'action.decided',
    ]);
  });

  it('undoes a refund through the pipeline with its registered reversal', async () => {
    const a = await engine.actions.submit(await agent('refund-bot'), {
      tool: 'payments.refund',
      input: { orderId: 'o-1', amount: 40 },
    });
    const undo = await engine.actions.undo(a.id, await human('ada'));
    expect(undo).toMatchObject({
      tool: 'payments.reverse_refund',
      status: 'succeeded',
      reversalOf: a.id,
      input: { refundId: 'rf_1' },
    });
    expect(payments.calls('POST /refunds/:id/reverse')).toBe(1);
    const receipt = await buildReceipt({ ...engine, audit: t.store.audit }, a.id);
    expect(receipt.reversal.reversedBy).toEqual([undo.id]);
  });

  it('blocks writes to payments after the session read untrusted content', async () => {
    await engine.close();
    engine = await supportDeskEngine(
      t,
      supportDeskConfig(payments.url, (raw) => {
        (raw.tools as Record<string, unknown>)['payments.get_order'] = { untrustedOutput: true };
      }),
    );
    const bot = await agent('refund-bot');
    const s1 = await engine.actions.openSession(bot.id);
    const before = await engine.actions.submit(bot, {
      tool: 'payments.refund',
      input: { orderId: 'o-1', amount: 10 },
      sessionId: s1,
    });
    expect(before.outcome).toBe('allowed');
    await engine.actions.submit(bot, {
      tool: 'payments.get_order',
      input: { orderId: 'o-1' },
      sessionId: s1,
    });
    const after = await engine.actions.submit(bot, {
      tool: 'payments.refund',
      input: { orderId: 'o-1', amount: 10 },
      sessionId: s1,
    });
    expect(after.decision.policies).toEqual(['no-payments-after-untrusted-input']);
    // Another session the engine opened starts clean.
    const otherSession = await engine.actions.submit(bot, {
      tool: 'payments.refund',
      input: { orderId: 'o-1', amount: 10 },
      sessionId: await engine.actions.openSession(bot.id),
    });
    expect(otherSession.outcome).toBe('allowed');
  });

  it('records the policy version and every check in the decision', async () => {
    const a = await engine.actions.submit(await agent('refund-bot'), {
      tool: 'payments.get_order',
      input: { orderId: 'o-1' },
    });
    expect(a.policyHash).toBe(engine.policies().hash);
    expect(a.decision.checks.map((c) => c.name)).toEqual([
      'agent-status',
      'kill-switch',
      'tool-pin',
      'input-schema',
      'environment',
      'tier',
      'policy',
      'approval-rules',
      'budget',
    ]);
    const [decided] = await t.store.audit.list({ subject: `action:${a.id}` });
    expect(decided?.payload).toMatchObject({
      policyHash: a.policyHash,
      policies: ['support-read'],
      outcome: 'allowed',
    });
  });
});
