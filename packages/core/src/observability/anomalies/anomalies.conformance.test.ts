import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { backends } from '../../../../../test/helpers/backends.js';
import type { TestStore } from '../../../../../test/helpers/backends.js';
import {
  seedSupportDesk,
  startPayments,
  supportDeskConfig,
  supportDeskEngine,
} from '../../../../../test/helpers/support-desk.js';
import type { Payments } from '../../../../../test/helpers/support-desk.js';
import { createEngine } from '../../engine.js';
import type { Engine } from '../../engine.js';
import type { AosEvent } from '../../events/event-bus.js';
import type { Agent } from '../../identity/agents.js';
import type { ActionView } from '../../pipeline/types.js';
import { EnvSecretStore } from '../../secrets/index.js';
import { PAYMENTS_KEY } from '../../../../../test/helpers/support-desk.js';

const MINUTE = 60_000;

describe.each(backends)('anomaly detection on $name', (backend) => {
  let t: TestStore;
  let payments: Payments;
  let engine: Engine;
  let now: number;
  let events: AosEvent[];

  beforeAll(async () => {
    if (backend.enabled) payments = await startPayments();
  });
  afterAll(async () => {
    await payments?.close();
  });

  /** The support desk with refund-bot in `mode`, a one-hour warm-up and a synthetic clock. */
  async function start(mode: 'alert' | 'approval' | 'pause', getOrder: Record<string, unknown> = {}) {
    t = await backend.create();
    await seedSupportDesk(t);
    const config = supportDeskConfig(payments.url, (raw) => {
      raw.budgets = [];
      raw.tools = { ...(raw.tools as object), 'payments.get_order': getOrder };
      raw.anomalies = { warmupPeriod: '1h', agents: { 'refund-bot': { mode } } };
    });
    now = Date.parse('2026-11-02T09:00:00Z');
    engine = await createEngine({
      store: t.store,
      config,
      secrets: new EnvSecretStore({ env: { AOS_SECRET_PAYMENTS_API_KEY: PAYMENTS_KEY } }),
      clock: () => now,
    });
    await engine.start({ background: false });
    events = [];
    engine.events.subscribe((e) => events.push(e));
    return (await t.store.agents.require('refund-bot')) as Agent;
  }

  /** 90 minutes of ordinary work: two order look-ups a minute. */
  async function warmUp(bot: Agent) {
    for (let m = 0; m < 90; m++) {
      for (const s of [5_000, 35_000]) {
        now = Date.parse('2026-11-02T09:00:00Z') + m * MINUTE + s;
        const a = await engine.actions.submit(bot, {
          tool: 'payments.get_order',
          input: { orderId: `o-${m}` },
        });
        expect(a.status, JSON.stringify(a.decision.reasons)).toBe('succeeded');
      }
    }
    now = Date.parse('2026-11-02T10:31:00Z');
  }

  beforeEach((ctx) => {
    if (!backend.enabled) ctx.skip();
  });
  afterEach(async () => {
    await engine?.close();
    await t?.cleanup();
  });

  it('pauses an agent on the first call of a new high-risk tool; its next call is refused before it runs', async () => {
    const bot = await start('pause');
    await warmUp(bot);
    const refundsBefore = payments.calls('POST /refunds');
    const first = await engine.actions.submit(bot, {
      tool: 'payments.refund',
      input: { orderId: 'o-1', amount: 10 },
    });
    expect(first.status).toBe('denied');
    expect(first.decision.policies).toContain('builtin:anomaly');
    expect((await t.store.agents.require('refund-bot')).status).toBe('paused');
    const next = await engine.actions.submit(bot, {
      tool: 'payments.refund',
      input: { orderId: 'o-2', amount: 10 },
    });
    expect(next.status).toBe('denied');
    expect(next.decision.policies).toEqual(['builtin:agent-paused']);
    expect(payments.calls('POST /refunds')).toBe(refundsBefore);
    const detected = events.filter((e) => e.type === 'anomaly.detected');
    expect(detected.map((e) => e.data.kind)).toEqual(['new_tool']);
    expect(detected[0]?.data).toMatchObject({
      agentId: 'refund-bot',
      tool: 'payments.refund',
      mode: 'pause',
      baseline: { calls: 180, tool: 'never used' },
      observed: { tool: 'payments.refund' },
    });
    expect(events.some((e) => e.type === 'agent.paused')).toBe(true);
    const audited = await engine.store.audit.list({ type: 'anomaly.detected' });
    expect(audited).toHaveLength(1);
  });

  it('flags a rate of 20x the baseline on the call that reaches the threshold, and pauses before the next runs', async () => {
    const bot = await start('pause');
    await warmUp(bot);
    const statuses: string[] = [];
    // 40 calls in one minute: 20x the two a minute the agent's history shows. The threshold is 10x, 20 calls.
    for (let i = 0; i < 40; i++) {
      now = Date.parse('2026-11-02T10:31:00Z') + i * 1000;
      const a = await engine.actions.submit(bot, {
        tool: 'payments.get_order',
        input: { orderId: `b-${i}` },
      });
      statuses.push(a.status);
      if (a.status === 'denied') break;
    }
    expect(statuses.filter((s) => s === 'succeeded')).toHaveLength(19);
    expect(statuses.at(-1)).toBe('denied');
    const [spike] = events.filter((e) => e.type === 'anomaly.detected');
    expect(spike?.data).toMatchObject({
      kind: 'rate_spike',
      baseline: { meanCallsPerWindow: 2, threshold: 20 },
      observed: { callsThisWindow: 20 },
    });
    const after = await engine.actions.submit(bot, { tool: 'payments.get_order', input: { orderId: 'x' } });
    expect(after.decision.policies).toEqual(['builtin:agent-paused']);
  });

  it('in approval mode holds the next writes for a human instead', async () => {
    const bot = await start('approval');
    await warmUp(bot);
    const first = await engine.actions.submit(bot, {
      tool: 'payments.refund',
      input: { orderId: 'o-1', amount: 10 },
    });
    expect(first.status).toBe('pending_approval');
    expect(first.decision.policies).toContain('builtin:anomaly-hold');
    const read = await engine.actions.submit(bot, { tool: 'payments.get_order', input: { orderId: 'r' } });
    expect(read.status).toBe('succeeded');
    expect((await t.store.agents.require('refund-bot')).status).toBe('active');
  });

  // Ten denials (a forbidden deletion) or ten failed calls (no such refund: the upstream answers 404, a tool error)
  // in twenty seconds after a quiet warm-up.
  it.each([
    {
      kind: 'denial_spike',
      what: 'the denial',
      tool: 'payments.delete_customer',
      input: (i: number) => ({ customerId: `c-${i}` }),
      check: (a: ActionView) => expect(a.decision.policies).toContain('no-customer-deletion'),
    },
    {
      kind: 'failure_spike',
      what: 'the failed call',
      tool: 'payments.reverse_refund',
      input: (i: number) => ({ refundId: `rf-missing-${i}` }),
      check: (a: ActionView) => expect(a.status).toBe('failed'),
    },
  ])('raises a $kind once, on $what that reaches the floor, and only alerts in alert mode', async (c) => {
    const bot = await start('alert');
    await warmUp(bot);
    for (let i = 0; i < 12; i++) {
      now = Date.parse('2026-11-02T10:31:00Z') + i * 2000;
      c.check(await engine.actions.submit(bot, { tool: c.tool, input: c.input(i) }));
      const spikes = events.filter((e) => e.type === 'anomaly.detected' && e.data.kind === c.kind);
      expect(spikes).toHaveLength(i >= 9 ? 1 : 0);
    }
    expect(events.filter((e) => e.type === 'anomaly.detected').map((e) => e.data.kind)).toEqual([
      'new_tool',
      c.kind,
    ]);
    expect((await t.store.agents.require('refund-bot')).status).toBe('active');
  });

  it("flags the first touch of a resource the agent never touched, by the tool's resource argument", async () => {
    const bot = await start('alert', { resource: 'orderId' });
    // 90 minutes of work on the same three orders.
    for (let m = 0; m < 90; m++) {
      for (const s of [5_000, 35_000]) {
        now = Date.parse('2026-11-02T09:00:00Z') + m * MINUTE + s;
        await engine.actions.submit(bot, { tool: 'payments.get_order', input: { orderId: `o-${m % 3}` } });
      }
    }
    now = Date.parse('2026-11-02T10:31:00Z');
    const seen = await engine.actions.submit(bot, { tool: 'payments.get_order', input: { orderId: 'o-1' } });
    expect(seen.status).toBe('succeeded');
    expect(events.filter((e) => e.type === 'anomaly.detected')).toEqual([]);
    const fresh = await engine.actions.submit(bot, {
      tool: 'payments.get_order',
      input: { orderId: 'o-999' },
    });
    expect(fresh.status).toBe('succeeded'); // alert mode: raised, not stopped
    const detected = events.filter((e) => e.type === 'anomaly.detected');
    expect(detected.map((e) => e.data)).toEqual([
      expect.objectContaining({
        kind: 'new_resource',
        tool: 'payments.get_order',
        mode: 'alert',
        baseline: { calls: 181, since: expect.any(String) as string, resource: 'never used' },
        observed: { resource: 'o-999' },
        actionId: fresh.id,
      }),
    ]);
    // Once touched, it is known: the same order again raises nothing more.
    await engine.actions.submit(bot, { tool: 'payments.get_order', input: { orderId: 'o-999' } });
    expect(events.filter((e) => e.type === 'anomaly.detected')).toHaveLength(1);
  });

  it('raises nothing during warm-up, whatever the agent does', async () => {
    const bot = await start('pause');
    for (let i = 0; i < 30; i++) {
      now = Date.parse('2026-11-02T03:00:00Z') + i * 500;
      await engine.actions.submit(bot, { tool: 'payments.refund', input: { orderId: `w-${i}`, amount: 1 } });
    }
    expect(events.filter((e) => e.type === 'anomaly.detected')).toEqual([]);
    expect((await t.store.agents.require('refund-bot')).status).toBe('active');
  });
});

// The helper engine (no synthetic clock) must keep working with detection on: a smoke check of the default path.
describe('anomaly detection defaults', () => {
  it('records a baseline row per agent as actions are decided', async () => {
    const t = await backends[0]!.create();
    const payments = await startPayments();
    try {
      await seedSupportDesk(t);
      const engine = await supportDeskEngine(t, supportDeskConfig(payments.url));
      const bot = (await t.store.agents.require('refund-bot')) as Agent;
      await engine.actions.submit(bot, { tool: 'payments.get_order', input: { orderId: 'o-1' } });
      const rows = (await t.raw('SELECT agent_id, calls FROM anomaly_baselines')) as { calls: number }[];
      expect(rows).toEqual([{ agent_id: 'refund-bot', calls: 1 }]);
      // A row this node knows of but the store lost (as when the batch that wrote it was rolled back after it was
      // read): the next call starts the baseline again instead of failing.
      await engine.actions.submit(bot, { tool: 'payments.get_order', input: { orderId: 'o-1' } });
      await t.raw('DELETE FROM anomaly_baselines');
      const next = await engine.actions.submit(bot, {
        tool: 'payments.get_order',
        input: { orderId: 'o-2' },
      });
      expect(next).toMatchObject({ status: 'succeeded' });
      expect(await t.raw('SELECT agent_id, calls FROM anomaly_baselines')).toEqual([
        { agent_id: 'refund-bot', calls: 1 },
      ]);
      await engine.close();
    } finally {
      await payments.close();
      await t.cleanup();
    }
  });
});
