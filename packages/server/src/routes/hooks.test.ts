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

  const deliver = async (
    body: string,
    headers: { signature?: string | null; delivery?: string | null } = {},
    name = 'invoice-approval',
  ) => {
    const res = await fetch(`${base}/v1/hooks/workflows/${name}`, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        ...(headers.signature === null
          ? {}
          : { 'x-aos-signature': headers.signature ?? signWorkflowHook(HOOK_KEY, body) }),
        ...(headers.delivery === null ? {} : { 'x-aos-delivery': headers.delivery ?? 'd-1' }),
      },
      body,
    });
    return { status: res.status, body: (await res.json()) as Record<string, unknown> };
  };
  const runCount = async () => (await t.raw('SELECT id FROM workflow_runs')).length;

  beforeEach(async (ctx) => {
    if (!backend.enabled) return ctx.skip();
    t = await backend.create();
    erp = await startErp();
    await seedInvoices(t);
    const config = invoicesConfig(erp.url);
    config.server.port = 0;
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
    expect((await deliver(body, { signature: signWorkflowHook('wrong-key', body) })).status).toBe(401);
    expect((await deliver(body, { signature: null })).status).toBe(401);
    expect((await deliver(`${body} `, { signature: signWorkflowHook(HOOK_KEY, body) })).status).toBe(401);
    expect(await runCount()).toBe(0);
    const audit = (await t.raw(
      "SELECT actor, payload FROM audit_log WHERE type = 'workflow.webhook_rejected' ORDER BY seq",
    )) as { actor: string; payload: string }[];
    expect(audit.map((a) => a.actor)).toEqual([
      'webhook:invoice-approval',
      'webhook:invoice-approval',
      'webhook:invoice-approval',
    ]);
    expect(audit.map((a) => JSON.parse(a.payload).reason)).toEqual([
      'bad signature',
      'missing signature',
      'bad signature',
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

  it('answers 404 for a workflow without a webhook trigger', async () => {
    expect((await deliver(JSON.stringify(input), {}, 'no-such-workflow')).status).toBe(404);
  });
});
