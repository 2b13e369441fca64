import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { loadWorkflows, parseConfig } from '@autonomy-os/core';
import type { AosConfig, Engine, WorkflowDefinition } from '@autonomy-os/core';
import { backends } from '../../../../test/helpers/backends.js';
import type { TestStore } from '../../../../test/helpers/backends.js';
import {
  INVOICES,
  invoicesConfig,
  invoicesEngine,
  seedInvoices,
  startErp,
} from '../../../../test/helpers/invoices.js';
import type { Erp } from '../../../../test/helpers/invoices.js';
import { buildServer } from '../server.js';
import type { AosServer } from '../server.js';

describe.each(backends)('workflow REST routes on $name', (backend) => {
  let t: TestStore;
  let erp: Erp;
  let engine: Engine;
  let server: AosServer;
  let base: string;
  let config: AosConfig;
  const tokens: Record<string, string> = {};

  /** Serves the same store with another engine: other workflow definitions, or another config. */
  const restart = async (p: { workflows?: WorkflowDefinition[]; config?: AosConfig }) => {
    await server.close();
    await engine.close();
    engine = await invoicesEngine(
      t.store,
      p.config ?? config,
      {},
      p.workflows ? { workflows: p.workflows } : {},
    );
    server = buildServer({ engine, version: 'test' });
    base = await server.listen();
  };

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
    config = invoicesConfig(erp.url);
    config.server.port = 0;
    engine = await invoicesEngine(t.store, config);
    server = buildServer({ engine, version: 'test' });
    base = await server.listen();
    await t.store.humans.add({ id: 'pat', groups: ['platform'] }, 'operator:test');
    for (const h of ['ada', 'frank', 'fiona', 'pat']) {
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

  const input = {
    invoiceId: 'inv-9',
    document: { number: 'inv-9', vendor: 'acme', total: 5000, currency: 'EUR' },
  };

  it('lets an admin start a run and an approver decide its approval step', async () => {
    const started = await call('POST', '/v1/workflows/invoice-approval/runs', 'ada', { input });
    expect(started.status).toBe(201);
    const id = started.body.id as string;
    await engine.workflows.drain();
    const waiting = await call('GET', `/v1/runs/${id}`, 'frank');
    expect((waiting.body.steps as Record<string, { status: string }>).approve?.status).toBe('waiting');
    const voted = await call('POST', `/v1/runs/${id}/steps/approve/approve`, 'frank', { comment: 'ok' });
    expect(voted.status).toBe(200);
    await engine.workflows.drain();
    const done = await call('GET', `/v1/runs/${id}`, 'ada');
    expect(done.body.status).toBe('completed');
    expect(erp.calls('POST /invoices/:id/post')).toBe(1);
    const list = await call('GET', '/v1/runs?status=completed', 'ada');
    expect((list.body.runs as { id: string }[]).map((r) => r.id)).toEqual([id]);
    const late = await call('POST', `/v1/runs/${id}/cancel`, 'ada', {});
    expect(late.status).toBe(409);
  });

  it('refuses to start runs for agents and for humans who are neither admins nor the owner', async () => {
    const agent = await call('POST', '/v1/workflows/invoice-approval/runs', 'poster', { input });
    expect(agent.status).toBe(403);
    const frank = await call('POST', '/v1/workflows/invoice-approval/runs', 'frank', { input });
    expect(frank.status).toBe(403);
    const bad = await call('POST', '/v1/workflows/invoice-approval/runs', 'ada', { input: { invoiceId: 1 } });
    expect(bad.status).toBe(400);
    expect(JSON.stringify(bad.body)).toContain('input');
  });

  it('cancels a waiting run for an admin', async () => {
    const started = await call('POST', '/v1/workflows/invoice-approval/runs', 'ada', { input });
    const id = started.body.id as string;
    await engine.workflows.drain();
    expect((await call('POST', `/v1/runs/${id}/cancel`, 'frank', {})).status).toBe(403);
    expect((await call('POST', `/v1/runs/${id}/cancel`, 'ada', { reason: 'duplicate' })).status).toBe(200);
    await engine.workflows.drain();
    expect((await call('GET', `/v1/runs/${id}`, 'ada')).body.status).toBe('cancelled');
  });

  it('lets the owner pinned on the run manage it, not the owner of the definition loaded now', async () => {
    const id = (await call('POST', '/v1/workflows/invoice-approval/runs', 'ada', { input })).body
      .id as string;
    await engine.workflows.drain();
    // The workflow is reloaded with frank as its owner: new runs are his, this one (pinned: fiona) is not.
    const defs = loadWorkflows(path.join(INVOICES, 'workflows')).map((d) =>
      d.name === 'invoice-approval' ? { ...d, owner: 'frank' } : d,
    );
    await restart({ workflows: defs });
    for (const verb of ['pause', 'cancel'])
      expect((await call('POST', `/v1/runs/${id}/${verb}`, 'frank', {})).status).toBe(403);
    expect((await call('POST', `/v1/runs/${id}/pause`, 'fiona', {})).status).toBe(200);
    expect((await call('POST', `/v1/runs/${id}/cancel`, 'fiona', {})).status).toBe(200);
  });

  it('takes the admins group from config: its members manage any run, members of a group named admins do not', async () => {
    const id = (await call('POST', '/v1/workflows/invoice-approval/runs', 'ada', { input })).body
      .id as string;
    await engine.workflows.drain();
    await restart({ config: parseConfig({ ...config, groups: { admins: 'platform' } }) });
    expect((await call('POST', `/v1/runs/${id}/pause`, 'ada', {})).status).toBe(403);
    expect((await call('POST', '/v1/workflows/invoice-approval/runs', 'ada', { input })).status).toBe(403);
    expect((await call('POST', `/v1/runs/${id}/pause`, 'pat', {})).status).toBe(200);
    expect((await call('POST', `/v1/runs/${id}/cancel`, 'pat', {})).status).toBe(200);
  });
});
