import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { defineWorkflow } from '@autonomy-os/core';
import type { Engine } from '@autonomy-os/core';
import { backends } from '../../../../test/helpers/backends.js';
import type { TestStore } from '../../../../test/helpers/backends.js';
import { invoicesConfig, invoicesEngine, seedInvoices, startErp } from '../../../../test/helpers/invoices.js';
import type { Erp } from '../../../../test/helpers/invoices.js';
import { buildServer } from '../server.js';
import type { AosServer } from '../server.js';

const definitions = [
  defineWorkflow({
    name: 'await-go',
    version: 1,
    owner: 'fiona',
    steps: { go: { kind: 'wait', event: 'go' } },
  }),
  defineWorkflow({
    name: 'post-notify',
    version: 1,
    owner: 'fiona',
    steps: {
      post: {
        kind: 'action',
        as: 'poster',
        tool: 'erp.post_invoice',
        input: '{ "invoiceId": "inv-r", "vendor": "acme", "amount": 5 }',
      },
      notify: {
        kind: 'action',
        as: 'poster',
        tool: 'erp.notify',
        input: '{ "to": "acme", "message": "posted" }',
        dependsOn: ['post'],
      },
    },
  }),
];

describe.each(backends)('run signal and retry routes on $name', (backend) => {
  let t: TestStore;
  let erp: Erp;
  let engine: Engine;
  let server: AosServer;
  let base: string;
  const tokens: Record<string, string> = {};

  const call = async (method: string, path: string, who: string, body?: unknown) => {
    const res = await fetch(`${base}${path}`, {
      method,
      headers: {
        authorization: `Bearer ${tokens[who]}`,
        ...(body === undefined ? {} : { 'content-type': 'application/json' }),
      },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    return { status: res.status, body: (await res.json()) as Record<string, unknown> };
  };
  const start = async (name: string) => {
    const started = await call('POST', `/v1/workflows/${name}/runs`, 'ada', { input: {} });
    expect(started.status).toBe(201);
    await engine.workflows.drain();
    return started.body.id as string;
  };

  beforeEach(async (ctx) => {
    if (!backend.enabled) return ctx.skip();
    t = await backend.create();
    erp = await startErp();
    await seedInvoices(t);
    const config = invoicesConfig(erp.url);
    config.server.port = 0;
    engine = await invoicesEngine(t.store, config, {}, { workflows: definitions });
    server = buildServer({ engine, version: 'test' });
    base = await server.listen();
    for (const h of ['ada', 'fiona', 'frank']) {
      tokens[h] = (await t.store.tokens.issue({ subjectType: 'human', subjectId: h }, 'operator:test')).token;
    }
    tokens.poster = (
      await t.store.tokens.issue({ subjectType: 'agent', subjectId: 'poster' }, 'operator:test')
    ).token;
  });
  afterEach(async () => {
    await server?.close();
    await engine?.close();
    await erp?.close();
    await t?.cleanup();
  });

  it('lets the owner signal a waiting run, whose wait step completes with the data', async () => {
    const id = await start('await-go');
    expect((await call('POST', `/v1/runs/${id}/signals`, 'frank', { name: 'go' })).status).toBe(403);
    expect((await call('POST', `/v1/runs/${id}/signals`, 'poster', { name: 'go' })).status).toBe(403);
    const bad = await call('POST', `/v1/runs/${id}/signals`, 'fiona', { name: 'go!' });
    expect(bad.status).toBe(400);
    expect(JSON.stringify(bad.body)).toContain('name');
    const missing = await call('POST', `/v1/runs/${id}/signals`, 'fiona', { data: 1 });
    expect(missing.status).toBe(400);
    const sent = await call('POST', `/v1/runs/${id}/signals`, 'fiona', { name: 'go', data: { n: 7 } });
    expect(sent.status).toBe(201);
    expect(sent.body).toMatchObject({ runId: id, name: 'go', data: { n: 7 }, sentBy: 'human:fiona' });
    await engine.workflows.drain();
    const done = await call('GET', `/v1/runs/${id}`, 'ada');
    expect(done.body.status).toBe('completed');
    expect((done.body.steps as Record<string, { output: unknown }>).go?.output).toEqual({ n: 7 });
    const late = await call('POST', `/v1/runs/${id}/signals`, 'ada', { name: 'go' });
    expect(late.status).toBe(409);
    const audited = await t.raw("SELECT actor FROM audit_log WHERE type = 'workflow.signal_sent'");
    expect(audited).toEqual([{ actor: 'human:fiona' }]);
  });

  it('retries a failed run for an admin, doing only the failed step again', async () => {
    erp.state.failNotify = true;
    const id = await start('post-notify');
    expect((await call('GET', `/v1/runs/${id}`, 'ada')).body.status).toBe('failed');
    expect((await call('POST', `/v1/runs/${id}/retry`, 'frank', {})).status).toBe(403);
    erp.state.failNotify = false;
    const retried = await call('POST', `/v1/runs/${id}/retry`, 'ada', {});
    expect(retried.status).toBe(200);
    expect(retried.body).toMatchObject({ status: 'running', error: null });
    await engine.workflows.drain();
    expect((await call('GET', `/v1/runs/${id}`, 'ada')).body.status).toBe('completed');
    expect(erp.calls('POST /invoices/:id/post')).toBe(1);
    expect(erp.calls('POST /notifications')).toBe(2);
    expect((await call('POST', `/v1/runs/${id}/retry`, 'ada', {})).status).toBe(409);
  });
});
