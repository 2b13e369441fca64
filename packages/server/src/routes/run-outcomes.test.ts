import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Engine } from '@autonomy-os/core';
import { backends } from '../../../../test/helpers/backends.js';
import type { TestStore } from '../../../../test/helpers/backends.js';
import { invoicesConfig, invoicesEngine, seedInvoices, startErp } from '../../../../test/helpers/invoices.js';
import type { Erp } from '../../../../test/helpers/invoices.js';
import { buildServer } from '../server.js';
import type { AosServer } from '../server.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe.each(backends)('POST /v1/runs/:id/steps/:step/resolve on $name', (backend) => {
  let t: TestStore;
  let erp: Erp;
  let engine: Engine;
  let server: AosServer;
  let base: string;
  const tokens: Record<string, string> = {};
  const events: { type: string; data: Record<string, unknown> }[] = [];

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
    // The ERP answers after the connector gives up: the post reaches it, but its outcome is unknown.
    for (const c of config.connectors ?? []) (c as { timeoutMs?: number }).timeoutMs = 200;
    engine = await invoicesEngine(t.store, config);
    events.length = 0;
    engine.events.subscribe((e) => {
      if (e.type.startsWith('run.')) events.push(e as unknown as (typeof events)[number]);
    });
    server = buildServer({ engine, version: 'test' });
    base = await server.listen();
    for (const h of ['ada', 'frank', 'fiona'])
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

  /** A run whose post step waits for a decision on its unknown outcome. */
  const flagged = async (): Promise<string> => {
    erp.state.delayMs = 1500;
    const started = await call('POST', '/v1/workflows/invoice-approval/runs', 'ada', {
      input: {
        invoiceId: 'inv-9',
        document: { number: 'inv-9', vendor: 'acme', total: 300, currency: 'EUR' },
      },
    });
    const id = started.body.id as string;
    for (let i = 0; i < 50; i++) {
      await engine.workflows.drain();
      if ((await engine.workflows.get(id)).steps.post?.unknownOutcome) break;
      await sleep(100);
    }
    erp.state.delayMs = 0;
    return id;
  };

  it('shows the waiting decision and lets the owner resolve it, published on the live stream', async () => {
    const id = await flagged();
    const shown = await call('GET', `/v1/runs/${id}`, 'frank');
    const post = (shown.body.steps as Record<string, Record<string, unknown>>).post;
    expect(post).toMatchObject({
      status: 'waiting',
      escalatedTo: 'fiona',
      unknownOutcome: { actionId: post?.actionId },
    });
    expect(events.find((e) => e.type === 'run.step_escalated')?.data).toMatchObject({
      runId: id,
      stepId: 'post',
      waitingFor: 'outcome_decision',
    });
    const res = await call('POST', `/v1/runs/${id}/steps/post/resolve`, 'fiona', {
      outcome: 'succeeded',
      output: { invoiceId: 'inv-9', status: 'posted', entry: 'je_1' },
      comment: 'in the ledger',
    });
    expect(res.status).toBe(200);
    expect((res.body.steps as Record<string, { status: string }>).post?.status).toBe('completed');
    expect(events.find((e) => e.type === 'run.outcome_resolved')?.data).toMatchObject({
      runId: id,
      stepId: 'post',
      outcome: 'succeeded',
    });
    await engine.workflows.drain();
    const done = await call('GET', `/v1/runs/${id}`, 'ada');
    expect(done.body.status).toBe('completed');
    expect(done.body.output).toEqual({ invoiceId: 'inv-9', entry: 'je_1' });
    expect(erp.calls('POST /invoices/:id/post')).toBe(1);
  });

  it('answers 403 to others, 409 when nothing waits and 400 naming the field', async () => {
    const id = await flagged();
    expect(
      (await call('POST', `/v1/runs/${id}/steps/post/resolve`, 'frank', { outcome: 'retry' })).status,
    ).toBe(403);
    expect(
      (await call('POST', `/v1/runs/${id}/steps/post/resolve`, 'poster', { outcome: 'retry' })).status,
    ).toBe(403);
    const bad = await call('POST', `/v1/runs/${id}/steps/post/resolve`, 'fiona', { outcome: 'maybe' });
    expect(bad.status).toBe(400);
    expect(JSON.stringify(bad.body)).toContain('outcome');
    const extra = await call('POST', `/v1/runs/${id}/steps/post/resolve`, 'fiona', {
      outcome: 'retry',
      x: 1,
    });
    expect(extra.status).toBe(400);
    expect(
      (await call('POST', `/v1/runs/${id}/steps/extract/resolve`, 'fiona', { outcome: 'retry' })).status,
    ).toBe(409);
    expect(
      (await call('POST', `/v1/runs/${id}/steps/post/resolve`, 'ada', { outcome: 'failed' })).status,
    ).toBe(200);
    expect(
      (await call('POST', `/v1/runs/${id}/steps/post/resolve`, 'ada', { outcome: 'failed' })).status,
    ).toBe(409);
    expect(erp.calls('POST /invoices/:id/post')).toBe(1);
  });
});
