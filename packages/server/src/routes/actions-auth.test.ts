import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { backends } from '../../../../test/helpers/backends.js';
import type { TestStore } from '../../../../test/helpers/backends.js';
import { recordTxStatements } from '../../../../test/helpers/statements.js';
import {
  seedSupportDesk,
  startPayments,
  supportDeskConfig,
  supportDeskEngine,
} from '../../../../test/helpers/support-desk.js';
import type { Payments } from '../../../../test/helpers/support-desk.js';
import type { Engine } from '@autonomy-os/core';
import { buildServer } from '../server.js';
import type { AosServer } from '../server.js';

/** The statement authentication reads the security epoch with (the decision reads it with the tool's row). */
const EPOCH_READ = /^SELECT n FROM security_epoch WHERE id = 1$/;

describe.each(backends)('a governed call with a remembered principal on $name', (backend) => {
  let t: TestStore;
  let payments: Payments;
  let engine: Engine;
  let server: AosServer;
  let base: string;
  let token: string;
  let tokenId: string;

  beforeEach(async (ctx) => {
    if (!backend.enabled) return ctx.skip();
    t = await backend.create();
    payments = await startPayments();
    await seedSupportDesk(t);
    engine = await supportDeskEngine(t, supportDeskConfig(payments.url));
    server = buildServer({ engine, version: 'test' });
    base = await server.listen();
    const issued = await t.store.tokens.issue(
      { subjectType: 'agent', subjectId: 'refund-bot' },
      'operator:test',
    );
    token = issued.token;
    tokenId = issued.info.id;
  });
  afterEach(async () => {
    await server?.close();
    await engine?.close();
    await payments?.close();
    await t?.cleanup();
  });

  const act = (body: Record<string, unknown>) =>
    fetch(`${base}/v1/actions`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
  const order = (id: string) => ({ tool: 'payments.get_order', input: { orderId: id } });
  const actions = async () => (await t.store.db.all('SELECT id FROM actions')).length;

  it('is confirmed by the decision’s own read of the security epoch, not read for it again', async () => {
    expect((await act(order('o-1'))).status).toBe(201);
    const seen = recordTxStatements(t.store.db, { outside: true });
    const res = await act(order('o-2'));
    expect(res.status).toBe(201);
    expect(await res.json()).toMatchObject({ status: 'succeeded' });
    expect(seen.filter((s) => EPOCH_READ.test(s))).toEqual([]);
    // The decision read it, with the tool's pin.
    expect(seen.some((s) => /security_epoch e LEFT JOIN tools t/.test(s))).toBe(true);
    // Other requests still read it first.
    seen.length = 0;
    const mine = await fetch(`${base}/v1/whoami`, { headers: { authorization: `Bearer ${token}` } });
    expect(mine.status).toBe(200);
    expect(seen.filter((s) => EPOCH_READ.test(s))).toHaveLength(1);
  });

  it('answers 401 and decides nothing once the remembered token is revoked, whatever the request', async () => {
    expect((await act(order('o-1'))).status).toBe(201);
    const before = await actions();
    await t.store.tokens.revoke(tokenId, 'operator:test');
    for (const body of [
      order('o-2'),
      { tool: 'payments.launch_rocket', input: {} }, // no such tool: not a 404 for a revoked token
      { tool: 'payments.get_order', input: { orderId: 7 } }, // bad input: not a 400 naming the field
    ]) {
      const res = await act(body);
      expect(res.status).toBe(401);
      expect(await res.json()).toMatchObject({ error: { code: 'unauthenticated' } });
    }
    expect(await actions()).toBe(before);
    expect(payments.calls('GET /orders/o-2')).toBe(0);
  });

  it("answers a revoked human token's submission 401, not the 403 its remembered principal would get", async () => {
    const human = await t.store.tokens.issue({ subjectType: 'human', subjectId: 'olivia' }, 'operator:test');
    const submit = () =>
      fetch(`${base}/v1/actions`, {
        method: 'POST',
        headers: { authorization: `Bearer ${human.token}`, 'content-type': 'application/json' },
        body: JSON.stringify(order('o-1')),
      });
    expect((await submit()).status).toBe(403); // remembered now: a human may not submit
    await t.store.tokens.revoke(human.info.id, 'operator:test');
    expect((await submit()).status).toBe(401);
  });

  it('decides under the agent as it is now when it changed after its principal was remembered', async () => {
    expect((await act(order('o-1'))).status).toBe(201);
    await t.store.agents.setStatus('refund-bot', 'pause', 'operator:test');
    const res = await act(order('o-2'));
    expect(res.status).toBe(201);
    expect(await res.json()).toMatchObject({
      status: 'denied',
      decision: { policies: ['builtin:agent-paused'] },
    });
    await t.store.agents.setStatus('refund-bot', 'revoke', 'operator:test');
    expect((await act(order('o-3'))).status).toBe(401);
  });
});
