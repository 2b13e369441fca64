import {
  Client as ModernClient,
  StreamableHTTPClientTransport as ModernTransport,
} from '@modelcontextprotocol/client';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { backends } from '../../../../test/helpers/backends.js';
import type { TestStore } from '../../../../test/helpers/backends.js';
import { startGateway, textOf } from '../../../../test/helpers/mcp-gateway.js';
import type { Gateway } from '../../../../test/helpers/mcp-gateway.js';

const sqlite = backends.find((b) => b.name === 'sqlite');
if (!sqlite) throw new Error('no sqlite backend');

/** What one HTTP request to /mcp carried. */
interface Sent {
  method: string | undefined;
  headers: Headers;
}

type Result = { content?: unknown; isError?: boolean; structuredContent?: Record<string, unknown> };

/**
 * Clients of revision 2026-07-28 (official SDK 2.x: no initialize, no Mcp-Session-Id) and of 2025-06-18 /
 * 2025-11-25 (SDK 1.x) against one gateway in one run: the same tools, the same policies, the same session memory.
 */
describe('MCP revisions on one gateway', () => {
  let t: TestStore;
  let gw: Gateway;
  let token: string;
  const closers: (() => Promise<void>)[] = [];

  beforeAll(async () => {
    t = await sqlite.create();
    gw = await startGateway(t, { approvalWaitMs: 600, filesystem: true });
    token = await gw.token('agent', 'refund-bot');
  }, 60_000);
  afterAll(async () => {
    for (const c of closers.splice(0)) await c().catch(() => undefined);
    await gw?.close();
    await t?.cleanup();
  });

  const recorder = (sent: Sent[], rewrite?: (body: string) => string): typeof fetch =>
    (async (url: string | URL | Request, init?: RequestInit) => {
      const body = typeof init?.body === 'string' ? init.body : undefined;
      const parsed = body ? (JSON.parse(body) as { method?: string }) : undefined;
      sent.push({ method: parsed?.method, headers: new Headers(init?.headers) });
      return fetch(url, { ...init, ...(body && rewrite ? { body: rewrite(body) } : {}) });
    }) as typeof fetch;

  /** A 2026-07-28 client, pinned: it never sends initialize and never holds a session. */
  const modern = async (
    sent: Sent[] = [],
    opts: { elicit?: (url: string) => Promise<void>; path?: string } = {},
  ) => {
    const c = new ModernClient(
      { name: 'aos-test-2026', version: '1.0.0' },
      {
        versionNegotiation: { mode: { pin: '2026-07-28' } },
        ...(opts.elicit ? { capabilities: { elicitation: { url: {} } } } : {}),
      },
    );
    if (opts.elicit) {
      const elicit = opts.elicit;
      c.setRequestHandler('elicitation/create', async (req) => {
        await elicit((req.params as { url: string }).url);
        return { action: 'accept' };
      });
    }
    await c.connect(
      new ModernTransport(new URL(`${gw.node.base}${opts.path ?? '/mcp'}`), {
        requestInit: { headers: { authorization: `Bearer ${token}` } },
        fetch: recorder(sent),
      }),
    );
    closers.push(() => c.close());
    return c;
  };

  /** An SDK 1.x client that negotiates `version` at initialize (the SDK asks for its latest; 2025-06-18 is pinned). */
  const legacy = async (version: '2025-06-18' | '2025-11-25', sent: Sent[] = []) => {
    const c = new Client({ name: `aos-test-${version}`, version: '1.0.0' });
    const pin = (body: string) =>
      body.replace('"protocolVersion":"2025-11-25"', `"protocolVersion":"${version}"`);
    await c.connect(
      new StreamableHTTPClientTransport(new URL(`${gw.node.base}/mcp`), {
        requestInit: { headers: { authorization: `Bearer ${token}` } },
        fetch: recorder(sent, version === '2025-11-25' ? undefined : pin),
      }),
    );
    closers.push(() => c.close());
    return c;
  };

  const call = async (
    c: Client | ModernClient,
    name: string,
    args: Record<string, unknown>,
    meta?: Record<string, unknown>,
  ) => (await c.callTool({ name, arguments: args, ...(meta ? { _meta: meta } : {}) })) as Result;
  const refund = (c: Client | ModernClient, meta?: Record<string, unknown>) =>
    call(c, 'payments.refund', { orderId: 'o-1', amount: 20 }, meta);
  const readNotes = (c: Client | ModernClient, meta?: Record<string, unknown>) =>
    call(c, 'fs.read_text_file', { path: `${gw.files}/notes.txt` }, meta);

  /** A session the engine opens for refund-bot (`POST /v1/sessions`), as a 2026 client names it in `_meta`. */
  const freshSession = async () => {
    const opened = await fetch(`${gw.node.base}/v1/sessions`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}` },
    });
    return { 'autonomy-os/session': ((await opened.json()) as { sessionId: string }).sessionId };
  };

  it('governs a 2026-07-28 client and 2025-06-18 / 2025-11-25 clients alike, including session memory', async () => {
    const sent2026: Sent[] = [];
    const sent0618: Sent[] = [];
    const now = await modern(sent2026);
    const old = await legacy('2025-06-18', sent0618);
    const newer = await legacy('2025-11-25');

    // The same tools, under the same names.
    const names = async (c: Client | ModernClient) => (await c.listTools()).tools.map((x) => x.name).sort();
    expect(await names(now)).toEqual(await names(old));
    expect(await names(now)).toEqual(await names(newer));

    // The same policy decides for each: a large refund is denied naming the same policy.
    const big = { orderId: 'o-1', amount: 5000 };
    const denied = await Promise.all([now, old, newer].map((c) => call(c, 'payments.refund', big)));
    const policies = denied.map((d) => (d.structuredContent ?? {}).policies);
    expect(policies[0]).toEqual(policies[1]);
    expect(policies[0]).toEqual(policies[2]);
    expect(denied.every((d) => d.isError === true)).toBe(true);

    // Session memory. The 2025-06-18 client's initialize opened a fresh session: a refund is allowed in it.
    expect((await refund(old)).isError).toBe(false);
    // The 2026 client has no session: it is decided under the agent scope. After it reads untrusted content,
    // moving money is forbidden there — and in the legacy session once that session reads it too.
    expect((await readNotes(now)).isError).toBeFalsy();
    const after = await refund(now);
    expect(after.isError).toBe(true);
    expect(textOf(after)).toContain('no-payments-after-untrusted-input');
    expect((await readNotes(old)).isError).toBeFalsy();
    expect(textOf(await refund(old))).toContain('no-payments-after-untrusted-input');

    // A 2026 client carries an engine-minted session in _meta: it starts clean and keeps its own memory.
    const session = await freshSession();
    expect((await refund(now, session)).isError).toBe(false);
    expect((await readNotes(now, session)).isError).toBeFalsy();
    expect(textOf(await refund(now, session))).toContain('no-payments-after-untrusted-input');
    // A made-up session is no way out of the agent scope.
    expect(textOf(await refund(now, { 'autonomy-os/session': 'ses_made_up' }))).toContain(
      'no-payments-after-untrusted-input',
    );
    expect(gw.payments.calls('POST /refunds')).toBe(2);

    // On the wire: the 2026 client never initialized, never got or sent a session id, and sent the revision's
    // headers; the 2025-06-18 client initialized and echoed its session id and version.
    expect(sent2026.map((s) => s.method)).not.toContain('initialize');
    expect(sent2026.some((s) => s.headers.has('mcp-session-id'))).toBe(false);
    const call2026 = sent2026.find((s) => s.method === 'tools/call');
    expect(call2026?.headers.get('mcp-protocol-version')).toBe('2026-07-28');
    expect(call2026?.headers.get('mcp-method')).toBe('tools/call');
    expect(call2026?.headers.get('mcp-name')).toBe('payments.refund');
    expect(sent0618[0]?.method).toBe('initialize');
    const call0618 = sent0618.find((s) => s.method === 'tools/call');
    expect(call0618?.headers.get('mcp-protocol-version')).toBe('2025-06-18');
    expect(call0618?.headers.get('mcp-session-id')).toMatch(/^mcp_[0-9a-f]{24}$/);
  });

  it('asks a 2026 client that elicits URLs to get the held call approved, and answers the result on retry', async () => {
    let approvalUrl = '';
    const admin = await gw.token('human', 'frank');
    const c = await modern([], {
      elicit: async (url) => {
        approvalUrl = url;
        const id = decodeURIComponent(url.split('/approvals/')[1] ?? '');
        const res = await fetch(`${gw.node.base}/v1/approvals/${id}/approve`, {
          method: 'POST',
          headers: { authorization: `Bearer ${admin}`, 'content-type': 'application/json' },
          body: JSON.stringify({ comment: 'ok' }),
        });
        expect(res.status).toBe(200);
      },
    });
    const held = await call(c, 'payments.refund', { orderId: 'o-2', amount: 200 }, await freshSession());
    expect(approvalUrl).toMatch(/\/approvals\/apr_/);
    expect(held.isError).toBeFalsy();
    expect(JSON.stringify(held.content)).toContain('o-2');
  });

  it('answers pending to a 2026 client without elicitation, with progress while it waits', async () => {
    const c = await modern();
    const progress: number[] = [];
    const held = (await c.callTool(
      { name: 'payments.refund', arguments: { orderId: 'o-3', amount: 200 }, _meta: await freshSession() },
      { onprogress: (p: { progress: number }) => void progress.push(p.progress) },
    )) as Result;
    expect(held.structuredContent).toMatchObject({ status: 'pending_approval' });
    expect(progress.length).toBeGreaterThan(0);
  });

  it('lists and calls aliased tool names for a client that asks for them', async () => {
    const c = await modern([], { path: '/mcp?toolNames=alias' });
    const names = (await c.listTools()).tools.map((x) => x.name);
    expect(names).toContain('payments_get_order');
    expect(names.every((n) => /^[a-zA-Z0-9_-]{1,64}$/.test(n))).toBe(true);
    const got = await call(c, 'payments_get_order', { orderId: 'o-1' });
    expect(got.isError).toBeFalsy();
    const last = (await t.raw('SELECT tool FROM actions ORDER BY created_at DESC LIMIT 1')) as {
      tool: string;
    }[];
    expect(last[0]?.tool).toBe('payments.get_order');
  });

  /** The specification's own request examples (basic/transports/streamable-http), sent as raw HTTP. */
  describe('wire rules of 2026-07-28', () => {
    const post = (headers: Record<string, string>, body: unknown) =>
      fetch(`${gw.node.base}/mcp`, {
        method: 'POST',
        headers: {
          authorization: `Bearer ${token}`,
          'content-type': 'application/json',
          accept: 'application/json, text/event-stream',
          ...headers,
        },
        body: JSON.stringify(body),
      });
    const meta = (version = '2026-07-28') => ({
      'io.modelcontextprotocol/protocolVersion': version,
      'io.modelcontextprotocol/clientInfo': { name: 'ExampleClient', version: '1.0.0' },
      'io.modelcontextprotocol/clientCapabilities': {},
    });
    const toolsCall = (name: string, version?: string) => ({
      jsonrpc: '2.0',
      id: 1,
      method: 'tools/call',
      params: { name, arguments: { orderId: 'o-1' }, _meta: meta(version) },
    });
    const headers = (name: string, version = '2026-07-28') => ({
      'mcp-protocol-version': version,
      'mcp-method': 'tools/call',
      'mcp-name': name,
    });
    const rpc = async (res: Response) => {
      const text = await res.text();
      const data = text.startsWith('{')
        ? text
        : (text.split('\n').find((l) => l.startsWith('data: ')) ?? '').slice(6);
      return JSON.parse(data) as {
        result?: Record<string, unknown>;
        error?: { code: number; data?: unknown };
      };
    };

    it('answers the tools/call example without initialize or a session, and mints no session id', async () => {
      const res = await post(headers('payments.get_order'), toolsCall('payments.get_order'));
      expect(res.status).toBe(200);
      expect(res.headers.get('mcp-session-id')).toBeNull();
      const body = await rpc(res);
      expect(body.result).toMatchObject({ resultType: 'complete', isError: false });
    });

    it('answers concurrent calls of different agents each for its own agent, as one JSON body of known length', async () => {
      const agents = ['refund-bot', 'reader', 'intern'];
      const tokens = await Promise.all(agents.map((id) => gw.token('agent', id)));
      const answers = await Promise.all(
        [...tokens, ...tokens].map((agentToken) =>
          fetch(`${gw.node.base}/mcp`, {
            method: 'POST',
            headers: {
              authorization: `Bearer ${agentToken}`,
              'content-type': 'application/json',
              accept: 'application/json, text/event-stream',
              ...headers('aos_whoami'),
            },
            body: JSON.stringify({
              ...toolsCall('aos_whoami'),
              params: { name: 'aos_whoami', arguments: {}, _meta: meta() },
            }),
          }),
        ),
      );
      const ids = [];
      for (const res of answers) {
        expect(res.status).toBe(200);
        expect(res.headers.get('content-type')).toMatch(/^application\/json/);
        const text = await res.text();
        expect(Number(res.headers.get('content-length'))).toBe(Buffer.byteLength(text));
        const body = JSON.parse(text) as { result?: { structuredContent?: { id?: string } } };
        ids.push(body.result?.structuredContent?.id);
      }
      expect(ids).toEqual([...agents, ...agents]);
    });

    it('refuses an Mcp-Name that does not match the body with 400 HeaderMismatch (-32020)', async () => {
      const res = await post(headers('payments.refund'), toolsCall('payments.get_order'));
      expect(res.status).toBe(400);
      expect((await rpc(res)).error?.code).toBe(-32020);
    });

    it('refuses an unsupported revision with 400 UnsupportedProtocolVersion (-32022) listing the supported ones', async () => {
      const res = await post(
        headers('payments.get_order', '1900-01-01'),
        toolsCall('payments.get_order', '1900-01-01'),
      );
      expect(res.status).toBe(400);
      const body = await rpc(res);
      expect(body.error?.code).toBe(-32022);
      expect(JSON.stringify(body.error?.data)).toContain('2026-07-28');
    });

    it('answers server/discover with the supported revisions', async () => {
      const res = await post(
        { 'mcp-protocol-version': '2026-07-28', 'mcp-method': 'server/discover' },
        { jsonrpc: '2.0', id: 3, method: 'server/discover', params: { _meta: meta() } },
      );
      expect(res.status).toBe(200);
      expect(JSON.stringify(await rpc(res))).toContain('2026-07-28');
    });
  });
});
