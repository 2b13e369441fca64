import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { backends } from '../../../../test/helpers/backends.js';
import type { TestStore } from '../../../../test/helpers/backends.js';
import { FailureTally } from './failure-tally.js';

const rejected = (reason: string, ref?: string) => ({
  actor: 'webhook:w',
  type: 'workflow.webhook_rejected',
  subject: 'workflow:w',
  reason,
  ...(ref ? { ref } : {}),
});

describe.each(backends)('FailureTally on $name', (backend) => {
  let t: TestStore;
  beforeEach(async (ctx) => {
    if (!backend.enabled) return ctx.skip();
    t = await backend.create();
  });
  afterEach(async () => {
    await t?.cleanup();
  });

  const records = async () =>
    (
      (await t.raw(
        "SELECT payload FROM audit_log WHERE type = 'workflow.webhook_rejected' ORDER BY seq",
      )) as { payload: string }[]
    ).map((r) => JSON.parse(r.payload) as Record<string, unknown>);

  it('writes one record per reason with its count, and nothing before the window ends', async () => {
    const tally = new FailureTally({ db: t.store.db, audit: t.store.audit, windowMs: 3_600_000 });
    for (let i = 0; i < 5; i++) tally.note(rejected('bad signature', `d-${i}`));
    tally.note(rejected('missing signature'));
    expect(await records()).toEqual([]);
    expect(tally.pending).toBe(6);
    await tally.close();
    expect(await records()).toMatchObject([
      { reason: 'bad signature', count: 5, delivery: 'd-4', windowMs: 3_600_000 },
      { reason: 'missing signature', count: 1, delivery: null },
    ]);
    expect(tally.pending).toBe(0);
    expect((await t.store.audit.verify()).ok).toBe(true);
  });

  it('writes when the window ends', async () => {
    const tally = new FailureTally({ db: t.store.db, audit: t.store.audit, windowMs: 20 });
    tally.note(rejected('bad signature'));
    for (let i = 0; i < 200 && (await records()).length === 0; i++)
      await new Promise((r) => setTimeout(r, 25));
    expect(await records()).toMatchObject([{ reason: 'bad signature', count: 1 }]);
    await tally.close();
  });
});
