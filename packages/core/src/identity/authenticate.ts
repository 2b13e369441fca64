import { sha256Hex } from '../crypto/canonical-json.js';
import { AuthenticationError } from '../errors.js';
import type { Executor, Statement } from '../store/db.js';
import type { Agent, AgentRegistry } from './agents.js';
import type { Human, HumanDirectory } from './humans.js';
import type { OidcVerifier } from './oidc.js';
import type { TokenService } from './tokens.js';

/** Who is calling, once authenticated. */
export type Principal =
  | { kind: 'agent'; id: string; agent: Agent; via: 'token' | 'oidc'; credentialId: string }
  | { kind: 'human'; id: string; human: Human; via: 'token' | 'oidc'; credentialId: string };

/** The actor string audit records use for a principal. */
export function actorOf(p: Principal): string {
  return `${p.kind}:${p.id}`;
}

/**
 * Longest anything kept on the strength of the security epoch is used, whatever the epoch says (defence in depth):
 * remembered principals here, the workflow intervention gate's view of agents and kill switches.
 */
export const SECURITY_EPOCH_MAX_AGE_MS = 30_000;
/** @deprecated the same ceiling under its first name: use {@link SECURITY_EPOCH_MAX_AGE_MS}. */
export const PRINCIPAL_CACHE_MAX_AGE_MS = SECURITY_EPOCH_MAX_AGE_MS;
/** Most principals remembered; past this the cache starts over. */
const PRINCIPAL_CACHE_SIZE = 10_000;

interface Remembered {
  readonly principal: Principal;
  /** The security epoch read before the rows this principal was built from. */
  readonly epoch: number;
  readonly at: number;
  readonly expiresAt: number | null;
}

/**
 * Reads the security epoch: a counter the database bumps on every change to agents, humans and tokens, on every new
 * agent and on every kill switch change (migrations 13 and 15).
 */
export async function readSecurityEpoch(db: Executor): Promise<number> {
  const row = await db.get(SECURITY_EPOCH_READ.sql);
  return securityEpochFrom(row ? [row] : []);
}

/** The statement {@link readSecurityEpoch} runs, for reading with other queries (`Db.readTogether`). */
export const SECURITY_EPOCH_READ: Statement = {
  sql: 'SELECT n FROM security_epoch WHERE id = 1',
  params: [],
};

/** The epoch from the rows {@link SECURITY_EPOCH_READ} answered. */
export function securityEpochFrom(rows: readonly Record<string, unknown>[]): number {
  const row = rows[0] as { n: number | string } | undefined;
  if (!row) throw new Error('security_epoch row missing');
  return Number(row.n);
}

/**
 * Turns a bearer credential into a principal: an `aos_…` API token, or a JWT from the configured OIDC issuer
 * whose subject is a known agent or human. Revoked agents and tokens fail here, on every request.
 *
 * With `epoch` (the store's security epoch), a token's principal is remembered, keyed by the token's hash, and
 * used again while the epoch is unchanged: one read of one row a request instead of the token and its agent or
 * human. The database bumps the epoch itself on every update or delete of an agent, a human or a token
 * (migration 13's triggers), whichever process or node makes it, so a revocation, a pause or a group change is seen
 * on the next request everywhere, as without the cache. The epoch is read before the rows, so a change committed
 * in between is caught by the next request. Failures are never remembered; expiry is checked on every use; an entry
 * is at most {@link SECURITY_EPOCH_MAX_AGE_MS} old.
 */
export class Authenticator {
  private readonly remembered = new Map<string, Remembered>();

  constructor(
    private readonly deps: {
      tokens: TokenService;
      agents: AgentRegistry;
      humans: HumanDirectory;
      oidc?: OidcVerifier | undefined;
      epoch?: (() => Promise<number>) | undefined;
    },
  ) {}

  /**
   * The principal remembered for an API token, read from nothing, with the security epoch it was remembered under:
   * for a caller that confirms that epoch itself before it acts on the principal. A governed call's decision reads
   * the epoch anyway (`SubmitExtra.principalEpoch`): when it has moved, nothing is decided and the request is
   * authenticated again. Undefined when nothing is remembered for the token, or the entry is too old or expired.
   */
  recall(bearer: string | undefined): { principal: Principal; epoch: number } | undefined {
    if (!bearer?.startsWith('aos_') || !this.deps.epoch) return undefined;
    const hit = this.remembered.get(sha256Hex(bearer));
    const now = Date.now();
    if (!hit || now - hit.at >= SECURITY_EPOCH_MAX_AGE_MS) return undefined;
    if (hit.expiresAt !== null && hit.expiresAt <= now) return undefined;
    return { principal: hit.principal, epoch: hit.epoch };
  }

  async authenticate(bearer: string | undefined): Promise<Principal> {
    if (!bearer) throw new AuthenticationError('missing bearer token');
    if (bearer.startsWith('aos_')) {
      if (!this.deps.epoch) return this.fromToken(bearer);
      const epoch = await this.deps.epoch();
      const key = sha256Hex(bearer);
      const hit = this.remembered.get(key);
      const now = Date.now();
      if (
        hit &&
        hit.epoch === epoch &&
        now - hit.at < SECURITY_EPOCH_MAX_AGE_MS &&
        (hit.expiresAt === null || hit.expiresAt > now)
      ) {
        return hit.principal;
      }
      this.remembered.delete(key);
      const { principal, expiresAt } = await this.fromTokenWithExpiry(bearer);
      if (this.remembered.size >= PRINCIPAL_CACHE_SIZE) this.remembered.clear();
      this.remembered.set(key, { principal, epoch, at: now, expiresAt });
      return principal;
    }
    if (bearer.split('.').length === 3) {
      if (!this.deps.oidc) throw new AuthenticationError('JWT given but no OIDC issuer is configured');
      const { subject, claims } = await this.deps.oidc.verify(bearer);
      const jti = typeof claims.jti === 'string' ? claims.jti : 'jwt';
      const agent = await this.deps.agents.get(subject);
      if (agent) return this.principal('agent', subject, 'oidc', jti);
      return this.principal('human', subject, 'oidc', jti);
    }
    throw new AuthenticationError('malformed bearer token');
  }

  private async fromToken(bearer: string): Promise<Principal> {
    return (await this.fromTokenWithExpiry(bearer)).principal;
  }

  private async fromTokenWithExpiry(
    bearer: string,
  ): Promise<{ principal: Principal; expiresAt: number | null }> {
    const info = await this.deps.tokens.verify(bearer);
    const principal = await this.principal(info.subjectType, info.subjectId, 'token', info.id);
    return { principal, expiresAt: info.expiresAt ? Date.parse(info.expiresAt) : null };
  }

  private async principal(
    kind: 'agent' | 'human',
    id: string,
    via: 'token' | 'oidc',
    credentialId: string,
  ): Promise<Principal> {
    if (kind === 'agent') {
      const agent = await this.deps.agents.get(id);
      if (!agent) throw new AuthenticationError(`unknown agent '${id}'`);
      if (agent.status === 'revoked') throw new AuthenticationError(`agent '${id}' is revoked`);
      return { kind, id, agent, via, credentialId };
    }
    const human = await this.deps.humans.get(id);
    if (!human) throw new AuthenticationError(`unknown subject '${id}'`);
    return { kind, id, human, via, credentialId };
  }
}
