import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { defineWorkflow } from '@autonomy-os/core';
import { AosApiError, AosClient } from '@autonomy-os/sdk';
import type { Engine } from '@autonomy-os/core';
import { backends } from '../../../../test/helpers/backends.js';
import type { TestStore } from '../../../../test/helpers/backends.js';
import {
  coordinationEngine,
  seedCoordination,
  startWorkUpstream,
  workWorkflow,
} from '../../../../test/helpers/coordination.js';
import type { WorkUpstream } from '../../../../test/helpers/coordination.js';
import { connectClient } from '../../../../test/helpers/mcp-gateway.js';
import { buildServer } from '../server.js';
import type { AosServer } from '../server.js';
import { ADA } from '../../../../test/helpers/people.js';

const team = defineWorkflow({
  name: 'team',
  version: 1,
  owner: 'ada',
  steps: {
    draft: { kind: 'task', role: 'helper', rule: 'draft' },
    call: {
      kind: 'action',
      dependsOn: ['draft'],
      as: 'worker',
      tool: 'work.work',
      input: '{ "id": input.id }',
    },
  },
});

describe.each(backends)('coordination REST and MCP fronts on $name', (backend) => {
  let t: TestStore;
  let up: WorkUpstream;
  let engine: Engine;
  let server: AosServer;
  let base: string;
  let runId: string;
  const tokens: Record<string, string> = {};
  const clients: Client[] = [];

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
  const mcp = async (who: string) => {
    const c = await connectClient(base, tokens[who] as string);
    clients.push(c);
    return c;
  };

  beforeEach(async (ctx) => {
    if (!backend.enabled) return ctx.skip();
    t = await backend.create();
    up = await startWorkUpstream();
    const config = await seedCoordination(t, up.url);
    config.server.port = 0;
    engine = await coordinationEngine(t.store, config, [team, workWorkflow('plain')], undefined, {
      draft: () => ({ ok: true }),
    });
    server = buildServer({ engine, version: 'test' });
    base = await server.listen();
    tokens.ada = (
      await t.store.tokens.issue({ subjectType: 'human', subjectId: 'ada' }, 'operator:test')
    ).token;
    for (const a of ['worker', 'helper', 'outsider'])
      tokens[a] = (await t.store.tokens.issue({ subjectType: 'agent', subjectId: a }, 'operator:test')).token;
    runId = (await engine.workflows.start('team', { id: 'a' }, ADA)).id;
  });
  afterEach(async () => {
    for (const c of clients.splice(0)) await c.close();
    await server?.close();
    await engine?.close();
    await up?.close();
    await t?.cleanup();
  });

  it('reads and writes the run context over REST with optimistic concurrency and access checks', async () => {
    const put = await call('PUT', `/v1/runs/${runId}/context/plan`, 'ada', { value: { step: 1 } });
    expect(put).toMatchObject({ status: 200, body: { key: 'plan', version: 1, writtenBy: 'human:ada' } });
    const stale = await call('PUT', `/v1/runs/${runId}/context/plan`, 'helper', {
      value: 2,
      expectVersion: 0,
    });
    expect(stale.status).toBe(409);
    expect(JSON.stringify(stale.body)).toMatch(/expectVersion/);
    const ok = await call('PUT', `/v1/runs/${runId}/context/plan`, 'helper', { value: 2, expectVersion: 1 });
    expect(ok.body).toMatchObject({ version: 2, writtenBy: 'agent:helper' });
    const bad = await call('PUT', `/v1/runs/${runId}/context/plan`, 'helper', { value: 3, extra: true });
    expect(bad.status).toBe(400);
    expect(JSON.stringify(bad.body)).toContain('extra');
    expect((await call('GET', `/v1/runs/${runId}/context`, 'worker', undefined)).body).toMatchObject({
      entries: [{ key: 'plan', value: 2, version: 2 }],
    });
    expect((await call('GET', `/v1/runs/${runId}/context/plan`, 'ada')).body).toMatchObject({ value: 2 });
    expect((await call('GET', `/v1/runs/${runId}/context/nope`, 'ada')).status).toBe(404);
    expect((await call('GET', `/v1/runs/${runId}/context`, 'outsider')).status).toBe(403);
    expect((await call('GET', `/v1/runs/run_missing/context`, 'ada')).status).toBe(404);
  });

  it('sends and reads messages over REST, and shows leases to humans only', async () => {
    const sent = await call('POST', `/v1/runs/${runId}/messages`, 'worker', { to: 'helper', body: 'ping' });
    expect(sent).toMatchObject({ status: 201, body: { from: 'worker', to: 'helper', body: 'ping' } });
    expect(
      (await call('POST', `/v1/runs/${runId}/messages`, 'ada', { to: 'helper', body: 'x' })).status,
    ).toBe(403);
    expect(
      (await call('POST', `/v1/runs/${runId}/messages`, 'outsider', { to: 'helper', body: 'x' })).status,
    ).toBe(403);
    const none = await call('POST', `/v1/runs/${runId}/messages`, 'worker', { body: 'x' });
    expect(none.status).toBe(400);
    const inbox = await call('GET', '/v1/messages?unread=true', 'helper');
    expect((inbox.body.messages as unknown[]).length).toBe(1);
    expect((await call('GET', '/v1/messages?unread=true', 'helper')).body.messages).toEqual([]);
    expect((await call('GET', `/v1/runs/${runId}/messages`, 'ada')).body.messages).toHaveLength(1);
    expect((await call('GET', `/v1/runs/${runId}/messages`, 'worker')).status).toBe(403);
    expect(await call('GET', '/v1/leases', 'ada')).toMatchObject({
      status: 200,
      body: { leases: [], waiters: [] },
    });
    expect((await call('GET', '/v1/leases', 'worker')).status).toBe(403);
  });

  it('offers the context and messages as MCP built-in tools to agents working on the run', async () => {
    const helper = await mcp('helper');
    const set = await helper.callTool({
      name: 'aos_context_set',
      arguments: { runId, key: 'draft', value: 'v1' },
    });
    expect(set.structuredContent).toMatchObject({
      entry: { key: 'draft', version: 1, writtenBy: 'agent:helper' },
    });
    const got = await helper.callTool({ name: 'aos_context_get', arguments: { runId, key: 'draft' } });
    expect(got.structuredContent).toMatchObject({ entry: { value: 'v1' } });
    await helper.callTool({ name: 'aos_send_message', arguments: { runId, to: 'worker', body: { hi: 1 } } });
    const worker = await mcp('worker');
    const read = await worker.callTool({ name: 'aos_read_messages', arguments: { runId } });
    expect(read.structuredContent).toMatchObject({ messages: [{ from: 'helper', body: { hi: 1 } }] });
    const again = await worker.callTool({ name: 'aos_read_messages', arguments: {} });
    expect(again.structuredContent).toEqual({ messages: [] });
    const outsider = await mcp('outsider');
    await expect(outsider.callTool({ name: 'aos_context_get', arguments: { runId } })).rejects.toThrow(
      /does not work on run/,
    );
    await expect(
      helper.callTool({
        name: 'aos_context_set',
        arguments: { runId, key: 'x', value: 1, expectVersion: 5 },
      }),
    ).rejects.toThrow(/expectVersion/);
    const audit = await t.raw("SELECT actor FROM audit_log WHERE type = 'run.context_written'");
    expect(audit).toEqual([{ actor: 'agent:helper' }]);
  });

  it('serves the same context and messages to the SDK client', async () => {
    const helper = new AosClient({ url: base, token: tokens.helper as string });
    const worker = new AosClient({ url: base, token: tokens.worker as string });
    expect(await helper.setRunContext(runId, 'plan', [1, 2], { expectVersion: 0 })).toMatchObject({
      version: 1,
    });
    const stale = await helper
      .setRunContext(runId, 'plan', [3], { expectVersion: 0 })
      .catch((e: unknown) => e);
    expect(stale).toBeInstanceOf(AosApiError);
    expect((stale as AosApiError).status).toBe(409);
    expect(await worker.getRunContextEntry(runId, 'plan')).toMatchObject({
      value: [1, 2],
      writtenBy: 'agent:helper',
    });
    expect((await worker.getRunContext(runId)).entries).toHaveLength(1);
    await worker.sendMessage(runId, { toRole: 'helper', body: 'done?' });
    expect((await helper.readMessages({ runId, unread: true })).messages).toMatchObject([{ body: 'done?' }]);
    expect((await helper.readMessages({ unread: true })).messages).toEqual([]);
  });
});
