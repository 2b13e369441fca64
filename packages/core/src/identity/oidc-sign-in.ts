import crypto from 'node:crypto';
import { EncryptJWT, jwtDecrypt } from 'jose';
import * as client from 'openid-client';
import { AuthenticationError, UserError } from '../errors.js';
import type { AuditLog } from '../audit/audit-log.js';
import { issueSignInSession } from './sign-in.js';
import type { SignInOptions, SignInSession } from './sign-in.js';

/** How the console signs humans in through an OpenID provider (authorization code flow with PKCE). */
export interface OidcSignInOptions extends SignInOptions {
  issuer: string;
  clientId: string;
  /** The client secret itself (already resolved from its secret reference). */
  clientSecret: string;
  redirectUri: string;
  scopes: string[];
  /** Claim naming the human, as for OIDC bearer JWTs; default `sub`. */
  subjectClaim?: string | undefined;
}

/** The start of a sign-in: where to send the browser, and the sealed flow state to keep in its cookie. */
export interface OidcSignInStart {
  authorizationUrl: string;
  /** Encrypted and authenticated (A256GCM) state, nonce and PKCE verifier; only this server's nodes can open it. */
  sealedState: string;
}

/** How long a started sign-in may take before its state is refused. */
export const OIDC_FLOW_TTL_SEC = 600;

/** The answer to every refused callback; the reason goes to the audit log, not to the browser. */
const REFUSED = 'OIDC sign-in refused';

/**
 * OIDC sign-in for humans with `openid-client`: `start` builds the authorization request (state, nonce, PKCE S256)
 * and seals them into a value for an HttpOnly cookie, encrypted with a key derived from the client secret, so any
 * node sharing the configuration can finish the flow and no node keeps state. `finish` exchanges the code and checks
 * the ID token (signature, issuer, audience = client id, nonce, expiry); the authorization code is single use at the
 * provider, so a replayed callback fails. The subject maps to a registered human exactly as a bearer JWT's does;
 * an unknown subject or an agent is refused. Success issues the same session token as password sign-in.
 */
export class OidcSignInService {
  private config: Promise<client.Configuration> | undefined;
  private readonly key: Uint8Array;

  constructor(private readonly o: OidcSignInOptions) {
    if (!o.clientSecret)
      throw new UserError('resolves to an empty secret', { field: 'config.oidc.signIn.clientSecret' });
    this.key = new Uint8Array(
      crypto.hkdfSync('sha256', o.clientSecret, 'aos', 'aos oidc sign-in state v1', 32),
    );
  }

  /** Begins a sign-in: the IdP's authorization URL and the sealed state for the browser's cookie. */
  async start(): Promise<OidcSignInStart> {
    const config = await this.discover();
    const state = client.randomState();
    const nonce = client.randomNonce();
    const verifier = client.randomPKCECodeVerifier();
    const scopes = new Set(['openid', ...this.o.scopes]);
    const url = client.buildAuthorizationUrl(config, {
      redirect_uri: this.o.redirectUri,
      scope: [...scopes].join(' '),
      state,
      nonce,
      code_challenge: await client.calculatePKCECodeChallenge(verifier),
      code_challenge_method: 'S256',
    });
    const sealedState = await new EncryptJWT({ state, nonce, verifier })
      .setProtectedHeader({ alg: 'dir', enc: 'A256GCM' })
      .setIssuedAt()
      .setExpirationTime(`${OIDC_FLOW_TTL_SEC}s`)
      .setAudience('aos-oidc-sign-in')
      .encrypt(this.key);
    return { authorizationUrl: url.href, sealedState };
  }

  /**
   * Finishes a sign-in from the callback URL the browser arrived at and the sealed state from its cookie. Every
   * failure is an {@link AuthenticationError} with one message; the reason is audited (`auth.sign_in_failed`).
   */
  async finish(p: {
    callbackUrl: URL;
    sealedState: string | undefined;
    source: string;
  }): Promise<SignInSession> {
    let subject: string | undefined;
    try {
      if (!p.sealedState) throw new Error('no sign-in in progress (state cookie missing)');
      const flow = await this.open(p.sealedState);
      const config = await this.discover();
      // openid-client reads the query against the configured redirect URI, not the Host the request came with.
      const current = new URL(this.o.redirectUri);
      current.search = p.callbackUrl.search;
      const tokens = await client.authorizationCodeGrant(config, current, {
        pkceCodeVerifier: flow.verifier,
        expectedState: flow.state,
        expectedNonce: flow.nonce,
        idTokenExpected: true,
      });
      const claims = tokens.claims();
      const claim = this.o.subjectClaim ?? 'sub';
      const value = claims?.[claim];
      if (typeof value !== 'string' || !value) throw new Error(`ID token has no '${claim}' claim`);
      subject = value;
      if (await this.o.agents.get(subject)) throw new Error('agents cannot sign in');
      const human = await this.o.humans.get(subject);
      if (!human) throw new Error('the subject is not a registered human');
      return await issueSignInSession(this.o, human, { source: p.source, method: 'oidc' });
    } catch (err) {
      await this.refused(this.o.audit, subject, p.source, err);
      throw new AuthenticationError(REFUSED);
    }
  }

  private async open(sealed: string): Promise<{ state: string; nonce: string; verifier: string }> {
    try {
      const { payload } = await jwtDecrypt(sealed, this.key, { audience: 'aos-oidc-sign-in' });
      const { state, nonce, verifier } = payload;
      if (typeof state !== 'string' || typeof nonce !== 'string' || typeof verifier !== 'string')
        throw new Error('incomplete');
      return { state, nonce, verifier };
    } catch {
      throw new Error('the sign-in state is invalid or has expired');
    }
  }

  private discover(): Promise<client.Configuration> {
    this.config ??= client
      .discovery(new URL(this.o.issuer), this.o.clientId, this.o.clientSecret, undefined, {
        // Plain HTTP only to a provider on this machine (development and tests); anything else needs TLS.
        ...(isLoopbackHttp(this.o.issuer) ? { execute: [client.allowInsecureRequests] } : {}),
      })
      .catch((err: unknown) => {
        this.config = undefined;
        throw err;
      });
    return this.config;
  }

  private async refused(
    audit: AuditLog,
    subject: string | undefined,
    source: string,
    err: unknown,
  ): Promise<void> {
    const reason = refusalReason(err);
    const agent = subject ? await this.o.agents.get(subject).catch(() => undefined) : undefined;
    await this.o.db.tx((tx) =>
      audit.append(tx, {
        actor: 'anonymous',
        type: 'auth.sign_in_failed',
        subject: subject ? `${agent ? 'agent' : 'human'}:${subject}` : null,
        payload: { source, method: 'oidc', reason: reason.slice(0, 300) },
      }),
    );
  }
}

function isLoopbackHttp(url: string): boolean {
  const u = new URL(url);
  return u.protocol === 'http:' && ['127.0.0.1', 'localhost', '[::1]'].includes(u.hostname);
}

/** Why a callback was refused, with the OAuth error or the ID token claim at fault (never a token or secret). */
function refusalReason(err: unknown): string {
  if (!(err instanceof Error)) return String(err);
  const e = err as Error & { error?: unknown; cause?: unknown };
  // openid-client wraps oauth4webapi's error, whose message names the claim (`unexpected ID Token "nonce" …`).
  const extra = [
    typeof e.error === 'string' ? e.error : undefined,
    e.cause instanceof Error ? e.cause.message : undefined,
  ].filter(Boolean);
  return extra.length ? `${e.message} (${extra.join(', ')})` : e.message;
}
