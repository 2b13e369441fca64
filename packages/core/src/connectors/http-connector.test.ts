import { createServer } from 'node:http';
import { gzipSync } from 'node:zlib';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { NotFoundError, SystemError, UserError } from '../errors.js';
import { EnvSecretStore } from '../secrets/index.js';
import { HttpConnector, UpstreamPool, metadataFromAnnotations } from './index.js';
import type { HttpOperation, ToolResult } from './index.js';

const API_KEY = 'pk_test_Zx81-not-for-agents';
const secrets = new EnvSecretStore({ env: { AOS_SECRET_PAY_KEY: API_KEY } });

interface Seen {
  method: string;
  url: string;
  headers: IncomingMessage['headers'];
  body: string;
}

/** The client port the `/socket` route saw. */
const portOf = (result: ToolResult): unknown =>
  (result.structuredContent as { port?: unknown } | undefined)?.port;

async function caught(promise: Promise<unknown>): Promise<Error> {
  try {
    await promise;
  } catch (error) {
    return error as Error;
  }
  throw new Error('expected a rejection');
}

describe('HttpConnector against a local HTTP server', () => {
  let server: Server;
  let base: string;
  const seen: Seen[] = [];
  const hanging: ServerResponse[] = [];
  const held: ServerResponse[] = [];

  beforeAll(async () => {
    server = createServer((req, res) => {
      let body = '';
      req.setEncoding('utf8');
      req.on('data', (chunk: string) => (body += chunk));
      req.on('end', () => {
        seen.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers, body });
        const url = new URL(req.url ?? '/', 'http://127.0.0.1');
        if (url.pathname === '/slow') {
          hanging.push(res);
          return;
        }
        if (url.pathname === '/leaky') {
          res.writeHead(401, { 'content-type': 'application/json' });
          res.end(JSON.stringify({ error: `key ${String(req.headers['x-api-key'])} is revoked` }));
          return;
        }
        if (url.pathname === '/hold') {
          held.push(res);
          return;
        }
        if (url.pathname === '/socket') {
          // Answers which client port the request came from, after a short pause so concurrent calls overlap.
          setTimeout(() => {
            res.writeHead(200, { 'content-type': 'application/json' });
            res.end(JSON.stringify({ port: req.socket.remotePort }));
          }, 20);
          return;
        }
        if (url.pathname === '/big') {
          res.writeHead(200, { 'content-type': 'application/json' });
          res.end(JSON.stringify({ filler: 'x'.repeat(5_000) }));
          return;
        }
        if (url.pathname === '/gzip') {
          res.writeHead(200, { 'content-type': 'application/json', 'content-encoding': 'gzip' });
          res.end(gzipSync(JSON.stringify({ zipped: true, filler: 'y'.repeat(5_000) })));
          return;
        }
        if (url.pathname === '/headers') {
          res.writeHead(200, { 'content-type': 'application/json' });
          res.end(JSON.stringify(req.headers));
          return;
        }
        if (url.pathname === '/redirect') {
          res.writeHead(302, { location: 'http://127.0.0.2:9/steal' });
          res.end();
          return;
        }
        if (req.headers['x-api-key'] !== API_KEY) {
          res.writeHead(401, { 'content-type': 'text/plain' });
          res.end('missing or wrong api key');
          return;
        }
        if (url.pathname === '/orders') {
          res.writeHead(200, { 'content-type': 'application/json; charset=utf-8' });
          res.end(
            JSON.stringify({
              status: url.searchParams.getAll('status'),
              limit: url.searchParams.get('limit'),
            }),
          );
          return;
        }
        if (url.pathname === '/plain') {
          res.writeHead(200, { 'content-type': 'text/plain' });
          res.end('just text');
          return;
        }
        if (url.pathname.startsWith('/refunds/') && req.method === 'POST') {
          res.writeHead(201, { 'content-type': 'application/json' });
          res.end(
            JSON.stringify({
              refunded: decodeURIComponent(url.pathname.slice(9)),
              request: JSON.parse(body),
            }),
          );
          return;
        }
        res.writeHead(404, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ error: 'no such route' }));
      });
    });
    await new Promise<void>((resolve) => server.listen({ port: 0, host: '127.0.0.1' }, resolve));
    const address = server.address();
    if (typeof address !== 'object' || address === null) throw new Error('server has no address');
    base = `http://127.0.0.1:${address.port}`;
  });

  afterAll(async () => {
    for (const res of hanging) res.destroy();
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });

  const operations = (): HttpOperation[] => [
    {
      name: 'refund',
      description: 'Refund an order',
      method: 'POST',
      url: `${base}/refunds/{orderId}`,
      headers: { 'X-Api-Key': '${secret:pay_key}' },
      body: { amount: '{amount}', note: 'refund for {orderId}: {reason}' },
      inputSchema: {
        type: 'object',
        properties: { orderId: { type: 'string' }, amount: { type: 'number' } },
      },
      annotations: { destructiveHint: false },
    },
    {
      name: 'refund_raw',
      method: 'POST',
      url: `${base}/refunds/{orderId}`,
      headers: { 'X-Api-Key': '${secret:pay_key}' },
    },
    {
      name: 'list_orders',
      method: 'GET',
      url: `${base}/orders`,
      headers: { 'X-Api-Key': '${secret:pay_key}' },
      query: ['status', 'limit'],
    },
    { name: 'plain', method: 'GET', url: `${base}/plain`, headers: { 'X-Api-Key': '${secret:pay_key}' } },
    { name: 'missing', method: 'GET', url: `${base}/nowhere`, headers: { 'X-Api-Key': '${secret:pay_key}' } },
    { name: 'leaky', method: 'GET', url: `${base}/leaky`, headers: { 'X-Api-Key': '${secret:pay_key}' } },
    {
      name: 'redirect',
      method: 'GET',
      url: `${base}/redirect`,
      headers: { 'X-Api-Key': '${secret:pay_key}' },
    },
    { name: 'slow', method: 'GET', url: `${base}/slow` },
    { name: 'socket', method: 'GET', url: `${base}/socket` },
    { name: 'hold', method: 'GET', url: `${base}/hold` },
    { name: 'big', method: 'GET', url: `${base}/big` },
    { name: 'gzip', method: 'GET', url: `${base}/gzip` },
    {
      name: 'headers',
      method: 'GET',
      url: `${base}/headers`,
      headers: { 'X-Note': '  padded  ', 'X-Api-Key': '${secret:pay_key}' },
      headerParams: { 'X-Ticket': 'ticket' },
    },
    { name: 'no_key', method: 'GET', url: `${base}/orders`, headers: { 'X-Api-Key': '${secret:other_key}' } },
  ];

  const connector = (): HttpConnector =>
    new HttpConnector({ id: 'pay', operations: operations() }, { secrets });

  it('injects the secret header, encodes path values and maps the body template', async () => {
    const result = await connector().callTool(
      'refund',
      { orderId: 'A/17 x', amount: 20, reason: 'late' },
      {},
    );
    expect(result.isError).toBe(false);
    expect(result.structuredContent).toEqual({
      refunded: 'A/17 x',
      request: { amount: 20, note: 'refund for A/17 x: late' },
    });
    expect(JSON.parse((result.content[0] as { text: string }).text)).toEqual(result.structuredContent);
    const request = seen.at(-1)!;
    expect(request.url).toBe('/refunds/A%2F17%20x');
    expect(request.headers['x-api-key']).toBe(API_KEY);
    expect(request.headers['content-type']).toBe('application/json');
  });

  it("sends the input minus path fields as the body when body is 'input'", async () => {
    await connector().callTool('refund_raw', { orderId: 'B1', amount: 5, lines: [1, 2] }, {});
    expect(JSON.parse(seen.at(-1)!.body)).toEqual({ amount: 5, lines: [1, 2] });
  });

  it('sends listed input fields as query parameters', async () => {
    const result = await connector().callTool('list_orders', { status: ['open', 'held'], limit: 10 }, {});
    expect(seen.at(-1)!.url).toBe('/orders?status=open&status=held&limit=10');
    expect(result.structuredContent).toEqual({ status: ['open', 'held'], limit: '10' });
  });

  it('never expands a secret reference that arrives in the input', async () => {
    await connector().callTool(
      'refund',
      { orderId: '${secret:pay_key}', amount: 1, reason: '${secret:pay_key}' },
      {},
    );
    const request = seen.at(-1)!;
    expect(request.body).not.toContain(API_KEY);
    expect(request.url).not.toContain(API_KEY);
    expect(JSON.parse(request.body)).toMatchObject({
      note: 'refund for ${secret:pay_key}: ${secret:pay_key}',
    });
  });

  it('returns non-JSON bodies as text only', async () => {
    const result = await connector().callTool('plain', {}, {});
    expect(result).toEqual({ content: [{ type: 'text', text: 'just text' }], isError: false });
  });

  it('answers isError with the status for a non-2xx response', async () => {
    const result = await connector().callTool('missing', {}, {});
    expect(result.isError).toBe(true);
    expect((result.content[0] as { text: string }).text).toContain('HTTP 404');
    expect(result.structuredContent).toEqual({ status: 404, body: { error: 'no such route' } });
  });

  it('scrubs a secret the upstream echoes back', async () => {
    const result = await connector().callTool('leaky', {}, {});
    expect(result.isError).toBe(true);
    expect(JSON.stringify(result)).not.toContain(API_KEY);
    expect(JSON.stringify(result)).toContain('[redacted]');
  });

  it('does not follow redirects', async () => {
    const result = await connector().callTool('redirect', {}, {});
    expect(result.isError).toBe(true);
    expect(result.structuredContent).toMatchObject({ status: 302 });
  });

  it('times out a slow upstream', async () => {
    const error = await caught(connector().callTool('slow', {}, { timeoutMs: 50 }));
    expect(error).toBeInstanceOf(SystemError);
    expect((error as SystemError).code).toBe('timeout');
  });

  it('reports an unreachable upstream without the secret', async () => {
    const down = new HttpConnector(
      {
        id: 'down',
        operations: [
          { name: 'x', method: 'GET', url: 'http://127.0.0.1:1/x', headers: { A: '${secret:pay_key}' } },
        ],
      },
      { secrets },
    );
    const error = await caught(down.callTool('x', {}, {}));
    expect((error as SystemError).code).toBe('upstream_unavailable');
    expect(`${error.message} ${error.stack ?? ''}`).not.toContain(API_KEY);
  });

  it('reuses keep-alive connections for calls in sequence', async () => {
    const pay = connector();
    try {
      const ports = new Set<unknown>();
      for (let i = 0; i < 6; i++) ports.add(portOf(await pay.callTool('socket', {}, {})));
      // undici may open a second connection while the first is being released, never one per call.
      expect(ports.size).toBeLessThanOrEqual(2);
    } finally {
      await pay.close();
    }
  });

  it('opens no more connections to one origin than the pool allows', async () => {
    const pool = new UpstreamPool({ connectionsPerOrigin: 2 });
    const pay = new HttpConnector({ id: 'pay', operations: operations() }, { secrets, pool });
    try {
      const results = await Promise.all(Array.from({ length: 6 }, () => pay.callTool('socket', {}, {})));
      expect(results.every((r) => r.isError === false)).toBe(true);
      expect(new Set(results.map(portOf)).size).toBeLessThanOrEqual(2);
    } finally {
      await pool.close();
    }
  });

  it('ends its connections on close and refuses calls after it', async () => {
    const pay = connector();
    await pay.callTool('socket', {}, {});
    const open = (): Promise<number> =>
      new Promise((resolve, reject) => server.getConnections((e, n) => (e ? reject(e) : resolve(n))));
    const before = await open();
    await pay.close();
    // The server notices the closed socket on its next turn of the event loop.
    for (let i = 0; i < 50 && (await open()) >= before; i++) await new Promise((r) => setTimeout(r, 10));
    expect(await open()).toBeLessThan(before);
    const error = await caught(pay.callTool('socket', {}, {}));
    expect(error).toBeInstanceOf(SystemError);
    expect((error as SystemError).code).toBe('connector_closed');
  });

  it('lets a call in flight finish when the connector closes', async () => {
    const pay = connector();
    const call = pay.callTool('hold', {}, {});
    while (held.length === 0) await new Promise((resolve) => setTimeout(resolve, 5));
    const closing = pay.close();
    // The upstream answers only after close has begun.
    await new Promise((resolve) => setTimeout(resolve, 20));
    held.pop()!.end('done');
    expect(await call).toMatchObject({ isError: false, content: [{ type: 'text', text: 'done' }] });
    await closing;
  });

  it('keeps a pool passed in open when the connector closes', async () => {
    const pool = new UpstreamPool();
    const pay = new HttpConnector({ id: 'pay', operations: operations() }, { secrets, pool });
    await pay.close();
    try {
      expect((await pay.callTool('socket', {}, {})).isError).toBe(false);
    } finally {
      await pool.close();
    }
  });

  it('fails a response over the size limit with upstream_error', async () => {
    const small = new HttpConnector(
      { id: 'pay', operations: operations() },
      { secrets, maxResponseBytes: 1_000 },
    );
    try {
      const error = await caught(small.callTool('big', {}, {}));
      expect((error as SystemError).code).toBe('upstream_error');
      // A compressed body counts at its decoded size.
      const zipped = await caught(small.callTool('gzip', {}, {}));
      expect((zipped as SystemError).code).toBe('upstream_error');
      expect((await small.callTool('plain', {}, {})).isError).toBe(false);
    } finally {
      await small.close();
    }
  });

  it('decodes a gzip body the upstream sends', async () => {
    const result = await connector().callTool('gzip', {}, {});
    expect(result.structuredContent).toMatchObject({ zipped: true });
  });

  it('sends trimmed header values, lower-cased names and the trace context', async () => {
    const result = await connector().callTool(
      'headers',
      { ticket: 'T-1' },
      { trace: { traceparent: '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01', 'x-note': 'lost' } },
    );
    expect(result.isError).toBe(false);
    expect(seen.at(-1)!.headers).toMatchObject({
      'x-note': 'padded',
      'x-ticket': 'T-1',
      'x-api-key': API_KEY,
      traceparent: '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01',
      accept: 'application/json',
    });
  });

  it('refuses a header value with a line break, naming the input field', async () => {
    const error = await caught(connector().callTool('headers', { ticket: 'a\r\nX-Evil: 1' }, {}));
    expect(error).toBeInstanceOf(UserError);
    expect((error as UserError).field).toBe('input.ticket');
  });

  it('names a missing secret, a missing path field and an unknown tool', async () => {
    const missingSecret = await caught(connector().callTool('no_key', {}, {}));
    expect(missingSecret).toBeInstanceOf(UserError);
    expect(missingSecret.message).toContain("'other_key'");
    const dotSegment = await caught(connector().callTool('refund', { orderId: '..', amount: 1 }, {}));
    expect((dotSegment as UserError).field).toBe('input.orderId');
    const missingField = await caught(connector().callTool('refund', { amount: 1 }, {}));
    expect((missingField as UserError).field).toBe('input.orderId');
    expect(await caught(connector().callTool('nope', {}, {}))).toBeInstanceOf(NotFoundError);
  });

  it('publishes operations as tool definitions with read/write hints', async () => {
    const tools = await connector().listTools();
    const refund = tools.find((tool) => tool.name === 'refund')!;
    expect(refund.description).toBe('Refund an order');
    expect(metadataFromAnnotations(refund.annotations)).toMatchObject({ effect: 'write', risk: 'medium' });
    const list = tools.find((tool) => tool.name === 'list_orders')!;
    expect(list.inputSchema).toEqual({ type: 'object' });
    expect(metadataFromAnnotations(list.annotations).effect).toBe('read');
  });

  it.each([
    [{ name: '', method: 'GET', url: 'http://127.0.0.1/x' }, 'connectors.bad.operations[0].name'],
    [{ name: 'a', method: 'FETCH', url: 'http://127.0.0.1/x' }, 'connectors.bad.operations[0].method'],
    [{ name: 'a', method: 'GET', url: 'ftp://127.0.0.1/x' }, 'connectors.bad.operations[0].url'],
    [{ name: 'a', method: 'GET', url: 'http://u:p@127.0.0.1/x' }, 'connectors.bad.operations[0].url'],
    [{ name: 'a', method: 'GET', url: 'http://127.0.0.1/x', body: 7 }, 'connectors.bad.operations[0].body'],
    [{ name: 'a', method: 'GET', url: 'http://{host}/x' }, 'connectors.bad.operations[0].url'],
  ])('rejects a bad operation naming the field (%#)', (operation, field) => {
    try {
      new HttpConnector({ id: 'bad', operations: [operation as unknown as HttpOperation] }, { secrets });
      expect.unreachable();
    } catch (error) {
      expect(error).toBeInstanceOf(UserError);
      expect((error as UserError).field).toBe(field);
    }
  });
});
