import fs from 'node:fs';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { backends } from '../../../../test/helpers/backends.js';
import type { TestStore } from '../../../../test/helpers/backends.js';
import {
  SUPPORT_DESK,
  seedSupportDesk,
  startPayments,
  supportDeskConfig,
  supportDeskEngine,
} from '../../../../test/helpers/support-desk.js';
import type { Payments } from '../../../../test/helpers/support-desk.js';
import type { Engine } from '../engine.js';
import type { Agent } from '../identity/agents.js';
import { loadPolicyDirectory, policyBundleFromTexts } from './policy-bundle.js';
import { decisionInputFromAuditPayload, guardReason, parseSince, replayDecisions } from './replay.js';
import { defaultDecisionOptions } from './simulate.js';

const current = loadPolicyDirectory(path.join(SUPPORT_DESK, 'policies'));
const approvalsText = fs.readFileSync(path.join(SUPPORT_DESK, 'policies/approvals/refunds.cedar'), 'utf8');
/** The proposal: refunds permitted only up to 200, reads unchanged, no approvals for small refunds. */
const proposed = policyBundleFromTexts(
  [
    {
      file: 'support.cedar',
      text: fs
        .readFileSync(path.join(SUPPORT_DESK, 'policies/support.cedar'), 'utf8')
        .replace('decimal("500.0")', 'decimal("200.0")'),
    },
  ],
  [{ file: 'refunds.cedar', text: approvalsText }],
);
const options = defaultDecisionOptions();

describe.each(backends)('policy replay on $name', (backend) => {
  let t: TestStore;
  let payments: Payments;
  let engine: Engine;
  const agent = (id: string) => t.store.agents.require(id) as Promise<Agent>;

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

  async function fill(): Promise<Record<string, string>> {
    const bot = await agent('refund-bot');
    const ids: Record<string, string> = {};
    ids.read = (
      await engine.actions.submit(bot, { tool: 'payments.get_order', input: { orderId: 'o-1' } })
    ).id;
    ids.small = (
      await engine.actions.submit(bot, { tool: 'payments.refund', input: { orderId: 'o-1', amount: 50 } })
    ).id;
    ids.large = (
      await engine.actions.submit(bot, { tool: 'payments.refund', input: { orderId: 'o-2', amount: 300 } })
    ).id;
    ids.huge = (
      await engine.actions.submit(bot, { tool: 'payments.refund', input: { orderId: 'o-3', amount: 900 } })
    ).id;
    await t.store.agents.setStatus('refund-bot', 'pause', 'operator:test');
    ids.paused = (
      await engine.actions.submit(await agent('refund-bot'), {
        tool: 'payments.refund',
        input: { orderId: 'o-4', amount: 10 },
      })
    ).id;
    return ids;
  }

  it('finds no change when the proposal is the policy set in force', async () => {
    await fill();
    const r = await replayDecisions({ audit: t.store.audit, bundle: current, options });
    expect(r).toMatchObject({ replayed: 4, unchanged: 4, changed: [], transitions: {} });
  });

  it('reports the decisions a stricter set would change and skips guard denials', async () => {
    const ids = await fill();
    const r = await replayDecisions({ audit: t.store.audit, bundle: proposed, options });
    expect(r.policyHash).toBe(proposed.hash);
    expect(r).toMatchObject({ replayed: 4, unchanged: 3, transitions: { 'approval->deny': 1 } });
    expect(r.changed).toEqual([
      expect.objectContaining({
        actionId: ids.large,
        tool: 'payments.refund',
        agent: 'refund-bot',
        before: 'approval',
        after: 'deny',
        beforePolicies: ['support-refunds', 'large-refund'],
        policies: ['builtin:default-deny'],
      }),
    ]);
    expect(r.skipped).toEqual([
      expect.objectContaining({ actionId: ids.paused, tool: 'payments.refund', reason: 'agent paused' }),
    ]);
  });

  it('rebuilds the exact input each decision was made from', async () => {
    const ids = await fill();
    const [rec] = await t.store.audit.list({ type: 'action.decided', subject: `action:${ids.large}` });
    const input = decisionInputFromAuditPayload(rec?.payload);
    expect(input).toMatchObject({
      agent: { id: 'refund-bot', role: 'support', tier: 2, owner: 'fiona', environments: ['dev', 'staging'] },
      tool: { name: 'payments.refund', connector: 'payments', metadata: { effect: 'write', risk: 'high' } },
      input: { orderId: 'o-2', amount: 300 },
      environment: 'dev',
    });
  });

  it('replays only decisions since the given instant', async () => {
    await fill();
    const r = await replayDecisions({
      audit: t.store.audit,
      bundle: proposed,
      options,
      since: new Date(Date.now() + 60_000).toISOString(),
    });
    expect(r).toMatchObject({ replayed: 0, changed: [], skipped: [] });
  });
});

describe('guardReason', () => {
  it.each([
    [['builtin:agent-paused'], 'agent paused'],
    [['killswitch:role:support'], 'kill switch role:support engaged'],
    [['builtin:tool-quarantined'], 'tool quarantined'],
    [['support-refunds', 'budget:role:support/day'], 'over budget (role:support/day)'],
    [['builtin:default-deny'], undefined],
  ])('%j → %s', (policies, reason) => {
    expect(guardReason(policies)).toBe(reason);
  });
});

describe('parseSince', () => {
  const now = new Date('2025-03-10T12:00:00Z');
  it.each([
    ['7d', '2025-03-03T12:00:00.000Z'],
    ['30m', '2025-03-10T11:30:00.000Z'],
    ['2025-01-31', '2025-01-31T00:00:00.000Z'],
    ['2025-01-31T09:00:00+01:00', '2025-01-31T08:00:00.000Z'],
  ])('%s → %s', (value, iso) => {
    expect(parseSince(value, now)).toBe(iso);
  });
  it('rejects anything else naming --since', () => {
    expect(() => parseSince('yesterday', now)).toThrow(/^since: /);
  });
});
