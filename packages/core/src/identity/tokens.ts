import crypto from 'node:crypto';
import { z } from 'zod';
import type { AuditLog } from '../audit/audit-log.js';
import { sha256Hex } from '../crypto/canonical-json.js';
import { AuthenticationError, ConflictError, NotFoundError, UserError } from '../errors.js';
import type { Db, Executor } from '../store/db.js';
import { parseInput } from '../validation.js';
import type { AgentRegistry } from './agents.js';
import type { HumanDirectory } from './humans.js';
import { idSchema } from './ids.js';

/** Whom a credential speaks for. */
export type SubjectType = 'agent' | 'human';

/** A stored API token (never the token itself). */
export interface TokenInfo {
  id: string;
  subjectType: SubjectType;
  subjectId: string;
  name: string;
  /** `api`: issued by an operator; `session`: a human's sign-in (short-lived, ended by signing out). */
  kind: TokenKind;
  createdAt: string;
  expiresAt: string | null;
  revokedAt: string | null;
}

/** What a token was issued as. */
export type TokenKind = 'api' | 'session';

/** The shape every API token has: `aos_` and 43 base64url characters (32 random bytes). */
export const TOKEN_PATTERN = /^aos_[A-Za-z0-9_-]{43}$/;

/** Parses `30d`, `12h`, `45m` or an ISO date into an expiry instant. */
export function parseExpiry(value: string, now = Date.now()): Date {
  const m = /^(\d{1,6})([mhd])$/.exec(value);
  if (m) {
    const unit = { m: 60_000, h: 3_600_000, d: 86_400_000 }[m[2] as 'm' | 'h' | 'd'];
    return new Date(now + Number(m[1]) * unit);
  }
  const d = new Date(value);
  if (Number.isNaN(d.getTime()) || !/^\d{4}-\d{2}-\d{2}/.test(value)) {
    throw new UserError('must be a duration like 30d, 12h, 45m or an ISO date', { field: 'expires' });
  }
  if (d.getTime() <= now) throw new UserError('is in the past', { field: 'expires' });
  return d;
}

const issueSchema = z.object({
  subjectType: z.enum(['agent', 'human']),
  subjectId: idSchema,
  name: z.string().min(1).max(100).optional(),
  expiresAt: z.date().optional(),
  kind: z.enum(['api', 'session']).optional(),
});
export type IssueTokenInput = z.input<typeof issueSchema>;

interface Row {
  id: string;
  subject_type: SubjectType;
  subject_id: string;
  name: string;
  kind?: TokenKind | null;
  hash: string;
  created_at: string;
  expires_at: string | null;
  revoked_at: string | null;
}

const toInfo = (r: Row): TokenInfo => ({
  id: r.id,
  subjectType: r.subject_type,
  subjectId: r.subject_id,
  name: r.name,
  kind: r.kind ?? 'api',
  createdAt: r.created_at,
  expiresAt: r.expires_at,
  revokedAt: r.revoked_at,
});

/**
 * API tokens: 256 random bits, shown once, stored as SHA-256 (a fast hash is right for high-entropy secrets;
 * there is nothing to brute-force). Lookups go by hash; revocation is a column read on every request.
 */
export class TokenService {
  constructor(
    private readonly db: Db,
    private readonly audit: AuditLog,
    private readonly agents: AgentRegistry,
    private readonly humans: HumanDirectory,
  ) {}

  /** Issues a token for an agent or human. The returned `token` is the only time the secret is seen. */
  async issue(input: IssueTokenInput, actor: string): Promise<{ token: string; info: TokenInfo }> {
    const v = parseInput(issueSchema, input);
    const token = `aos_${crypto.randomBytes(32).toString('base64url')}`;
    const info: TokenInfo = {
      id: `tok_${crypto.randomBytes(8).toString('hex')}`,
      subjectType: v.subjectType,
      subjectId: v.subjectId,
      name: v.name ?? 'default',
      kind: v.kind ?? 'api',
      createdAt: new Date().toISOString(),
      expiresAt: v.expiresAt ? v.expiresAt.toISOString() : null,
      revokedAt: null,
    };
    return this.db.tx(async (tx) => {
      if (v.subjectType === 'agent') {
        const agent = await this.agents.require(v.subjectId, 'agent', tx);
        if (agent.status === 'revoked')
          throw new ConflictError(`agent '${agent.id}' is revoked`, { field: 'agent' });
      } else {
        await this.humans.require(v.subjectId, 'human', tx);
      }
      await tx.run(
        `INSERT INTO tokens (id, subject_type, subject_id, name, kind, hash, created_at, expires_at, revoked_at)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, NULL)`,
        [
          info.id,
          info.subjectType,
          info.subjectId,
          info.name,
          info.kind,
          sha256Hex(token),
          info.createdAt,
          info.expiresAt,
        ],
      );
      await this.audit.append(tx, {
        actor,
        type: 'token.issued',
        subject: `${info.subjectType}:${info.subjectId}`,
        payload: { tokenId: info.id, tokenName: info.name, kind: info.kind, expiresAt: info.expiresAt },
      });
      return { token, info };
    });
  }

  /** A token by id (never its secret). */
  async get(id: string, tx: Executor = this.db): Promise<TokenInfo | undefined> {
    const row = await tx.get<Row>('SELECT * FROM tokens WHERE id = ?', [id]);
    return row ? toInfo(row) : undefined;
  }

  /** Revokes a token by id; effective on the next request. */
  async revoke(id: string, actor: string): Promise<TokenInfo> {
    return this.db.tx(async (tx) => {
      const row = await tx.get<Row>('SELECT * FROM tokens WHERE id = ?', [id]);
      if (!row) throw new NotFoundError('token', id, 'token');
      if (row.revoked_at) return toInfo(row);
      const now = new Date().toISOString();
      await tx.run('UPDATE tokens SET revoked_at = ? WHERE id = ?', [now, id]);
      await this.audit.append(tx, {
        actor,
        type: 'token.revoked',
        subject: `${row.subject_type}:${row.subject_id}`,
        payload: { tokenId: id },
      });
      return { ...toInfo(row), revokedAt: now };
    });
  }

  async list(filter: { subjectType?: SubjectType; subjectId?: string } = {}): Promise<TokenInfo[]> {
    const rows = await this.db.all<Row>('SELECT * FROM tokens ORDER BY created_at, id');
    return rows
      .filter(
        (r) =>
          (!filter.subjectType || r.subject_type === filter.subjectType) &&
          (!filter.subjectId || r.subject_id === filter.subjectId),
      )
      .map(toInfo);
  }

  /**
   * Resolves a presented token to its subject, or throws {@link AuthenticationError}. Messages never contain the
   * token. Malformed, unknown, revoked and expired tokens are told apart for the operator, not for an attacker:
   * the HTTP front answers all of them with the same 401.
   */
  async verify(token: string, tx: Executor = this.db): Promise<TokenInfo> {
    if (!TOKEN_PATTERN.test(token))
      throw new AuthenticationError('malformed token (expected aos_ and 43 characters)');
    const row = await tx.get<Row>('SELECT * FROM tokens WHERE hash = ?', [sha256Hex(token)]);
    if (!row) throw new AuthenticationError('unknown token');
    if (row.revoked_at) throw new AuthenticationError(`token ${row.id} is revoked`);
    if (row.expires_at && Date.parse(row.expires_at) <= Date.now()) {
      throw new AuthenticationError(`token ${row.id} has expired`);
    }
    return toInfo(row);
  }
}
