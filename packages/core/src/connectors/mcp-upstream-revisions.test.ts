import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { Readable } from 'node:stream';
import type { ReadableStream as WebReadableStream } from 'node:stream/web';
import { McpServer, createMcpHandler } from '@modelcontextprotocol/server';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AosError } from '../errors.js';
import { McpConnector } from './mcp-connector.js';

const listen = async (server: http.Server) => {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
};
const body = async (req: http.IncomingMessage) => {
  const chunks: Buffer[] = [];
  for await (const c of req) chunks.push(c as Buffer);
  return Buffer.concat(chunks).toString('utf8');
};

/**
 * The gateway as an MCP client of an upstream that speaks only revision 2026-07-28 (official SDK 2.x,
 * `legacy: 'reject'`) and requires OAuth: the connector gets its own token with client credentials from a tiny
 * authorization server on 127.0.0.1 and never initializes. Session-revision upstreams are covered by
 * mcp-connector.test.ts (server-everything over Streamable HTTP and stdio).
 */
describe('McpConnector to a 2026-07-28 upstream behind OAuth', () => {
  let asBase = '';
  let mcpBase = '';
  const tokenRequests: string[] = [];
  const seen: { method: string; version: string | undefined; authorization: string | undefined }[] = [];
  const servers: http.Server[] = [];

  beforeAll(async () => {
    const as = http.createServer((req, res) => {
      void (async () => {
        if (req.method === 'GET' && req.url === '/.well-known/oauth-authorization-server') {
          res.writeHead(200, { 'content-type': 'application/json' });
          res.end(
            JSON.stringify({
              issuer: asBase,
              authorization_endpoint: `${asBase}/authorize`,
              token_endpoint: `${asBase}/token`,
              grant_types_supported: ['client_credentials'],
              token_endpoint_auth_methods_supported: ['client_secret_basic'],
              response_types_supported: ['token'],
            }),
          );
          return;
        }
        if (req.method === 'POST' && req.url === '/token') {
          const form = new URLSearchParams(await body(req));
          tokenRequests.push(form.get('grant_type') ?? '');
          const basic = Buffer.from('gateway:s3cret-value').toString('base64');
          if (
            req.headers.authorization !== `Basic ${basic}` ||
            form.get('grant_type') !== 'client_credentials'
          ) {
            res.writeHead(401, { 'content-type': 'application/json' });
            res.end(JSON.stringify({ error: 'invalid_client' }));
            return;
          }
          res.writeHead(200, { 'content-type': 'application/json' });
          res.end(
            JSON.stringify({ access_token: 'upstream-token-1', token_type: 'Bearer', expires_in: 3600 }),
          );
          return;
        }
        res.writeHead(404).end();
      })();
    });
    servers.push(as);
    asBase = await listen(as);

    const factory = () => {
      const mcp = new McpServer({ name: 'erp-2026', version: '1.0.0' }, { capabilities: { tools: {} } });
      mcp.server.setRequestHandler('tools/list', () => ({
        tools: [
          {
            name: 'get_invoice',
            description: 'Reads an invoice',
            inputSchema: { type: 'object', properties: { id: { type: 'string' } }, required: ['id'] },
            annotations: { readOnlyHint: true },
          },
        ],
      }));
      mcp.server.setRequestHandler('tools/call', (req) => ({
        content: [{ type: 'text', text: `invoice ${String(req.params.arguments?.id)}` }],
        structuredContent: { id: req.params.arguments?.id, total: 250 },
      }));
      return mcp;
    };
    const handler = createMcpHandler(factory, { legacy: 'reject' });
    const upstream = http.createServer((req, res) => {
      void (async () => {
        if (req.url?.startsWith('/.well-known/oauth-protected-resource')) {
          res.writeHead(200, { 'content-type': 'application/json' });
          res.end(JSON.stringify({ resource: `${mcpBase}/mcp`, authorization_servers: [asBase] }));
          return;
        }
        const text = await body(req);
        const parsed = text ? (JSON.parse(text) as { method?: string }) : {};
        seen.push({
          method: parsed.method ?? req.method ?? '',
          version: req.headers['mcp-protocol-version'] as string | undefined,
          authorization: req.headers.authorization,
        });
        if (req.headers.authorization !== 'Bearer upstream-token-1') {
          res.writeHead(401, {
            'www-authenticate': `Bearer resource_metadata="${mcpBase}/.well-known/oauth-protected-resource/mcp"`,
          });
          res.end();
          return;
        }
        const headers = new Headers();
        for (const [k, v] of Object.entries(req.headers)) if (typeof v === 'string') headers.set(k, v);
        const answer = await handler.fetch(
          new Request(`${mcpBase}${req.url ?? '/mcp'}`, {
            method: req.method ?? 'POST',
            headers,
            body: text || null,
          }),
        );
        res.writeHead(answer.status, Object.fromEntries(answer.headers));
        if (answer.body) Readable.fromWeb(answer.body as WebReadableStream).pipe(res);
        else res.end();
      })();
    });
    servers.push(upstream);
    mcpBase = await listen(upstream);
  });
  afterAll(async () => {
    for (const s of servers) await new Promise((r) => s.close(r));
  });

  const secrets = {
    get: async (name: string) => ({ ERP_CLIENT_ID: 'gateway', ERP_CLIENT_SECRET: 's3cret-value' })[name],
  };
  const connector = (clientSecret = '${secret:ERP_CLIENT_SECRET}') =>
    new McpConnector(
      {
        id: 'erp',
        transport: 'http',
        url: `${mcpBase}/mcp`,
        oauth: { issuer: asBase, clientId: '${secret:ERP_CLIENT_ID}', clientSecret },
      },
      { secrets, timeoutMs: 10_000 },
    );

  it('gets a token with client credentials and speaks 2026-07-28 without initialize', async () => {
    const erp = connector();
    try {
      const tools = await erp.listTools();
      expect(tools.map((t) => t.name)).toEqual(['get_invoice']);
      expect(tools[0]?.annotations).toMatchObject({ readOnlyHint: true });
      const result = await erp.callTool('get_invoice', { id: 'inv-1' }, { timeoutMs: 10_000 });
      expect(result).toMatchObject({ isError: false, structuredContent: { id: 'inv-1', total: 250 } });
      expect(erp.protocolVersion).toBe('2026-07-28');
    } finally {
      await erp.close();
    }
    expect(tokenRequests).toEqual(['client_credentials']);
    const authorised = seen.filter((s) => s.authorization === 'Bearer upstream-token-1');
    expect(authorised.map((s) => s.method)).toEqual(expect.arrayContaining(['tools/list', 'tools/call']));
    expect(seen.map((s) => s.method)).not.toContain('initialize');
    expect(authorised.every((s) => s.version === '2026-07-28')).toBe(true);
  });

  it('reports refused client credentials as unavailable without the secret', async () => {
    const erp = connector('wrong-secret-value');
    const err = await erp.listTools().catch((e: unknown) => e);
    await erp.close();
    expect(err).toBeInstanceOf(AosError);
    expect((err as AosError).code).toBe('upstream_unavailable');
    expect((err as Error).message).not.toContain('wrong-secret-value');
  });
});
