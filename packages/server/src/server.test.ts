import { generateKeyPair } from 'jose';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createEngine, parseConfig } from '@autonomy-os/core';
import type { Engine } from '@autonomy-os/core';
import { startIssuer } from '../../../test/helpers/oidc.js';
import type { TestIssuer } from '../../../test/helpers/oidc.js';
import { backends } from '../../../test/helpers/backends.js';
import type { TestStore } from '../../../test/helpers/backends.js';
import { buildServer } from './server.js';
import type { AosServer } from './server.js';

describe.each(backends)('HTTP server on $name', (backend) => {
  let t: TestStore;
  let server: AosServer;
  let engine: Engine;
  let base: string;
  let idp: TestIssuer;

  beforeAll(async () => {
    idp = await startIssuer('https://aos.test');
  });
  afterAll(async () => {
    await idp?.close();
  });
  beforeEach(async (ctx) => {
    if (!backend.enabled) return ctx.skip();
    t = await backend.create();
    await t.store.humans.add({ id: 'olivia', groups: ['admins'] }, 'operator:test');
    await t.store.agents.create({ id: 'bot-1', role: 'support', tier: 1, owner: 'olivia' }, 'operator:test');
    const config = parseConfig({
      server: { port: 0 },
      oidc: { issuer: idp.issuer, audience: 'https://aos.test' },
    });
    engine = await createEngine({ store: t.store, config });
    await engine.start({ background: false });
    server = buildServer({ engine, version: 'test' });
    base = await server.listen();
  });
  afterEach(async () => {
    await server?.close();
    await engine?.close();
    await t?.cleanup();
  });

  const whoami = (token?: string) =>
    fetch(`${base}/v1/whoami`, { headers: token ? { authorization: `Bearer ${token}` } : {} });

  it('answers /healthz', async () => {
    const res = await fetch(`${base}/healthz`);
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ status: 'ok', version: 'test', store: backend.name });
  });

  it('authenticates an API token and stops accepting it the request after it is revoked', async () => {
    const { token, info } = await t.store.tokens.issue(
      { subjectType: 'agent', subjectId: 'bot-1' },
      'operator:test',
    );
    const ok = await whoami(token);
    expect(ok.status).toBe(200);
    expect(await ok.json()).toMatchObject({
      kind: 'agent',
      id: 'bot-1',
      role: 'support',
      tier: 1,
      via: 'token',
    });
    await t.store.tokens.revoke(info.id, 'operator:test');
    const res = await whoami(token);
    expect(res.status).toBe(401);
    expect(res.headers.get('www-authenticate')).toMatch(/^Bearer/);
    expect(await res.text()).not.toContain(token);
  });

  it("refuses a revoked agent's tokens", async () => {
    const { token } = await t.store.tokens.issue(
      { subjectType: 'agent', subjectId: 'bot-1' },
      'operator:test',
    );
    await t.store.agents.setStatus('bot-1', 'revoke', 'operator:test');
    expect((await whoami(token)).status).toBe(401);
  });

  it.each([
    ['no token', undefined],
    ['a malformed token', 'garbage'],
    ['an unknown token', `aos_${'B'.repeat(43)}`],
  ])('answers 401 to %s', async (_n, token) => {
    expect((await whoami(token)).status).toBe(401);
  });

  it('accepts a JWT from the configured issuer with the right audience', async () => {
    const res = await whoami(await idp.sign({ sub: 'bot-1' }));
    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject({ kind: 'agent', id: 'bot-1', via: 'oidc' });
    const human = await whoami(await idp.sign({ sub: 'olivia' }));
    expect(await human.json()).toMatchObject({ kind: 'human', id: 'olivia', groups: ['admins'] });
  });

  it.each([
    ['a wrong audience', { sub: 'bot-1', aud: 'https://someone-else' }],
    ['an expired token', { sub: 'bot-1', exp: Math.floor(Date.now() / 1000) - 3600 }],
    ['a wrong issuer', { sub: 'bot-1', iss: 'http://evil.test' }],
    ['an unknown subject', { sub: 'stranger' }],
  ])('refuses a JWT with %s', async (_n, claims) => {
    expect((await whoami(await idp.sign(claims))).status).toBe(401);
  });

  it('refuses a JWT signed by a key the issuer does not publish', async () => {
    const { privateKey } = await generateKeyPair('ES256');
    expect((await whoami(await idp.sign({ sub: 'bot-1' }, privateKey))).status).toBe(401);
  });

  it('refuses a JWT for a revoked agent', async () => {
    await t.store.agents.setStatus('bot-1', 'revoke', 'operator:test');
    expect((await whoami(await idp.sign({ sub: 'bot-1' }))).status).toBe(401);
  });

  it('answers unknown routes with a JSON 404', async () => {
    const res = await fetch(`${base}/nope`);
    expect(res.status).toBe(404);
    expect(await res.json()).toMatchObject({ error: { code: 'not_found' } });
  });
});
