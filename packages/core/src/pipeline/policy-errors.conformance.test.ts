/**
 * Issue 9, "policy errors fail open", through the real pipeline on both backends: the example support desk plus one
 * permit for an agent and a refund cap. A cap that can type-error is refused when the set loads; a rule that errors
 * anyway at decision time is never a reason to allow.
 */
import fs from 'node:fs';
import os from 'node:os';
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

const PERMIT =
  '@id("refund-bot-refunds")\npermit (principal == Agent::"refund-bot", action == Action::"payments.refund", resource);\n';
const CAP =
  '@id("refund-cap")\nforbid (principal, action == Action::"payments.refund", resource) when { context.input.amount > 10000 };\n';

describe.each(backends)('policy errors in the action pipeline on $name', (backend) => {
  let t: TestStore;
  let payments: Payments;
  let engine: Engine | undefined;
  let dir: string;
  const bot = () => t.store.agents.require('refund-bot') as Promise<Agent>;

  /** The example's policies plus extra files, in a fresh directory. */
  function policies(extra: Record<string, string>): string {
    const out = path.join(dir, 'policies');
    fs.cpSync(path.join(SUPPORT_DESK, 'policies'), out, { recursive: true });
    for (const [file, text] of Object.entries(extra)) fs.writeFileSync(path.join(out, file), text);
    return out;
  }
  const start = (policyDir: string) =>
    supportDeskEngine(
      t,
      supportDeskConfig(payments.url, (raw) => {
        raw.policies = policyDir;
      }),
    );

  beforeEach(async (ctx) => {
    if (!backend.enabled) return ctx.skip();
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'aos-policy-errors-'));
    t = await backend.create();
    payments = await startPayments();
    await seedSupportDesk(t);
  });
  afterEach(async () => {
    await engine?.close();
    engine = undefined;
    await payments?.close();
    await t?.cleanup();
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  it('refuses to serve the cap `amount > 10000` (a decimal compared with a Long); no refund of 50000.5 is paid', async () => {
    const policyDir = policies({ 'caps.cedar': PERMIT + CAP });
    let refused: unknown;
    try {
      engine = await start(policyDir);
    } catch (err) {
      refused = err;
    }
    if (engine) {
      // Before the fix the set loaded; the refund must then at least be denied.
      const a = await engine.actions.submit(await bot(), {
        tool: 'payments.refund',
        input: { orderId: 'o-1', amount: 50000.5 },
      });
      expect(a.outcome).toBe('denied');
    }
    expect(payments.calls('POST /refunds')).toBe(0);
    expect((refused as Error | undefined)?.message).toMatch(
      /caps\.cedar.*refund-cap.*`context\.input\.amount` is a decimal here: compare with `decimal\("10000\.0"\)` or `\.greaterThan\(…\)`/s,
    );
  });

  it('holds a refund of 300.5 for approval under the example rule `amount > 100`', async () => {
    engine = await start(policies({ 'permit.cedar': PERMIT }));
    const a = await engine.actions.submit(await bot(), {
      tool: 'payments.refund',
      input: { orderId: 'o-1', amount: 300.5 },
    });
    expect(a.outcome).toBe('pending_approval');
    expect(a.decision.policies).toContain('large-refund');
    expect(a.decision.errors).toEqual([]);
    expect(payments.calls('POST /refunds')).toBe(0);
  });

  it('refuses to reload a set that can type-error, and keeps the one in force', async () => {
    const policyDir = policies({ 'permit.cedar': PERMIT });
    engine = await start(policyDir);
    const before = engine.policies().hash;
    fs.writeFileSync(path.join(policyDir, 'caps.cedar'), CAP);
    expect(() => engine?.reloadPolicies()).toThrow(/caps\.cedar: policy refund-cap: .*is a decimal here/);
    expect(engine.policies().hash).toBe(before);
  });

  it('treats 50 and 50.0 as the same decimal and pays a small refund once', async () => {
    engine = await start(policies({}));
    for (const amount of [50, 50.0]) {
      const a = await engine.actions.submit(await bot(), {
        tool: 'payments.refund',
        input: { orderId: 'o-1', amount },
      });
      expect(a).toMatchObject({ outcome: 'allowed', status: 'succeeded' });
      expect(a.decision.policies).toEqual(['support-refunds']);
    }
    expect(payments.calls('POST /refunds')).toBe(2);
  });

  it('refuses, before deciding, a number policies could not compare exactly (five decimal places)', async () => {
    engine = await start(policies({}));
    await expect(
      engine.actions.submit(await bot(), {
        tool: 'payments.refund',
        input: { orderId: 'o-1', amount: 10.12345 },
      }),
    ).rejects.toMatchObject({ name: 'InputConversionError', field: 'input.amount' });
    expect(payments.calls('POST /refunds')).toBe(0);
  });

  it('denies, with the error recorded, when a forbid errors at decision time (a Long overflow no check rules out)', async () => {
    const overflow =
      '@id("risk-overflow")\nforbid (principal, action == Action::"payments.refund", resource) when { context.risk * 4000000000000000 * 1000 > 0 };\n';
    engine = await start(policies({ 'permit.cedar': PERMIT, 'overflow.cedar': overflow }));
    const a = await engine.actions.submit(await bot(), {
      tool: 'payments.refund',
      input: { orderId: 'o-1', amount: 50 },
    });
    expect(a.outcome).toBe('denied');
    expect(a.decision.policies).toContain('risk-overflow');
    expect(a.decision.errors).toMatchObject([
      { policyId: 'risk-overflow', message: expect.stringMatching(/overflow/) },
    ]);
    expect(payments.calls('POST /refunds')).toBe(0);
  });

  it('asks for approval when an approval rule errors at decision time', async () => {
    const overflow =
      '@id("risk-review")\n@approvers("finance")\npermit (principal, action == Action::"payments.refund", resource) when { context.risk * 4000000000000000 * 1000 > 0 };\n';
    const policyDir = policies({});
    fs.writeFileSync(path.join(policyDir, 'approvals', 'overflow.cedar'), overflow);
    engine = await start(policyDir);
    const a = await engine.actions.submit(await bot(), {
      tool: 'payments.refund',
      input: { orderId: 'o-1', amount: 50 },
    });
    expect(a.outcome).toBe('pending_approval');
    expect(a.decision.policies).toContain('risk-review');
    expect(a.decision.errors).toMatchObject([{ policyId: 'risk-review' }]);
    expect(payments.calls('POST /refunds')).toBe(0);
  });
});
