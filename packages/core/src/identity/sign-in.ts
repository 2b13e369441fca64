import type { AuditLog } from '../audit/audit-log.js';
import { AuthenticationError, UserError } from '../errors.js';
import type { Db } from '../store/db.js';
import type { AgentRegistry } from './agents.js';
import type { Human, HumanDirectory } from './humans.js';
import { PASSWORD_MAX_LENGTH, decoyHash, verifyPassword } from './passwords.js';
import type { TokenInfo, TokenService } from './tokens.js';

/** A human's sign-in session: a short-lived bearer token, shown once. */
export interface SignInSession {
  token: string;
  info: TokenInfo;
  human: Human;
}

/** What sign-in needs. */
export interface SignInOptions {
  db: Db;
  audit: AuditLog;
  agents: AgentRegistry;
  humans: HumanDirectory;
  tokens: TokenService;
  /** How long a session token lives. */
  sessionTtlSec: number;
}

/** The one answer to every failed sign-in, so a caller cannot tell an unknown id from a wrong password. */
const REFUSED = 'unknown human or wrong password';

/**
 * Password sign-in for humans: exchanges a human id and password for a session token (`aos_…`, stored hashed like
 * API tokens, kind `session`, expiring after `sessionTtlSec`, revocable). Agents never sign in: an agent id has no
 * password. Every attempt is audited (`auth.signed_in` / `auth.sign_in_failed`) without the password.
 */
export class SignInService {
  constructor(private readonly o: SignInOptions) {}

  async signIn(p: { human: string; password: string }, source: string): Promise<SignInSession> {
    if (typeof p.human !== 'string' || !p.human) throw new UserError('is required', { field: 'human' });
    if (typeof p.password !== 'string' || !p.password)
      throw new UserError('is required', { field: 'password' });
    if (p.password.length > PASSWORD_MAX_LENGTH)
      throw new UserError(`must be at most ${PASSWORD_MAX_LENGTH} characters`, { field: 'password' });
    const human = await this.o.humans.get(p.human);
    const stored = human ? await this.o.humans.passwordHash(human.id) : undefined;
    // A miss costs as much as a hit, so timing does not tell which humans exist or have a password.
    const ok = await verifyPassword(p.password, stored ?? (await decoyHash()));
    if (!human || !stored || !ok) {
      const agent = human ? undefined : await this.o.agents.get(p.human);
      await this.o.db.tx((tx) =>
        this.o.audit.append(tx, {
          actor: 'anonymous',
          type: 'auth.sign_in_failed',
          subject: human ? `human:${human.id}` : agent ? `agent:${agent.id}` : null,
          payload: { source, reason: agent ? 'agents cannot sign in' : REFUSED },
        }),
      );
      throw new AuthenticationError(REFUSED);
    }
    return issueSignInSession(this.o, human, { source, method: 'password' });
  }
}

/**
 * Issues a human's sign-in session token and audits `auth.signed_in`; shared by password and OIDC sign-in so both
 * hand out the same kind of token.
 */
export async function issueSignInSession(
  o: SignInOptions,
  human: Human,
  how: { source: string; method: 'password' | 'oidc' },
): Promise<SignInSession> {
  const { token, info } = await o.tokens.issue(
    {
      subjectType: 'human',
      subjectId: human.id,
      name: 'sign-in',
      kind: 'session',
      expiresAt: new Date(Date.now() + o.sessionTtlSec * 1000),
    },
    `human:${human.id}`,
  );
  await o.db.tx((tx) =>
    o.audit.append(tx, {
      actor: `human:${human.id}`,
      type: 'auth.signed_in',
      subject: `human:${human.id}`,
      payload: { tokenId: info.id, source: how.source, method: how.method, expiresAt: info.expiresAt },
    }),
  );
  return { token, info, human };
}
