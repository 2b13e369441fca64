import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  EnvSecretStore,
  createEngine,
  defineWorkflow,
  loadWorkflows,
  signWorkflowHook,
} from '@autonomy-os/core';
import type { Engine, WorkflowInput } from '@autonomy-os/core';
import { backends } from '../../../../test/helpers/backends.js';
import type { TestStore } from '../../../../test/helpers/backends.js';
import {
  ERP_KEY,
  INVOICES,
  invoicesConfig,
  seedInvoices,
  startErp,
} from '../../../../test/helpers/invoices.js';
import type { Erp } from '../../../../test/helpers/invoices.js';
import { buildServer } from '../server.js';
import type { AosServer } from '../server.js';

const HOOK_KEY = 'whsec_test_0123456789abcdef';

describe.each(backends)('workflow webhooks on $name', (backend) => {
  let t: TestStore;
  let erp: Erp;
  let engine: Engine;
  let server: AosServer;
  let base: string;

  const now = () => Math.floor(Date.now() / 1000);
  /** Signs `body` as a sender would (delivery id and timestamp included), unless told otherwise. */
  const deliver = async (
    body: string,
    headers: {
      signature?: string | null;
      delivery?: string | null;
      timestamp?: string | null;
    } = {},
    name = 'invoice-approval',
  ) => {
    const delivery = headers.delivery === undefined ? 'd-1' : headers.delivery;
    const timestamp = headers.timestamp === undefined ? String(now()) : headers.timestamp;
    const res = await fetch(`${base}/v1/hooks/workflows/${name}`, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        ...(headers.signature === null
          ? {}
          : {
              'x-aos-signature':
                headers.signature ??
                signWorkflowHook(HOOK_KEY, {
                  body,
                  delivery: delivery ?? '',
                  timestamp: timestamp ?? '',
                }),
            }),
        ...(delivery === null ? {} : { 'x-aos-delivery': delivery }),
        ...(timestamp === null ? {} : { 'x-aos-timestamp': timestamp }),
      },
      body,
    });
    return {
      status: res.status,
      headers: res.headers,
      body: (await res.json()) as Record<string, unknown>,
    };
  };
  const sign = (body: string, delivery: string, timestamp = String(now())) =>
    signWorkflowHook(HOOK_KEY, { body, delivery, timestamp });
  const runCount = async () => (await t.raw('SELECT id FROM workflow_runs')).length;

  beforeEach(async (ctx) => {
    if (!backend.enabled) return ctx.skip();
    t = await backend.create();
    erp = await startErp();
    await seedInvoices(t);
    const config = invoicesConfig(erp.url);
    config.server.port = 0;
    // Many failures in these tests: rate limiting has its own test; one window spans the test.
    config.server.authFailures = { max: 1000, window: '1h' };
    const [invoice] = loadWorkflows(`${INVOICES}workflows`);
    engine = await createEngine({
      store: t.store,
      config,
      secrets: new EnvSecretStore({
        env: { AOS_SECRET_ERP_API_KEY: ERP_KEY, AOS_SECRET_INVOICE_HOOK: HOOK_KEY },
      }),
      workflows: [
        defineWorkflow({
          ...(invoice as WorkflowInput),
          triggers: [{ webhook: { secret: '${secret:invoice_hook}' } }],
        }),
      ],
    });
    await engine.start({ background: false });
    server = buildServer({ engine, version: 'test' });
    base = await server.listen();
  });
  afterEach(async () => {
    await server?.close();
    await engine?.close();
    await erp?.close();
    await t?.cleanup();
  });

  const input = {
    invoiceId: 'inv-3',
    document: { number: 'inv-3', vendor: 'acme', total: 120, currency: 'EUR' },
  };

  it('starts one run per delivery id from a signed body, and answers a redelivery with that run', async () => {
    // The signature covers the exact bytes: spacing a JSON parser would drop still counts.
    const body = JSON.stringify(input, null, 2);
    const first = await deliver(body, { delivery: 'evt-1' });
    expect(first.status).toBe(201);
    expect(first.body).toMatchObject({
      workflow: 'invoice-approval',
      createdBy: 'webhook:invoice-approval',
      input,
    });
    const again = await deliver(body, { delivery: 'evt-1' });
    expect(again.status).toBe(200);
    expect(again.body.id).toBe(first.body.id);
    expect(await runCount()).toBe(1);
    const other = await deliver(body, { delivery: 'evt-2' });
    expect(other.status).toBe(201);
    expect(other.body.id).not.toBe(first.body.id);
    const keys = await t.raw('SELECT trigger_key FROM workflow_runs ORDER BY trigger_key');
    expect(keys).toEqual([
      { trigger_key: 'webhook:invoice-approval:evt-1' },
      { trigger_key: 'webhook:invoice-approval:evt-2' },
    ]);
    await engine.workflows.drain();
    expect((await engine.workflows.get(first.body.id as string)).status).toBe('completed');
    expect(erp.calls('POST /invoices/:id/post')).toBe(2);
  });

  it('refuses a bad or missing signature with 401 and audits it without the secret', async () => {
    const body = JSON.stringify(input);
    const ts = String(now());
    const wrong = signWorkflowHook('wrong-key', { body, delivery: 'd-1', timestamp: ts });
    expect((await deliver(body, { signature: wrong, timestamp: ts })).status).toBe(401);
    expect((await deliver(body, { signature: null })).status).toBe(401);
    expect((await deliver(`${body} `, { signature: sign(body, 'd-1', ts), timestamp: ts })).status).toBe(401);
    expect(await runCount()).toBe(0);
    await engine.close();
    const audit = (await t.raw(
      "SELECT actor, payload FROM audit_log WHERE type = 'workflow.webhook_rejected' ORDER BY seq",
    )) as { actor: string; payload: string }[];
    expect(audit.map((a) => a.actor)).toEqual(['webhook:invoice-approval', 'webhook:invoice-approval']);
    expect(
      audit.map((a) => {
        const p = JSON.parse(a.payload) as { reason: string; count: number };
        return [p.reason, p.count];
      }),
    ).toEqual([
      ['bad signature', 2],
      ['missing signature', 1],
    ]);
    expect(JSON.stringify(audit)).not.toContain(HOOK_KEY);
  });

  it('answers 400 naming the field for bad input, a missing delivery id or a body that is not JSON', async () => {
    const bad = await deliver(JSON.stringify({ ...input, invoiceId: 7 }));
    expect(bad.status).toBe(400);
    expect(bad.body).toMatchObject({ error: { field: 'input.invoiceId' } });
    const noDelivery = await deliver(JSON.stringify(input), { delivery: null });
    expect(noDelivery.status).toBe(400);
    expect(noDelivery.body).toMatchObject({ error: { field: 'X-Aos-Delivery' } });
    const notJson = await deliver('{nope');
    expect(notJson.status).toBe(400);
    expect(notJson.body).toMatchObject({ error: { field: 'body' } });
    expect(await runCount()).toBe(0);
  });

  it('refuses a signed body replayed under another delivery id (the id is signed too)', async () => {
    const body = JSON.stringify(input);
    const ts = String(now());
    const signature = sign(body, 'evt-1', ts);
    expect((await deliver(body, { delivery: 'evt-1', timestamp: ts, signature })).status).toBe(201);
    for (const delivery of ['evt-2', 'evt-3', 'evt-4']) {
      const replay = await deliver(body, { delivery, timestamp: ts, signature });
      expect(replay.status).toBe(401);
    }
    expect(await runCount()).toBe(1);
  });

  it('refuses a delivery older (or newer) than the tolerance, or without a timestamp', async () => {
    const body = JSON.stringify(input);
    const stale = String(now() - 301);
    const old = await deliver(body, {
      delivery: 'old',
      timestamp: stale,
      signature: sign(body, 'old', stale),
    });
    expect(old.status).toBe(401);
    const ahead = String(now() + 301);
    const future = await deliver(body, {
      delivery: 'ahead',
      timestamp: ahead,
      signature: sign(body, 'ahead', ahead),
    });
    expect(future.status).toBe(401);
    const missing = await deliver(body, {
      delivery: 'none',
      timestamp: null,
      signature: sign(body, 'none', ''),
    });
    expect(missing.status).toBe(400);
    expect(missing.body).toMatchObject({ error: { field: 'X-Aos-Timestamp' } });
    const garbled = await deliver(body, {
      delivery: 'g',
      timestamp: '12x',
      signature: sign(body, 'g', '12x'),
    });
    expect(garbled.status).toBe(400);
    expect(garbled.body).toMatchObject({ error: { field: 'X-Aos-Timestamp' } });
    expect(await runCount()).toBe(0);
    // Within the tolerance it is accepted.
    const recent = String(now() - 200);
    expect(
      (await deliver(body, { delivery: 'ok', timestamp: recent, signature: sign(body, 'ok', recent) }))
        .status,
    ).toBe(201);
  });

  it('says what is wrong with a delivery id that has bad characters, rather than "is required"', async () => {
    const res = await deliver(JSON.stringify(input), { delivery: 'bad id!' });
    expect(res.status).toBe(400);
    expect(res.body).toMatchObject({ error: { field: 'X-Aos-Delivery' } });
    expect(JSON.stringify(res.body)).not.toContain('is required');
  });

  it('asks for a signature, not a bearer token, when it refuses one', async () => {
    const res = await deliver(JSON.stringify(input), { signature: 'sha256=00' });
    expect(res.status).toBe(401);
    expect(JSON.stringify(res.body)).toContain('X-Aos-Signature');
    expect(JSON.stringify(res.body)).not.toMatch(/bearer/i);
    expect(res.headers.get('www-authenticate')).toBeNull();
  });

  it('audits 200 bad signatures as one record with their count, not 200 records', async () => {
    const body = JSON.stringify(input);
    for (let i = 0; i < 200; i++)
      expect((await deliver(body, { delivery: `x-${i}`, signature: 'sha256=00' })).status).toBe(401);
    await engine.close();
    const audit = (await t.raw("SELECT payload FROM audit_log WHERE type = 'workflow.webhook_rejected'")) as {
      payload: string;
    }[];
    expect(audit).toHaveLength(1);
    expect(JSON.parse((audit[0] as { payload: string }).payload)).toMatchObject({
      reason: 'bad signature',
      count: 200,
    });
  });

  it('answers 404 for a workflow without a webhook trigger', async () => {
    expect((await deliver(JSON.stringify(input), {}, 'no-such-workflow')).status).toBe(404);
  });
});
