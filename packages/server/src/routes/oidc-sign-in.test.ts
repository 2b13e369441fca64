import http from 'node:http';
import net from 'node:net';
import Provider from 'oidc-provider';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EnvSecretStore, createEngine } from '@autonomy-os/core';
import type { Engine } from '@autonomy-os/core';
import { backends } from '../../../../test/helpers/backends.js';
import type { TestStore } from '../../../../test/helpers/backends.js';
import { invoicesConfig, seedInvoices } from '../../../../test/helpers/invoices.js';
import { hasChromium, launchChromium } from '../../../../test/helpers/browser.js';
import { buildServer } from '../server.js';
import type { AosServer } from '../server.js';

const CLIENT_SECRET = 'console-client-secret-0123456789abcdef';

/** A free port on 127.0.0.1, so the redirect URI is known before either server starts. */
async function freePort(): Promise<number> {
  const s = net.createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const { port } = s.address() as net.AddressInfo;
  await new Promise((r) => s.close(r));
  return port;
}

/** A browser's cookie jar, enough for one origin pair on 127.0.0.1 (cookies ignore ports). */
class Jar {
  private readonly cookies = new Map<string, string>();
  store(res: Response): void {
    for (const c of res.headers.getSetCookie()) {
      const [pair = ''] = c.split(';');
      const i = pair.indexOf('=');
      const [name, value] = [pair.slice(0, i), pair.slice(i + 1)];
      if (value && !/max-age=0|expires=thu, 01 jan 1970/i.test(c)) this.cookies.set(name, value);
      else this.cookies.delete(name);
    }
  }
  header(): string {
    return [...this.cookies].map(([k, v]) => `${k}=${v}`).join('; ');
  }
  has(name: string): boolean {
    return this.cookies.has(name);
  }
}

describe('OIDC sign-in (GET /v1/auth/oidc/start and /callback) against oidc-provider', () => {
  let t: TestStore;
  let engine: Engine;
  let server: AosServer;
  let idp: http.Server;
  let base: string;
  let issuer: string;

  const get = async (url: string, jar: Jar, init: RequestInit = {}) => {
    const res = await fetch(url, {
      ...init,
      redirect: 'manual',
      headers: { ...(init.headers as Record<string, string>), cookie: jar.header() },
    });
    jar.store(res);
    return res;
  };

  /**
   * Walks the provider's login and consent pages as a browser would, from an authorization URL until the provider
   * redirects back to aos; answers the callback URL it was sent to.
   */
  const atProvider = async (authorizationUrl: string, jar: Jar, login: string): Promise<string> => {
    let url = authorizationUrl;
    for (let hop = 0; hop < 12; hop++) {
      if (url.startsWith(base)) return url;
      const res = await get(url, jar);
      if (res.status >= 300 && res.status < 400) {
        url = new URL(res.headers.get('location') as string, url).href;
        continue;
      }
      const html = await res.text();
      expect(res.status, html).toBe(200);
      const form: Record<string, string> = html.includes('name="login"')
        ? { prompt: 'login', login, password: 'any' }
        : { prompt: 'consent' };
      const posted = await get(url, jar, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams(form).toString(),
      });
      expect(posted.status).toBeGreaterThanOrEqual(300);
      url = new URL(posted.headers.get('location') as string, url).href;
    }
    throw new Error('the provider never redirected back');
  };

  /** `/start` in a fresh browser: the authorization URL it redirects to, and the browser's jar. */
  const start = async () => {
    const jar = new Jar();
    const res = await get(`${base}/v1/auth/oidc/start`, jar);
    expect(res.status).toBe(302);
    expect(jar.has('aos_oidc')).toBe(true);
    expect(res.headers.get('set-cookie')).toMatch(/HttpOnly; SameSite=Lax/);
    return { jar, authorizationUrl: new URL(res.headers.get('location') as string) };
  };

  /** The callback: where aos sends the browser afterwards (its URL fragment). */
  const callback = async (callbackUrl: string, jar: Jar) => {
    const res = await get(callbackUrl, jar);
    expect(res.status).toBe(302);
    expect(jar.has('aos_oidc')).toBe(false);
    return new URL(res.headers.get('location') as string, base).hash;
  };

  beforeAll(async () => {
    const [aosPort, idpPort] = [await freePort(), await freePort()];
    base = `http://127.0.0.1:${aosPort}`;
    issuer = `http://127.0.0.1:${idpPort}`;
    const redirectUri = `${base}/v1/auth/oidc/callback`;
    const client = { client_secret: CLIENT_SECRET, redirect_uris: [redirectUri] };
    const provider = new Provider(issuer, {
      clients: [
        { client_id: 'aos-console', ...client },
        { client_id: 'other-app', ...client },
      ],
      cookies: { keys: ['test-cookie-key'] },
      findAccount: (_ctx, sub) => ({ accountId: sub, claims: () => ({ sub }) }),
    });
    idp = http.createServer(provider.callback());
    await new Promise<void>((r) => idp.listen(idpPort, '127.0.0.1', r));

    t = await (backends[0] as (typeof backends)[number]).create();
    await seedInvoices(t);
    const config = invoicesConfig('http://127.0.0.1:9');
    config.server.port = aosPort;
    config.oidc = {
      issuer,
      audience: 'aos-api',
      signIn: {
        clientId: 'aos-console',
        clientSecret: '${secret:oidc_client_secret}',
        redirectUri,
        scopes: ['openid'],
        displayName: 'Test IdP',
      },
    };
    engine = await createEngine({
      store: t.store,
      config,
      secrets: new EnvSecretStore({ env: { AOS_SECRET_OIDC_CLIENT_SECRET: CLIENT_SECRET } }),
    });
    await engine.start({ background: false });
    server = buildServer({ engine, version: 'test' });
    await server.listen();
  });
  afterAll(async () => {
    await server?.close();
    await engine?.close();
    await t?.cleanup();
    idp?.closeAllConnections();
    await new Promise((r) => idp?.close(r));
  });

  it('says which sign-in methods there are, before anyone signs in', async () => {
    const res = await fetch(`${base}/v1/auth/methods`);
    expect(await res.json()).toEqual({
      password: true,
      token: true,
      oidc: { displayName: 'Test IdP', startUrl: '/v1/auth/oidc/start' },
    });
  });

  it('signs a registered human in with PKCE S256, state and nonce, and hands the session over in a fragment', async () => {
    const { jar, authorizationUrl } = await start();
    const q = authorizationUrl.searchParams;
    expect(authorizationUrl.origin).toBe(issuer);
    expect(q.get('code_challenge_method')).toBe('S256');
    expect(q.get('state')).toBeTruthy();
    expect(q.get('nonce')).toBeTruthy();
    expect(jar.header()).not.toContain(q.get('state') as string);

    const hash = await callback(await atProvider(authorizationUrl.href, jar, 'frank'), jar);
    const token = new URLSearchParams(hash.slice(1)).get('oidc_session') as string;
    expect(token).toMatch(/^aos_/);
    const whoami = await fetch(`${base}/v1/whoami`, { headers: { authorization: `Bearer ${token}` } });
    expect(await whoami.json()).toMatchObject({ kind: 'human', id: 'frank' });
    // The same kind of session as a password sign-in: signing out ends it.
    const out = await fetch(`${base}/v1/auth/sessions/current`, {
      method: 'DELETE',
      headers: { authorization: `Bearer ${token}` },
    });
    expect(out.status).toBe(204);
  });

  it('refuses a replayed callback, even with the state cookie kept', async () => {
    const { jar, authorizationUrl } = await start();
    const callbackUrl = await atProvider(authorizationUrl.href, jar, 'frank');
    const kept = jar.header();
    expect(await callback(callbackUrl, jar)).toMatch(/^#oidc_session=aos_/);
    const replay = await fetch(callbackUrl, { redirect: 'manual', headers: { cookie: kept } });
    expect(replay.headers.get('location')).toBe('/#oidc_error=refused');
    // And without the cookie: no sign-in in progress.
    expect(await callback(callbackUrl, new Jar())).toBe('#oidc_error=refused');
  });

  it.each([
    ['an unknown subject', 'nobody-here', undefined],
    ['an agent', 'poster', undefined],
    ['an ID token with another nonce', 'frank', { nonce: 'not-the-nonce' }],
    ['a code issued to another client (audience)', 'frank', { client_id: 'other-app' }],
  ])('refuses %s', async (_what, login, override: Record<string, string> | undefined) => {
    const { jar, authorizationUrl } = await start();
    for (const [k, v] of Object.entries(override ?? {})) authorizationUrl.searchParams.set(k, v);
    const hash = await callback(await atProvider(authorizationUrl.href, jar, login), jar);
    expect(hash).toBe('#oidc_error=refused');
  });

  it.skipIf(!hasChromium)("signs a human in from the console's button, in Chromium", async () => {
    const chromium = await launchChromium();
    try {
      const page = await chromium.context.newPage();
      await page.goto(base);
      await page.getByRole('link', { name: 'Sign in with Test IdP' }).click();
      // The provider's own login page, then its consent page when it asks for one.
      await page.locator('input[name="login"]').fill('frank');
      await page.locator('input[name="password"]').fill('any');
      await page.locator('button[type="submit"]').click();
      const who = page.getByTestId('who');
      for (let hop = 0; hop < 3 && new URL(page.url()).origin === issuer; hop++) {
        await page.locator('button[type="submit"]').click();
        await page.waitForURL((u) => u.origin === base || u.pathname.includes('interaction'));
      }
      await who.waitFor();
      expect(await who.textContent()).toContain('frank');
      // The session token came in the URL fragment; the console took it and cleared it from the address bar.
      expect(new URL(page.url()).hash).not.toContain('oidc_session');
    } finally {
      await chromium.close();
    }
  });

  it('audits each refusal with its reason and no secret', async () => {
    const rows = await t.raw("SELECT payload FROM audit_log WHERE type = 'auth.sign_in_failed' ORDER BY seq");
    const reasons = (rows as { payload: string }[]).map(
      (r) => (JSON.parse(r.payload) as { reason: string }).reason,
    );
    expect(reasons).toEqual([
      'server responded with an error in the response body (invalid_grant)',
      'no sign-in in progress (state cookie missing)',
      'the subject is not a registered human',
      'agents cannot sign in',
      expect.stringMatching(/unexpected ID Token "nonce" claim value/),
      'server responded with an error in the response body (invalid_grant)',
    ]);
    const text = JSON.stringify(rows);
    expect(text).not.toContain(CLIENT_SECRET);
  });
});
