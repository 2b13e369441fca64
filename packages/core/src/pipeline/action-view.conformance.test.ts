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
import type { Human } from '../identity/humans.js';
import type { ActionRequest, ActionView } from './types.js';

/**
 * The pipeline answers the action it built in memory instead of reading its row back. Whatever the outcome, that
 * answer must be the action as stored: what `get(id)` answers afterwards, and what goes on the wire.
 */
describe.each(backends)('the action answered by the pipeline on $name', (backend) => {
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

  /** The answer as a client receives it (JSON) equals the stored action. */
  async function expectStored(answered: ActionView): Promise<void> {
    const stored = await engine.actions.get(answered.id);
    expect(JSON.parse(JSON.stringify(answered))).toStrictEqual(JSON.parse(JSON.stringify(stored)));
    expect(answered).toEqual(stored);
  }

  const submit = async (request: ActionRequest, who = 'refund-bot') =>
    engine.actions.submit(await agent(who), request);

  it.each<[string, ActionRequest, Partial<ActionView>]>([
    [
      'allowed and succeeded',
      // Keys out of order: the answer holds the canonical input, as the row does.
      { tool: 'payments.refund', input: { amount: 50, orderId: 'o-1' }, reason: 'damaged', confidence: 0.75 },
      { outcome: 'allowed', status: 'succeeded' },
    ],
    [
      'denied',
      { tool: 'payments.delete_customer', input: { customerId: 'c-42' } },
      { outcome: 'denied', status: 'denied' },
    ],
    [
      'held for approval',
      { tool: 'payments.refund', input: { orderId: 'o-2', amount: 300 }, idempotencyKey: 'k-1' },
      { outcome: 'pending_approval', status: 'pending_approval' },
    ],
    [
      'failed upstream',
      { tool: 'payments.reverse_refund', input: { refundId: 'rf_nope' } },
      { outcome: 'allowed', status: 'failed' },
    ],
  ])('is the stored action when %s', async (_label, request, expected) => {
    const a = await submit(request);
    expect(a).toMatchObject(expected);
    await expectStored(a);
  });

  it('is the stored action when answered from the cache', async () => {
    await submit({ tool: 'payments.get_order', input: { orderId: 'o-7' } });
    const b = await submit({ tool: 'payments.get_order', input: { orderId: 'o-7' } });
    expect(b).toMatchObject({ status: 'succeeded', cached: true });
    await expectStored(b);
  });

  it('is the stored action after an approval runs it', async () => {
    const a = await submit({ tool: 'payments.refund', input: { orderId: 'o-3', amount: 300 } });
    await expectStored(a);
    const { action } = await engine.actions.vote({
      approvalId: a.approvalId as string,
      human: await human('frank'),
      vote: 'approve',
    });
    expect(action).toMatchObject({ status: 'succeeded' });
    await expectStored(action as ActionView);
  });

  it.each([
    ['a first use of the tool (a transaction)', false],
    ['a tool the session knows (one statement alone)', true],
  ])(
    'records nothing of an outcome that arrives after the action left executing, and answers the row: %s',
    async (_, known) => {
      // A slow upstream: while the call is out, recovery (here: its update) marks the action unknown_outcome.
      await engine.close();
      await payments.close();
      payments = await startPayments({ delayMs: 600 });
      engine = await supportDeskEngine(t, supportDeskConfig(payments.url));
      // With the tool among those the agent used, the outcome has nothing more to write than its one statement.
      const warm = known ? 1 : 0;
      if (known)
        expect(await submit({ tool: 'payments.get_order', input: { orderId: 'o-90' } })).toMatchObject({
          status: 'succeeded',
        });
      const pending = submit({ tool: 'payments.get_order', input: { orderId: 'o-91' } });
      let row: { id: string } | undefined;
      for (let i = 0; i < 1000 && !row; i++) {
        [row] = (await t.raw("SELECT id FROM actions WHERE status = 'executing'")) as { id: string }[];
        if (!row) await new Promise((r) => setTimeout(r, 5));
      }
      expect(row).toBeDefined();
      const id = (row as { id: string }).id;
      await t.raw("UPDATE actions SET status = 'unknown_outcome' WHERE id = ? AND status = 'executing'", [
        id,
      ]);
      const answered = await pending;
      expect(answered).toMatchObject({ id, status: 'unknown_outcome', result: null });
      await expectStored(answered);
      // No completion record, no cached answer, no tool used in the session: the transaction was rolled back.
      expect(
        await t.raw("SELECT seq FROM audit_log WHERE type = 'action.completed' AND subject = ?", [
          `action:${id}`,
        ]),
      ).toEqual([]);
      const cached = (await t.raw('SELECT input_hash FROM tool_cache WHERE tool = ?', [
        'payments.get_order',
      ])) as unknown[];
      expect(cached).toHaveLength(warm);
      expect(payments.calls('GET /orders/:id')).toBe(1 + warm);
      expect((await t.store.audit.verify()).ok).toBe(true);
      // The next call is not answered from a cache the late outcome would have filled.
      const again = await submit({ tool: 'payments.get_order', input: { orderId: 'o-91' } });
      expect(again).toMatchObject({ status: 'succeeded', cached: false });
      expect(payments.calls('GET /orders/:id')).toBe(2 + warm);
    },
  );
});
