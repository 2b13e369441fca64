import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { AosClient } from '@autonomy-os/sdk';
import { backends } from '../../../../test/helpers/backends.js';
import type { TestStore } from '../../../../test/helpers/backends.js';
import { connectClient, startGateway, textOf } from '../../../../test/helpers/mcp-gateway.js';
import type { Gateway } from '../../../../test/helpers/mcp-gateway.js';

/**
 * Session taint is not the agent's to drop: after an untrusted read, a payment is denied whether the agent names
 * the session, leaves it out, or names one it made up — over REST and over MCP. Only a session the engine opened
 * for the agent (MCP `initialize`, `POST /v1/sessions`) starts clean.
 */
describe.each(backends)('session taint over REST and MCP on $name', (backend) => {
  let t: TestStore;
  let gw: Gateway;
  let token: string;
  let clients: Client[] = [];

  beforeEach(async (ctx) => {
    if (!backend.enabled) return ctx.skip();
    t = await backend.create();
    gw = await startGateway(t, { approvalWaitMs: 0, filesystem: true });
    token = await gw.token('agent', 'refund-bot');
  });
  afterEach(async () => {
    for (const c of clients) await c.close().catch(() => undefined);
    clients = [];
    await gw?.close();
    await t?.cleanup();
  });

  const rest = async (method: string, path: string, body?: unknown) => {
    const res = await fetch(`${gw.node.base}${path}`, {
      method,
      headers: { authorization: `Bearer ${token}`, ...(body ? { 'content-type': 'application/json' } : {}) },
      ...(body ? { body: JSON.stringify(body) } : {}),
    });
    return { status: res.status, body: (await res.json()) as Record<string, unknown> };
  };
  const readNotes = (extra: Record<string, unknown> = {}) =>
    rest('POST', '/v1/actions', {
      tool: 'fs.read_text_file',
      input: { path: `${gw.files}/notes.txt` },
      ...extra,
    });
  const refund = (extra: Record<string, unknown> = {}) =>
    rest('POST', '/v1/actions', { tool: 'payments.refund', input: { orderId: 'o-1', amount: 20 }, ...extra });
  /** An SDK client that sends `sessionId` as its Mcp-Session-Id without initializing, or strips the header. */
  const client = async (sessionId: string | null) => {
    const c = new Client({ name: 'aos-test', version: '1.0.0' });
    const strip: typeof fetch = (url, init) => {
      const headers = new Headers(init?.headers);
      headers.delete('mcp-session-id');
      return fetch(url, { ...init, headers });
    };
    await c.connect(
      new StreamableHTTPClientTransport(new URL(`${gw.node.base}/mcp`), {
        requestInit: { headers: { authorization: `Bearer ${token}` } },
        ...(sessionId === null ? { fetch: strip } : { sessionId }),
      }),
    );
    clients.push(c);
    return c;
  };
  const mcpRefund = (c: Client) =>
    c.callTool({ name: 'payments.refund', arguments: { orderId: 'o-1', amount: 20 } });

  it('denies a REST payment after an untrusted read, with the session, without it, or with a made-up one', async () => {
    const opened = await rest('POST', '/v1/sessions');
    expect(opened.status).toBe(201);
    const sessionId = opened.body.sessionId as string;
    expect((await readNotes({ sessionId })).body.status).toBe('succeeded');
    for (const extra of [{ sessionId }, {}, { sessionId: 's-made-up' }]) {
      const pay = await refund(extra);
      expect(pay.status, JSON.stringify(extra)).toBe(201);
      expect(pay.body).toMatchObject({
        outcome: 'denied',
        decision: { policies: ['no-payments-after-untrusted-input'] },
      });
    }
    // A session the engine opened starts clean (here through the SDK).
    const { sessionId: fresh } = await new AosClient({ url: gw.node.base, token }).openSession();
    expect((await refund({ sessionId: fresh })).body.outcome).toBe('allowed');
    expect(gw.payments.calls('POST /refunds')).toBe(1);
  });

  it('refuses an agent-supplied reserved idempotency key over REST with a 400 naming the field', async () => {
    const res = await rest('POST', '/v1/actions', {
      tool: 'payments.get_order',
      input: { orderId: 'o-1' },
      idempotencyKey: 'undo:act_1',
    });
    expect(res.status).toBe(400);
    expect(res.body).toMatchObject({ error: { field: 'idempotencyKey' } });
    const header = await fetch(`${gw.node.base}/v1/actions`, {
      method: 'POST',
      headers: {
        authorization: `Bearer ${token}`,
        'content-type': 'application/json',
        'idempotency-key': 'wf:x',
      },
      body: JSON.stringify({ tool: 'payments.get_order', input: { orderId: 'o-1' } }),
    });
    expect(header.status).toBe(400);
  });

  it('denies an MCP payment after an untrusted read, from a client with no session or a made-up one', async () => {
    const first = await connectClient(gw.node.base, token);
    clients.push(first);
    const read = await first.callTool({
      name: 'fs.read_text_file',
      arguments: { path: `${gw.files}/notes.txt` },
    });
    expect(read.isError).toBeFalsy();
    for (const c of [first, await client(null), await client('mcp_made-up-by-the-agent')]) {
      const pay = await mcpRefund(c);
      expect(pay.isError).toBe(true);
      expect(textOf(pay)).toContain('no-payments-after-untrusted-input');
    }
    expect(gw.payments.calls('POST /refunds')).toBe(0);
    // A session the gateway minted on initialize starts clean; another agent's session id is no way in.
    const fresh = await connectClient(gw.node.base, token);
    clients.push(fresh);
    expect((await mcpRefund(fresh)).isError).toBe(false);
  });

  it("does not let an agent borrow another agent's clean MCP session", async () => {
    const res = await fetch(`${gw.node.base}/mcp`, {
      method: 'POST',
      headers: {
        authorization: `Bearer ${await gw.token('agent', 'intern')}`,
        'content-type': 'application/json',
        accept: 'application/json, text/event-stream',
      },
      body: JSON.stringify({
        jsonrpc: '2.0',
        id: 1,
        method: 'initialize',
        params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 'x', version: '1' } },
      }),
    });
    const theirs = res.headers.get('mcp-session-id') as string;
    await res.text();
    expect((await readNotes()).body.status).toBe('succeeded');
    const borrowed = await client(theirs);
    const pay = await mcpRefund(borrowed);
    expect(textOf(pay)).toContain('no-payments-after-untrusted-input');
  });
});
