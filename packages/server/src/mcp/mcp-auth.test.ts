import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { startIssuer } from '../../../../test/helpers/oidc.js';
import type { TestIssuer } from '../../../../test/helpers/oidc.js';
import { backends } from '../../../../test/helpers/backends.js';
import type { TestStore } from '../../../../test/helpers/backends.js';
import { connectClient, startGateway } from '../../../../test/helpers/mcp-gateway.js';
import type { Gateway } from '../../../../test/helpers/mcp-gateway.js';

const AUDIENCE = 'https://aos.test/mcp';

const CALL = {
  jsonrpc: '2.0',
  id: 1,
  method: 'tools/call',
  params: { name: 'payments.refund', arguments: { orderId: 'o-1', amount: 20 } },
};

describe.each(backends)('MCP gateway authentication on $name', (backend) => {
  let t: TestStore;
  let gw: Gateway;
  let idp: TestIssuer;

  beforeAll(async () => {
    idp = await startIssuer(AUDIENCE);
  });
  afterAll(async () => {
    await idp?.close();
  });
  beforeEach(async (ctx) => {
    if (!backend.enabled) return ctx.skip();
    t = await backend.create();
    gw = await startGateway(t, { oidc: { issuer: idp.issuer, audience: AUDIENCE } });
  });
  afterEach(async () => {
    await gw?.close();
    await t?.cleanup();
  });

  const post = (token: string | undefined, body: unknown = CALL) =>
    fetch(`${gw.node.base}/mcp`, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        accept: 'application/json, text/event-stream',
        ...(token ? { authorization: `Bearer ${token}` } : {}),
      },
      body: JSON.stringify(body),
    });

  it.each([
    ['no token', async () => undefined],
    ['an unknown API token', async () => `aos_${'B'.repeat(43)}`],
    ['a JWT for another audience', async () => idp.sign({ sub: 'refund-bot', aud: 'https://someone-else' })],
    [
      'an expired JWT',
      async () => idp.sign({ sub: 'refund-bot', exp: Math.floor(Date.now() / 1000) - 3600 }),
    ],
    [
      "a revoked agent's token",
      async () => {
        const token = await gw.token('agent', 'refund-bot');
        await t.store.agents.setStatus('refund-bot', 'revoke', 'operator:test');
        return token;
      },
    ],
    [
      "a revoked agent's JWT",
      async () => {
        await t.store.agents.setStatus('refund-bot', 'revoke', 'operator:test');
        return idp.sign({ sub: 'refund-bot' });
      },
    ],
  ])('answers %s with 401 pointing at the resource metadata, and calls nothing', async (_n, token) => {
    const res = await post(await token());
    expect(res.status).toBe(401);
    expect(res.headers.get('www-authenticate')).toBe(
      `Bearer resource_metadata="${gw.node.base}/.well-known/oauth-protected-resource"`,
    );
    expect(await res.json()).toMatchObject({ jsonrpc: '2.0', id: null, error: { code: -32001 } });
    expect(gw.payments.calls('POST /refunds')).toBe(0);
    expect(await t.raw('SELECT id FROM actions')).toHaveLength(0);
  });

  it('serves RFC 9728 protected resource metadata', async () => {
    for (const path of [
      '/.well-known/oauth-protected-resource',
      '/.well-known/oauth-protected-resource/mcp',
    ]) {
      const res = await fetch(`${gw.node.base}${path}`);
      expect(res.status).toBe(200);
      expect(await res.json()).toEqual({
        resource: `${gw.node.base}/mcp`,
        authorization_servers: [idp.issuer],
        bearer_methods_supported: ['header'],
        resource_name: 'Autonomy OS MCP gateway',
      });
    }
  });

  it('accepts an agent JWT with the right audience', async () => {
    const client = await connectClient(gw.node.base, await idp.sign({ sub: 'refund-bot' }));
    const r = await client.callTool({ name: 'payments.refund', arguments: { orderId: 'o-1', amount: 20 } });
    expect(r.isError).toBe(false);
    expect(gw.payments.calls('POST /refunds')).toBe(1);
    await client.close();
  });

  it('refuses humans with 403: /mcp is for agents', async () => {
    const res = await post(await gw.token('human', 'frank'));
    expect(res.status).toBe(403);
    expect(gw.payments.calls('POST /refunds')).toBe(0);
  });

  it('stops accepting a token the request after the agent is revoked, mid-session', async () => {
    const client = await connectClient(gw.node.base, await gw.token('agent', 'refund-bot'));
    expect((await client.listTools()).tools.length).toBeGreaterThan(0);
    await t.store.agents.setStatus('refund-bot', 'revoke', 'operator:test');
    await expect(client.listTools()).rejects.toThrow(/authentication required/);
    await client.close();
  });

  it('answers GET and DELETE with 405 (stateless: no stream, no session to end)', async () => {
    const token = await gw.token('agent', 'refund-bot');
    for (const method of ['GET', 'DELETE']) {
      const res = await fetch(`${gw.node.base}/mcp`, {
        method,
        headers: { authorization: `Bearer ${token}`, accept: 'text/event-stream' },
      });
      expect(res.status).toBe(405);
      expect(res.headers.get('allow')).toBe('POST');
    }
    expect((await fetch(`${gw.node.base}/mcp`, { method: 'GET' })).status).toBe(401);
  });
});
