import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Engine } from '@autonomy-os/core';
import { backends } from '../../../../test/helpers/backends.js';
import type { TestStore } from '../../../../test/helpers/backends.js';
import { invoicesConfig, invoicesEngine, seedInvoices, startErp } from '../../../../test/helpers/invoices.js';
import type { Erp } from '../../../../test/helpers/invoices.js';
import { buildServer } from '../server.js';
import type { AosServer } from '../server.js';

const PASSWORD = 'correct horse battery staple';

describe('password sign-in (POST /v1/auth/sessions)', () => {
  let t: TestStore;
  let erp: Erp;
  let engine: Engine;
  let server: AosServer;
  let base: string;
  let agentToken: string;

  const call = async (method: string, path: string, opts: { token?: string; body?: unknown } = {}) => {
    const res = await fetch(`${base}${path}`, {
      method,
      headers: {
        ...(opts.token ? { authorization: `Bearer ${opts.token}` } : {}),
        ...(opts.body === undefined ? {} : { 'content-type': 'application/json' }),
      },
      ...(opts.body === undefined ? {} : { body: JSON.stringify(opts.body) }),
    });
    const text = await res.text();
    return { status: res.status, body: (text ? JSON.parse(text) : {}) as Record<string, unknown> };
  };

  beforeAll(async () => {
    t = await (backends[0] as (typeof backends)[number]).create();
    erp = await startErp();
    await seedInvoices(t);
    await t.store.humans.setPassword('frank', PASSWORD, 'operator:test');
    agentToken = (await t.store.tokens.issue({ subjectType: 'agent', subjectId: 'poster' }, 'operator:test'))
      .token;
    const config = invoicesConfig(erp.url);
    config.server.port = 0;
    // Four failures per source: the revoked session's request, the agent's id, the wrong password, the unknown human.
    config.server.authFailures = { max: 4, window: '1m' };
    engine = await invoicesEngine(t.store, config);
    server = buildServer({ engine, version: 'test' });
    base = await server.listen();
  });
  afterAll(async () => {
    await server?.close();
    await engine?.close();
    await erp?.close();
    await t?.cleanup();
  });

  it('exchanges a human id and password for a short-lived session token that works, then signs out', async () => {
    const res = await call('POST', '/v1/auth/sessions', { body: { human: 'frank', password: PASSWORD } });
    expect(res.status).toBe(201);
    expect(res.body).toMatchObject({ human: { id: 'frank', groups: ['approvers:finance'] } });
    const token = res.body.token as string;
    const hours = (Date.parse(res.body.expiresAt as string) - Date.now()) / 3_600_000;
    expect(hours).toBeGreaterThan(7.9);
    expect(hours).toBeLessThanOrEqual(8);
    // Stored hashed, like API tokens: the secret is not in the database.
    expect(JSON.stringify(await t.raw('SELECT * FROM tokens'))).not.toContain(token);
    expect(JSON.stringify(await t.raw('SELECT password_hash FROM humans'))).not.toContain(PASSWORD);
    expect((await call('GET', '/v1/whoami', { token })).body).toMatchObject({ kind: 'human', id: 'frank' });
    expect((await call('DELETE', '/v1/auth/sessions/current', { token })).status).toBe(204);
    expect((await call('GET', '/v1/whoami', { token })).status).toBe(401);
    const audit = (
      await t.raw("SELECT payload FROM audit_log WHERE type LIKE 'auth.%' OR type LIKE 'human.%'")
    )
      .map((r) => (r as { payload: string }).payload)
      .join('\n');
    expect(audit).not.toContain(PASSWORD);
  });

  it('refuses an agent: its token cannot sign in, and its id has no password', async () => {
    const withToken = await call('POST', '/v1/auth/sessions', {
      token: agentToken,
      body: { human: 'poster', password: PASSWORD },
    });
    expect(withToken.status).toBe(403);
    expect((await call('DELETE', '/v1/auth/sessions/current', { token: agentToken })).status).toBe(403);
    const asId = await call('POST', '/v1/auth/sessions', { body: { human: 'poster', password: PASSWORD } });
    expect(asId.status).toBe(401);
  });

  it('answers a wrong password and an unknown human alike, names a bad field, and rate-limits failures', async () => {
    const bad = await call('POST', '/v1/auth/sessions', { body: { human: 'frank' } });
    expect(bad.status).toBe(400);
    expect(JSON.stringify(bad.body)).toContain('password');
    const wrong = await call('POST', '/v1/auth/sessions', {
      body: { human: 'frank', password: 'nope-nope-nope' },
    });
    const unknown = await call('POST', '/v1/auth/sessions', { body: { human: 'zed', password: PASSWORD } });
    expect(wrong).toEqual({ status: 401, body: unknown.body });
    // The source has used its allowance: refused before the password is checked, even the right one.
    const limited = await call('POST', '/v1/auth/sessions', { body: { human: 'frank', password: PASSWORD } });
    expect(limited.status).toBe(429);
  });
});
