import { afterEach, describe, expect, it } from 'vitest';
import { EnvSecretStore, createEngine, parseConfig } from '@autonomy-os/core';
import type { Engine } from '@autonomy-os/core';
import { backends } from '../../../test/helpers/backends.js';
import type { TestStore } from '../../../test/helpers/backends.js';
import { buildServer } from './server.js';
import type { AosServer } from './server.js';

const [sqlite] = backends;
const METRICS_TOKEN = 'metrics-token-0123456789';

/** `{"a":{"a":…1…}}`, `depth` objects deep. */
const deep = (depth: number) => `${'{"a":'.repeat(depth)}1${'}'.repeat(depth)}`;

describe('HTTP guards', () => {
  let t: TestStore;
  let engine: Engine;
  let server: AosServer;
  const tokens: Record<string, string> = {};

  const setUp = async (raw: Record<string, unknown> = {}) => {
    t = await (sqlite as (typeof backends)[number]).create();
    await t.store.humans.add({ id: 'olivia', groups: ['admins'] }, 'operator:test');
    await t.store.humans.add({ id: 'audra', groups: ['auditors'] }, 'operator:test');
    await t.store.humans.add({ id: 'ada', groups: ['approvers'] }, 'operator:test');
    await t.store.agents.create({ id: 'bot-1', role: 'support', tier: 1, owner: 'olivia' }, 'operator:test');
    for (const [name, subjectType, subjectId] of [
      ['admin', 'human', 'olivia'],
      ['auditor', 'human', 'audra'],
      ['approver', 'human', 'ada'],
      ['agent', 'agent', 'bot-1'],
    ] as const) {
      tokens[name] = (await t.store.tokens.issue({ subjectType, subjectId }, 'operator:test')).token;
    }
    engine = await createEngine({
      store: t.store,
      config: parseConfig({ server: { port: 0 }, ...raw }),
      secrets: new EnvSecretStore({ env: { AOS_SECRET_METRICS_TOKEN: METRICS_TOKEN } }),
    });
    await engine.start({ background: false });
    server = buildServer({ engine, version: 'test' });
    await server.app.ready();
  };
  afterEach(async () => {
    await server?.close();
    await engine?.close();
    await t?.cleanup();
  });

  const call = (
    method: 'GET' | 'POST' | 'PUT',
    url: string,
    o: { token?: string; body?: string; headers?: Record<string, string>; ip?: string } = {},
  ) =>
    server.app.inject({
      method,
      url,
      ...(o.ip ? { remoteAddress: o.ip } : {}),
      headers: {
        ...(o.token ? { authorization: `Bearer ${o.token}` } : {}),
        ...(o.body !== undefined ? { 'content-type': 'application/json' } : {}),
        ...o.headers,
      },
      ...(o.body !== undefined ? { payload: o.body } : {}),
    });
  const errorOf = (res: { json: () => unknown }) => (res.json() as { error: Record<string, unknown> }).error;

  describe('body depth', () => {
    it.each([
      [
        'an approval vote',
        'POST',
        '/v1/approvals/apr-1/approve',
        'admin',
        (d: string) => `{"input":${d}}`,
        'input',
      ],
      [
        'a context write',
        'PUT',
        '/v1/runs/run-1/context/k',
        'admin',
        (d: string) => `{"value":${d}}`,
        'value',
      ],
      ['a run start', 'POST', '/v1/workflows/w/runs', 'admin', (d: string) => `{"input":${d}}`, 'input'],
      [
        'a signal',
        'POST',
        '/v1/runs/run-1/signals',
        'admin',
        (d: string) => `{"name":"s","data":${d}}`,
        'data',
      ],
      ['an action', 'POST', '/v1/actions', 'agent', (d: string) => `{"tool":"a.b","input":${d}}`, 'input'],
    ] as const)(
      'answers 400 naming the field for 10,000-deep JSON in %s',
      async (_n, method, url, who, body, field) => {
        await setUp();
        const res = await call(method, url, { token: tokens[who] as string, body: body(deep(10_000)) });
        expect(res.statusCode).toBe(400);
        expect(errorOf(res)).toMatchObject({ field });
        expect(String(errorOf(res).message)).toMatch(/deeper than 64/);
      },
    );

    it('accepts JSON as deep as the limit', async () => {
      await setUp();
      const res = await call('PUT', '/v1/runs/run-1/context/k', {
        token: tokens.admin as string,
        body: `{"value":${deep(62)}}`,
      });
      // Past the body check: the run does not exist.
      expect(res.statusCode).toBe(404);
    });

    it('answers a JSON-RPC error, not a 500, for deep params on /mcp', async () => {
      await setUp();
      const res = await call('POST', '/mcp', {
        token: tokens.agent as string,
        headers: { accept: 'application/json, text/event-stream' },
        body: `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"a.b","arguments":${deep(10_000)}}}`,
      });
      expect(res.statusCode).toBe(400);
      const body = res.json() as { error: { code: number; message: string } };
      expect(body.error.code).toBe(-32600);
      expect(body.error.message).toMatch(/params: nests deeper than 64/);
    });
  });

  describe('misleading errors', () => {
    it('names __proto__ as a reserved key rather than calling the body invalid JSON', async () => {
      await setUp();
      const res = await call('POST', '/v1/actions', {
        token: tokens.agent as string,
        body: '{"tool":"a.b","input":{"__proto__":{"isAdmin":true}}}',
      });
      expect(res.statusCode).toBe(400);
      expect(errorOf(res)).toMatchObject({ field: 'input.__proto__' });
      expect(String(errorOf(res).message)).not.toMatch(/not valid JSON/);
    });

    it('blames the body, not input, for a body that is an array', async () => {
      await setUp();
      const res = await call('POST', '/v1/actions', { token: tokens.agent as string, body: '[1,2]' });
      expect(res.statusCode).toBe(400);
      expect(errorOf(res)).toMatchObject({ field: 'body', message: 'body: must be a JSON object' });
    });

    it('says a 500k-character tool is too long, not that it is required', async () => {
      await setUp();
      const res = await call('POST', '/v1/actions', {
        token: tokens.agent as string,
        body: JSON.stringify({ tool: 'x'.repeat(500_000) }),
      });
      expect(res.statusCode).toBe(400);
      expect(errorOf(res)).toMatchObject({ field: 'tool' });
      expect(String(errorOf(res).message)).not.toMatch(/required/);
    });

    it.each([
      ['/v1/actions?status=bogus', 'admin', 'status'],
      ['/v1/actions?since=zzz', 'admin', 'since'],
      ['/v1/actions?limit=lots', 'admin', 'limit'],
      ['/v1/approvals?status=bogus', 'admin', 'status'],
      ['/v1/runs?status=bogus', 'admin', 'status'],
      ['/v1/runs?limit=-1', 'admin', 'limit'],
      ['/v1/agents?status=bogus', 'admin', 'status'],
      ['/v1/tasks?status=bogus', 'admin', 'status'],
      ['/v1/actions?nope=1', 'admin', 'nope'],
    ])('answers 400 for %s rather than an empty list', async (url, who, field) => {
      await setUp();
      const res = await call('GET', url, { token: tokens[who] as string });
      expect(res.statusCode).toBe(400);
      expect(errorOf(res)).toMatchObject({ field });
    });

    it.each([
      ['isAdmin', true],
      ['status', 'active'],
    ])('refuses POST /v1/agents with %s rather than ignoring it', async (key, value) => {
      await setUp();
      const res = await call('POST', '/v1/agents', {
        token: tokens.admin as string,
        body: JSON.stringify({ id: 'bot-2', role: 'support', tier: 1, owner: 'olivia', [key]: value }),
      });
      expect(res.statusCode).toBe(400);
      expect(errorOf(res)).toMatchObject({ field: key });
      expect(await t.store.agents.get('bot-2')).toBeUndefined();
    });

    it('refuses a token without the Bearer scheme, on REST and on /mcp', async () => {
      await setUp();
      const raw = { authorization: tokens.agent as string };
      expect((await call('GET', '/v1/whoami', { headers: raw })).statusCode).toBe(401);
      const mcp = await call('POST', '/mcp', {
        headers: { ...raw, accept: 'application/json, text/event-stream' },
        body: '{"jsonrpc":"2.0","id":1,"method":"tools/list"}',
      });
      expect(mcp.statusCode).toBe(401);
      expect((await call('GET', '/v1/whoami', { token: tokens.agent as string })).statusCode).toBe(200);
    });
  });

  describe('Host header', () => {
    it('never echoes a Host with quotes into WWW-Authenticate or the resource metadata', async () => {
      await setUp();
      const host = 'evil.test" realm="x';
      const mcp = await call('POST', '/mcp', {
        headers: { host, accept: 'application/json, text/event-stream' },
        body: '{"jsonrpc":"2.0","id":1,"method":"tools/list"}',
      });
      expect(mcp.statusCode).toBe(401);
      const challenge = String(mcp.headers['www-authenticate']);
      expect(challenge).not.toContain('evil');
      expect(challenge).toMatch(
        /^Bearer resource_metadata="http:\/\/[^"]+\/\.well-known\/oauth-protected-resource"$/,
      );
      const meta = await call('GET', '/.well-known/oauth-protected-resource', { headers: { host } });
      expect(JSON.stringify(meta.json())).not.toContain('evil');
    });

    it('still uses a well-formed Host', async () => {
      await setUp();
      const meta = await call('GET', '/.well-known/oauth-protected-resource', {
        headers: { host: 'aos.example.com:8443' },
      });
      expect(meta.json()).toMatchObject({ resource: 'http://aos.example.com:8443/mcp' });
    });
  });

  describe('/metrics', () => {
    it('answers without a token on 127.0.0.1 by default', async () => {
      await setUp();
      expect((await call('GET', '/metrics')).statusCode).toBe(200);
    });

    it('requires a token by default when the server binds outside localhost', async () => {
      await setUp({ server: { host: '0.0.0.0', port: 0 } });
      expect((await call('GET', '/metrics')).statusCode).toBe(401);
      expect((await call('GET', '/metrics', { token: tokens.admin as string })).statusCode).toBe(200);
      expect((await call('GET', '/metrics', { token: tokens.auditor as string })).statusCode).toBe(200);
      expect((await call('GET', '/metrics', { token: tokens.approver as string })).statusCode).toBe(403);
      expect((await call('GET', '/metrics', { token: tokens.agent as string })).statusCode).toBe(403);
    });

    it('accepts the configured metrics token, and can be required on localhost', async () => {
      await setUp({
        server: { port: 0, metrics: { auth: 'required', token: '${secret:metrics_token}' } },
      });
      expect((await call('GET', '/metrics')).statusCode).toBe(401);
      expect((await call('GET', '/metrics', { token: 'not-the-token' })).statusCode).toBe(401);
      const res = await call('GET', '/metrics', { token: METRICS_TOKEN });
      expect(res.statusCode).toBe(200);
      expect(res.body).toMatch(/aos_events_total|aos_process_/);
    });
  });

  describe('authentication failures', () => {
    it('answers 429 to a source after too many failures in a window, 127.0.0.1 included, and others still pass', async () => {
      await setUp({ server: { port: 0, authFailures: { max: 3, window: '1h' } } });
      for (let i = 0; i < 3; i++)
        expect((await call('GET', '/v1/whoami', { token: `aos_${'B'.repeat(43)}` })).statusCode).toBe(401);
      const limited = await call('GET', '/v1/whoami', { token: `aos_${'B'.repeat(43)}` });
      expect(limited.statusCode).toBe(429);
      expect(Number(limited.headers['retry-after'])).toBeGreaterThan(0);
      // Credentials are not even checked from a limited source: brute force learns nothing.
      expect((await call('GET', '/v1/whoami', { token: tokens.admin as string })).statusCode).toBe(429);
      expect((await call('POST', '/mcp', { token: 'nope', body: '{}' })).statusCode).toBe(429);
      expect(
        (await call('GET', '/v1/whoami', { token: tokens.admin as string, ip: '10.0.0.2' })).statusCode,
      ).toBe(200);
      // Routes without authentication are not limited.
      expect((await call('GET', '/healthz')).statusCode).toBe(200);
    });

    it('does not limit at all with max 0', async () => {
      await setUp({ server: { port: 0, authFailures: { max: 0, window: '1h' } } });
      for (let i = 0; i < 30; i++)
        expect((await call('GET', '/v1/whoami', { token: 'x' })).statusCode).toBe(401);
    });
  });
});
