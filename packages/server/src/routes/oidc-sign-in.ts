import type { FastifyInstance, FastifyReply } from 'fastify';
import {
  AuthenticationError,
  NotFoundError,
  OIDC_FLOW_TTL_SEC,
  OidcSignInService,
  parseDurationSec,
  resolveSecretRefs,
} from '@autonomy-os/core';
import type { Engine } from '@autonomy-os/core';
import type { RequestGuards } from '../guards.js';

/** The cookie that carries a started sign-in's sealed state from `/start` to `/callback`. */
const STATE_COOKIE = 'aos_oidc';
const COOKIE_PATH = '/v1/auth/oidc';

/** The public sign-in methods: what the console offers before anyone is signed in. */
export interface SignInMethods {
  password: true;
  token: true;
  oidc: { displayName: string; startUrl: string } | null;
}

/**
 * `GET /v1/auth/methods` (public) and, where `oidc.signIn` is configured, the console's OIDC sign-in:
 * `GET /v1/auth/oidc/start` redirects to the provider and `GET /v1/auth/oidc/callback` finishes there, then
 * redirects to the console with the session token in the URL fragment (`/#oidc_session=…`), which browsers never
 * send to a server, so no access log or proxy sees it; a refusal redirects with `#oidc_error=refused`. Each refusal
 * counts against the source address like a bad token. Without `oidc.signIn` both answer 404.
 */
export function registerOidcSignInRoutes(app: FastifyInstance, engine: Engine, guards: RequestGuards): void {
  const { store, config } = engine;
  const oidc = config.oidc;
  const settings = oidc?.signIn;

  app.get('/v1/auth/methods', async (): Promise<SignInMethods> => ({
    password: true,
    token: true,
    oidc:
      oidc && settings
        ? { displayName: settings.displayName ?? new URL(oidc.issuer).host, startUrl: `${COOKIE_PATH}/start` }
        : null,
  }));
  // Both routes exist either way, so the route table (and the authorization matrix) is the same on every node.
  if (!oidc || !settings) {
    const off = async (): Promise<never> => {
      throw new NotFoundError('sign-in method', 'oidc', 'oidc.signIn');
    };
    app.get(`${COOKIE_PATH}/start`, off);
    app.get(`${COOKIE_PATH}/callback`, off);
    return;
  }

  const secure = new URL(settings.redirectUri).protocol === 'https:';
  let service: Promise<OidcSignInService> | undefined;
  const signIn = (): Promise<OidcSignInService> => {
    service ??= resolveSecretRefs(settings.clientSecret, engine.secrets, {
      field: 'config.oidc.signIn.clientSecret',
    })
      .then(
        (clientSecret) =>
          new OidcSignInService({
            db: store.db,
            audit: store.audit,
            agents: store.agents,
            humans: store.humans,
            tokens: store.tokens,
            sessionTtlSec: parseDurationSec(
              config.server.signIn.sessionTtl,
              'config.server.signIn.sessionTtl',
            ),
            issuer: oidc.issuer,
            clientId: settings.clientId,
            clientSecret,
            redirectUri: settings.redirectUri,
            scopes: settings.scopes,
            subjectClaim: oidc.subjectClaim,
          }),
      )
      .catch((err: unknown) => {
        service = undefined;
        throw err;
      });
    return service;
  };
  const setCookie = (reply: FastifyReply, value: string, maxAge: number): void => {
    const attrs = [`Path=${COOKIE_PATH}`, 'HttpOnly', 'SameSite=Lax', `Max-Age=${maxAge}`];
    if (secure) attrs.push('Secure');
    void reply.header('set-cookie', `${STATE_COOKIE}=${value}; ${attrs.join('; ')}`);
  };

  app.get(`${COOKIE_PATH}/start`, async (req, reply) => {
    await guards.authFailures.check(req.ip);
    const { authorizationUrl, sealedState } = await (await signIn()).start();
    setCookie(reply, sealedState, OIDC_FLOW_TTL_SEC);
    void reply.header('cache-control', 'no-store');
    return reply.redirect(authorizationUrl, 302);
  });

  app.get(`${COOKIE_PATH}/callback`, async (req, reply) => {
    await guards.authFailures.check(req.ip);
    const service = await signIn();
    // The state is single use: whatever happens next, the browser forgets it.
    setCookie(reply, '', 0);
    void reply.header('cache-control', 'no-store');
    void reply.header('referrer-policy', 'no-referrer');
    try {
      const session = await service.finish({
        callbackUrl: new URL(req.url, 'http://callback.invalid'),
        sealedState: readCookie(req.headers.cookie, STATE_COOKIE),
        source: req.ip,
      });
      return reply.redirect(`/#oidc_session=${encodeURIComponent(session.token)}`, 302);
    } catch (err) {
      if (!(err instanceof AuthenticationError)) throw err;
      await guards.authFailures.fail(req.ip);
      return reply.redirect('/#oidc_error=refused', 302);
    }
  });
}

function readCookie(header: string | undefined, name: string): string | undefined {
  for (const part of (header ?? '').split(';')) {
    const [k, ...v] = part.trim().split('=');
    if (k === name) return v.join('=') || undefined;
  }
  return undefined;
}
