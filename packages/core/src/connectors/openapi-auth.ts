import { AosError, SystemError, UserError } from '../errors.js';
import type { SecretStore } from '../secrets/secret-store.js';
import type { HttpCredentials } from './http-connector.js';
import { documentError } from './openapi-document.js';
import type { SecuritySchemeUse } from './openapi-operations.js';
import { SecretRedactor } from './secret-redactor.js';
import { withTimeout } from './with-timeout.js';

/**
 * Credentials for one security scheme of the document, by secret name (values stay in the secret store):
 * an API key or bearer token is the secret; HTTP basic is `username` with the secret as password; OAuth 2 client
 * credentials are `clientId` with the secret as client secret, and `scopes`.
 */
export interface OpenApiAuthConfig {
  secret: string;
  username?: string;
  clientId?: string;
  scopes?: string[];
}

/** Options for {@link OpenApiCredentials}. */
export interface OpenApiCredentialsOptions {
  connectorId: string;
  auth: Record<string, OpenApiAuthConfig>;
  secrets: SecretStore | undefined;
  /** Where relative token URLs resolve: the document's location. */
  location: string;
  timeoutMs: number;
}

type Obj = Record<string, unknown>;

/**
 * Turns an operation's security schemes into headers and query parameters at call time, from the secret store:
 * apiKey (header or query), http bearer and basic, and OAuth 2 client credentials (a token fetched from the scheme's
 * token URL and reused until shortly before it expires). The agent never supplies or sees any of it.
 */
export class OpenApiCredentials {
  readonly #o: OpenApiCredentialsOptions;
  readonly #tokens = new Map<string, { token: string; expiresAtMs: number }>();
  readonly #redactor = new SecretRedactor();

  constructor(options: OpenApiCredentialsOptions) {
    this.#o = options;
  }

  /** Checks at load time that every scheme is one this connector can fill, naming the scheme when not. */
  check(uses: SecuritySchemeUse[]): void {
    for (const use of uses) this.#kind(use);
  }

  /** The credentials for one call. */
  async for(uses: SecuritySchemeUse[]): Promise<HttpCredentials> {
    const headers: Record<string, string> = {};
    const query: Record<string, string> = {};
    for (const use of uses) {
      const kind = this.#kind(use);
      const cfg = this.#o.auth[use.name] as OpenApiAuthConfig;
      const secret = await this.#secret(cfg.secret, use.name);
      if (kind === 'apiKey-header') headers[String(use.scheme.name)] = secret;
      else if (kind === 'apiKey-query') query[String(use.scheme.name)] = secret;
      else if (kind === 'bearer') headers.authorization = `Bearer ${secret}`;
      else if (kind === 'basic') {
        headers.authorization = `Basic ${Buffer.from(`${cfg.username ?? ''}:${secret}`).toString('base64')}`;
      } else headers.authorization = `Bearer ${await this.#oauthToken(use, cfg, secret)}`;
    }
    return { headers, query };
  }

  #kind(use: SecuritySchemeUse): 'apiKey-header' | 'apiKey-query' | 'bearer' | 'basic' | 'oauth2' {
    const s = use.scheme;
    const at = `components.securitySchemes.${use.name}`;
    const id = this.#o.connectorId;
    if (s.type === 'apiKey') {
      if (typeof s.name !== 'string' || s.name === '') throw documentError(id, 'needs a name', at);
      if (s.in === 'header') return 'apiKey-header';
      if (s.in === 'query') return 'apiKey-query';
      throw documentError(id, 'apiKey schemes are supported in header or query only', `${at}.in`);
    }
    if (s.type === 'http') {
      const scheme = String(s.scheme).toLowerCase();
      if (scheme === 'bearer') return 'bearer';
      if (scheme === 'basic') {
        if (this.#o.auth[use.name]?.username === undefined) {
          throw new UserError('is required for an http basic scheme', {
            field: `connectors.${id}.auth.${use.name}.username`,
          });
        }
        return 'basic';
      }
      throw documentError(id, 'http schemes are supported as bearer or basic only', `${at}.scheme`);
    }
    if (s.type === 'oauth2') {
      const flow = isObj(s.flows) ? s.flows.clientCredentials : undefined;
      if (!isObj(flow) || typeof flow.tokenUrl !== 'string') {
        throw documentError(id, 'oauth2 is supported with a clientCredentials flow only', `${at}.flows`);
      }
      if (this.#o.auth[use.name]?.clientId === undefined) {
        throw new UserError('is required for an oauth2 scheme', {
          field: `connectors.${id}.auth.${use.name}.clientId`,
        });
      }
      return 'oauth2';
    }
    throw documentError(id, `security scheme type '${String(s.type)}' is not supported`, `${at}.type`);
  }

  async #secret(name: string, scheme: string): Promise<string> {
    const value = await this.#o.secrets?.get(name);
    if (value === undefined) {
      throw new UserError(`unknown secret '${name}'`, {
        code: 'unknown_secret',
        field: `connectors.${this.#o.connectorId}.auth.${scheme}.secret`,
      });
    }
    this.#redactor.add(value);
    return value;
  }

  async #oauthToken(use: SecuritySchemeUse, cfg: OpenApiAuthConfig, secret: string): Promise<string> {
    const flow = (use.scheme.flows as Obj).clientCredentials as Obj;
    const tokenUrl = new URL(String(flow.tokenUrl), this.#o.location);
    const key = `${use.name}\n${tokenUrl.href}`;
    const cached = this.#tokens.get(key);
    if (cached && cached.expiresAtMs > Date.now()) return cached.token;
    const what = `the OAuth token endpoint of connector ${this.#o.connectorId}`;
    if (tokenUrl.protocol !== 'https:' && tokenUrl.protocol !== 'http:') {
      throw documentError(this.#o.connectorId, 'must be an http or https URL', `${use.name}.tokenUrl`);
    }
    const form = new URLSearchParams({ grant_type: 'client_credentials' });
    if (cfg.scopes?.length) form.set('scope', cfg.scopes.join(' '));
    const basic = Buffer.from(
      `${encodeURIComponent(cfg.clientId ?? '')}:${encodeURIComponent(secret)}`,
    ).toString('base64');
    try {
      const answer = await withTimeout(
        async (signal) => {
          const response = await fetch(tokenUrl, {
            method: 'POST',
            redirect: 'manual',
            signal,
            headers: {
              authorization: `Basic ${basic}`,
              'content-type': 'application/x-www-form-urlencoded',
              accept: 'application/json',
            },
            body: form.toString(),
          });
          const text = await response.text();
          if (response.status !== 200) {
            throw new SystemError(`${what} answered HTTP ${response.status}`, { code: 'upstream_error' });
          }
          return JSON.parse(text) as unknown;
        },
        { timeoutMs: this.#o.timeoutMs, what },
      );
      if (!isObj(answer) || typeof answer.access_token !== 'string' || answer.access_token === '') {
        throw new SystemError(`${what} answered without an access_token`, { code: 'upstream_error' });
      }
      this.#redactor.add(answer.access_token);
      const lifeSec = typeof answer.expires_in === 'number' ? answer.expires_in : 300;
      // Renew a little early so a token does not expire on the way to the upstream.
      const expiresAtMs = Date.now() + Math.max(0, lifeSec - 30) * 1000;
      this.#tokens.set(key, { token: answer.access_token, expiresAtMs });
      return answer.access_token;
    } catch (error) {
      if (error instanceof AosError) throw error;
      const cause = (error as { cause?: { code?: unknown } }).cause;
      const reason = typeof cause?.code === 'string' ? cause.code : 'bad answer';
      throw new SystemError(`${what} could not be used: ${this.#redactor.redact(reason)}`, {
        code: 'upstream_unavailable',
      });
    }
  }
}

function isObj(v: unknown): v is Obj {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}
