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
import { ForbiddenError, UserError } from '../errors.js';
import type { Agent } from '../identity/agents.js';
import type { Human } from '../identity/humans.js';

describe.each(backends)('pipeline request guards on $name', (backend) => {
  let t: TestStore;
  let payments: Payments;
  let engine: Engine;
  const agent = (id: string) => t.store.agents.require(id) as Promise<Agent>;
  const human = (id: string) => t.store.humans.require(id) as Promise<Human>;
  const count = async (table: string) =>
    Number(((await t.raw(`SELECT COUNT(*) AS n FROM ${table}`)) as { n: number | string }[])[0]?.n);

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

  const refund = async () => {
    const a = await engine.actions.submit(await agent('refund-bot'), {
      tool: 'payments.refund',
      input: { orderId: 'o-1', amount: 50 },
    });
    expect(a.status).toBe('succeeded');
    return a;
  };

  describe('reserved idempotency keys', () => {
    it.each(['undo:act_0123', 'wf:run_1:step:1', 'UNDO:x'])(
      'refuses an agent-supplied key %s, naming the field, and leaves nothing behind',
      async (key) => {
        const err = await engine.actions
          .submit(await agent('refund-bot'), {
            tool: 'payments.get_order',
            input: { orderId: 'o-1' },
            idempotencyKey: key,
          })
          .catch((e: unknown) => e);
        expect(err).toBeInstanceOf(UserError);
        expect((err as UserError).field).toBe('idempotencyKey');
        expect((err as Error).message).toContain('reserved');
        expect(await count('actions')).toBe(0);
      },
    );

    it('lets the owner undo an action whose undo key the agent tried to take', async () => {
      const a = await refund();
      await engine.actions
        .submit(await agent('refund-bot'), {
          tool: 'payments.reverse_refund',
          input: { refundId: 'r-nope' },
          idempotencyKey: `undo:${a.id}`,
        })
        .catch(() => undefined);
      const undo = await engine.actions.undo(a.id, await human('fiona'));
      expect(undo).toMatchObject({ status: 'succeeded', reversalOf: a.id });
      expect(payments.calls('POST /refunds/:id/reverse')).toBe(1);
    });

    it('refuses an agent-supplied workflow session id', async () => {
      const err = await engine.actions
        .submit(await agent('refund-bot'), {
          tool: 'payments.get_order',
          input: { orderId: 'o-1' },
          sessionId: 'wf:run_0123',
        })
        .catch((e: unknown) => e);
      expect((err as UserError).field).toBe('sessionId');
    });
  });

  describe('undo', () => {
    it('does not replay a denied undo: after the agent is resumed, undo runs', async () => {
      const a = await refund();
      await engine.store.agents.setStatus('refund-bot', 'pause', 'operator:test');
      const denied = await engine.actions.undo(a.id, await human('fiona'));
      expect(denied.outcome).toBe('denied');
      await engine.store.agents.setStatus('refund-bot', 'resume', 'operator:test');
      const again = await engine.actions.undo(a.id, await human('fiona'));
      expect(again).toMatchObject({ status: 'succeeded', reversalOf: a.id });
      expect((again as { replayed?: boolean }).replayed).toBeUndefined();
      expect(again.id).not.toBe(denied.id);
      // A succeeded undo is final: asking again replays it.
      const third = await engine.actions.undo(a.id, await human('fiona'));
      expect(third).toMatchObject({ id: again.id, replayed: true });
      expect(payments.calls('POST /refunds/:id/reverse')).toBe(1);
    });

    it.each(['paused', 'revoked'] as const)(
      'lets an admin reverse an action of a %s agent, through the pipeline and audited',
      async (status) => {
        const a = await refund();
        await engine.store.agents.setStatus(
          'refund-bot',
          status === 'paused' ? 'pause' : 'revoke',
          'operator:test',
        );
        const undo = await engine.actions.undo(a.id, await human('ada'), 'agent misbehaved');
        expect(undo).toMatchObject({ status: 'succeeded', reversalOf: a.id, onBehalfOf: 'ada' });
        expect(undo.decision.checks.find((c) => c.name === 'agent-status')).toMatchObject({
          result: 'skip',
        });
        const [decided] = await t.store.audit.list({ subject: `action:${undo.id}` });
        expect(decided).toMatchObject({
          actor: 'human:ada',
          payload: { reversalOf: a.id, onBehalfOf: 'ada', outcome: 'allowed' },
        });
        expect(payments.calls('POST /refunds/:id/reverse')).toBe(1);
      },
    );

    it("still denies the owner's undo of a paused agent's action, and an admin's under a kill switch", async () => {
      const a = await refund();
      await engine.store.agents.setStatus('refund-bot', 'pause', 'operator:test');
      expect((await engine.actions.undo(a.id, await human('fiona'))).outcome).toBe('denied');
      await engine.store.agents.setStatus('refund-bot', 'resume', 'operator:test');
      await engine.killSwitches.set({ scope: 'global', active: true }, 'human:ada');
      expect((await engine.actions.undo(a.id, await human('ada'))).outcome).toBe('denied');
      expect(payments.calls('POST /refunds/:id/reverse')).toBe(0);
    });
  });

  describe('onBehalfOf', () => {
    const onBehalf = async (who: string) =>
      engine.actions.submit(await agent('refund-bot'), {
        tool: 'payments.get_order',
        input: { orderId: 'o-1' },
        onBehalfOf: who,
      });

    it.each([
      ['nobody-here', UserError],
      ['reader', UserError],
      ['olivia', ForbiddenError],
    ] as const)('refuses %s before deciding', async (who, kind) => {
      const err = await onBehalf(who).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(kind);
      expect((err as Error).message).toContain('onBehalfOf');
      expect(await count('actions')).toBe(0);
    });

    it('accepts the agent owner and humans in its acts-for groups', async () => {
      await t.store.humans.add({ id: 'sam', groups: ['acts-for:refund-bot'] }, 'operator:test');
      await t.store.humans.add({ id: 'sue', groups: ['acts-for:role:support'] }, 'operator:test');
      for (const who of ['fiona', 'sam', 'sue']) {
        expect((await onBehalf(who)).onBehalfOf).toBe(who);
      }
    });
  });

  describe('well-formed input', () => {
    it.each([
      ['a lone high surrogate', 'r-\uD800'],
      ['a lone low surrogate', '\uDC00x'],
    ])('refuses %s in a path parameter before deciding, with no budget spent', async (_what, refundId) => {
      const err = await engine.actions
        .submit(await agent('refund-bot'), { tool: 'payments.reverse_refund', input: { refundId } })
        .catch((e: unknown) => e);
      expect(err).toBeInstanceOf(UserError);
      expect((err as UserError).field).toBe('input.refundId');
      expect(await count('actions')).toBe(0);
      expect(await count('budget_usage')).toBe(0);
    });

    it('refuses a lone surrogate deep in the input and in the reason', async () => {
      const deep = await engine.actions
        .submit(await agent('refund-bot'), {
          tool: 'payments.refund',
          input: { orderId: 'o-1', amount: 5, note: 'ok \uD83D' },
        })
        .catch((e: unknown) => e);
      expect((deep as UserError).field).toBe('input.note');
      const reason = await engine.actions
        .submit(await agent('refund-bot'), {
          tool: 'payments.get_order',
          input: { orderId: 'o-1' },
          reason: 'why \uDFFF',
        })
        .catch((e: unknown) => e);
      expect((reason as UserError).field).toBe('reason');
    });

    it('accepts a well-formed astral character', async () => {
      const a = await engine.actions.submit(await agent('refund-bot'), {
        tool: 'payments.refund',
        input: { orderId: 'o-1', amount: 5, note: 'thanks 😀' },
      });
      expect(a.status).toBe('succeeded');
    });
  });
});
