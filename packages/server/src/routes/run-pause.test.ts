import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { defineWorkflow } from '@autonomy-os/core';
import type { AosEvent, Engine } from '@autonomy-os/core';
import { backends } from '../../../../test/helpers/backends.js';
import type { TestStore } from '../../../../test/helpers/backends.js';
import { invoicesConfig, invoicesEngine, seedInvoices, startErp } from '../../../../test/helpers/invoices.js';
import type { Erp } from '../../../../test/helpers/invoices.js';
import { buildServer } from '../server.js';
import type { AosServer } from '../server.js';

const definitions = [
  defineWorkflow({
    name: 'post-notify',
    version: 1,
    owner: 'fiona',
    steps: {
      post: {
        kind: 'action',
        as: 'poster',
        tool: 'erp.post_invoice',
        input: '{ "invoiceId": "inv-p", "vendor": "acme", "amount": 5 }',
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

describe.each(backends)('run pause and resume routes on $name', (backend) => {
  let t: TestStore;
  let erp: Erp;
  let engine: Engine;
  let server: AosServer;
  let base: string;
  const tokens: Record<string, string> = {};
  const published: AosEvent[] = [];

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

  beforeEach(async (ctx) => {
    if (!backend.enabled) return ctx.skip();
    t = await backend.create();
    erp = await startErp();
    await seedInvoices(t);
    const config = invoicesConfig(erp.url);
    config.server.port = 0;
    engine = await invoicesEngine(t.store, config, {}, { workflows: definitions });
    published.length = 0;
    engine.events.subscribe((e) => {
      if (e.type.startsWith('run.')) published.push(e);
    });
    server = buildServer({ engine, version: 'test' });
    base = await server.listen();
    for (const h of ['ada', 'fiona', 'frank'])
      tokens[h] = (await t.store.tokens.issue({ subjectType: 'human', subjectId: h }, 'operator:test')).token;
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

  it('holds a run the owner paused, then finishes it once resumed, without using an attempt', async () => {
    const started = await call('POST', '/v1/workflows/post-notify/runs', 'ada', { input: {} });
    expect(started.status).toBe(201);
    const id = started.body.id as string;
    expect((await call('POST', `/v1/runs/${id}/pause`, 'frank', {})).status).toBe(403);
    expect((await call('POST', `/v1/runs/${id}/pause`, 'poster', {})).status).toBe(403);
    const bad = await call('POST', `/v1/runs/${id}/pause`, 'fiona', { reason: 7 });
    expect(bad.status).toBe(400);
    expect(JSON.stringify(bad.body)).toContain('reason');
    expect((await call('POST', `/v1/runs/${id}/resume`, 'fiona', {})).status).toBe(409);
    const paused = await call('POST', `/v1/runs/${id}/pause`, 'fiona', { reason: 'vendor check' });
    expect(paused.status).toBe(200);
    expect(paused.body.status).toBe('running');
    expect((await call('POST', `/v1/runs/${id}/pause`, 'ada', {})).status).toBe(409);

    await engine.workflows.drain();
    const held = await call('GET', `/v1/runs/${id}`, 'ada');
    expect(held.body).toMatchObject({
      status: 'running',
      paused: { by: 'human:fiona', reason: 'vendor check' },
    });
    expect(erp.calls('POST /invoices/:id/post')).toBe(0);

    expect((await call('POST', `/v1/runs/${id}/resume`, 'ada', {})).status).toBe(200);
    await engine.workflows.drain();
    const done = await call('GET', `/v1/runs/${id}`, 'ada');
    expect(done.body.status).toBe('completed');
    expect(done.body.paused).toBeUndefined();
    expect(erp.calls('POST /invoices/:id/post')).toBe(1);
    expect(erp.calls('POST /notifications')).toBe(1);
    const postId = (done.body.steps as Record<string, { actionId: string }>).post?.actionId as string;
    expect((await engine.actions.require(postId)).idempotencyKey).toBe(`wf:${id}:post:1`);
    expect((await call('POST', `/v1/runs/${id}/pause`, 'ada', {})).status).toBe(409);

    const audited = await t.raw(
      "SELECT type, actor FROM audit_log WHERE type IN ('workflow.run_paused', 'workflow.run_resumed') ORDER BY seq",
    );
    expect(audited).toEqual([
      { type: 'workflow.run_paused', actor: 'human:fiona' },
      { type: 'workflow.run_resumed', actor: 'human:ada' },
    ]);
    const types = published.filter((e) => e.data.runId === id).map((e) => e.type);
    expect(types.slice(0, 3)).toEqual(['run.started', 'run.paused', 'run.resumed']);
    expect(types.at(-1)).toBe('run.completed');
  });

  it('publishes a step paused by an intervention with its reason', async () => {
    await t.store.agents.setStatus('poster', 'pause', 'operator:test');
    const started = await call('POST', '/v1/workflows/post-notify/runs', 'ada', { input: {} });
    const id = started.body.id as string;
    await engine.workflows.drain();
    const view = await call('GET', `/v1/runs/${id}`, 'ada');
    expect((view.body.steps as Record<string, unknown>).post).toMatchObject({
      status: 'pending',
      pausedReason: 'intervention',
      pausedDetail: 'agent poster is paused',
    });
    const ev = published.find((e) => e.type === 'run.step_paused' && e.data.runId === id);
    expect(ev?.data).toMatchObject({ stepId: 'post', reason: 'intervention', status: 'running' });
    expect(JSON.stringify(ev)).not.toContain('detail');
  });
});
