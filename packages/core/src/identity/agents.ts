import { z } from 'zod';
import type { AuditLog } from '../audit/audit-log.js';
import { ConflictError, NotFoundError, UserError } from '../errors.js';
import type { Db, Executor } from '../store/db.js';
import { containsPattern } from '../store/like.js';
import { parseInput } from '../validation.js';
import type { HumanDirectory } from './humans.js';
import { idSchema } from './ids.js';
import { wakeHeldRuns } from '../workflows/run-wake.js';

/**
 * Autonomy tiers an agent earns: 0 reads only; 1 proposes (writes need approval); 2 executes outside production;
 * 3 may act in production within narrow policy.
 */
export type Tier = 0 | 1 | 2 | 3;

/** Lifecycle of an agent. `revoked` is final. */
export type AgentStatus = 'active' | 'paused' | 'revoked';

/** An agent's identity record. */
export interface Agent {
  id: string;
  displayName: string;
  role: string;
  tier: Tier;
  /** The human who answers for this agent. */
  owner: string;
  /** Environments it may act in, e.g. `dev`, `staging`, `production`. */
  environments: string[];
  status: AgentStatus;
  createdAt: string;
  updatedAt: string;
}

/** Input to {@link AgentRegistry.create}. */
export const createAgentSchema = z
  .object({
    id: idSchema,
    displayName: z.string().min(1).max(200).optional(),
    role: idSchema,
    tier: z.coerce
      .number({ error: 'must be a number 0-3' })
      .int('must be a whole number 0-3')
      .min(0, 'must be 0, 1, 2 or 3')
      .max(3, 'must be 0, 1, 2 or 3'),
    owner: idSchema,
    environments: z.array(idSchema).min(1, 'needs at least one environment').max(20).default(['dev']),
  })
  // Unknown keys (`isAdmin`, `status`) are errors: silently ignoring them would let a caller think they took effect.
  .strict();
export type CreateAgentInput = z.input<typeof createAgentSchema>;

interface Row {
  id: string;
  display_name: string;
  role: string;
  tier: number;
  owner: string;
  environments_json: string;
  status: AgentStatus;
  created_at: string;
  updated_at: string;
}

const toAgent = (r: Row): Agent => ({
  id: r.id,
  displayName: r.display_name,
  role: r.role,
  tier: Number(r.tier) as Tier,
  owner: r.owner,
  environments: JSON.parse(r.environments_json) as string[],
  status: r.status,
  createdAt: r.created_at,
  updatedAt: r.updated_at,
});

/** Status changes and the statuses they may start from. */
const TRANSITIONS: Record<'pause' | 'resume' | 'revoke', { to: AgentStatus; from: AgentStatus[] }> = {
  pause: { to: 'paused', from: ['active', 'paused'] },
  resume: { to: 'active', from: ['paused', 'active'] },
  revoke: { to: 'revoked', from: ['active', 'paused', 'revoked'] },
};

/** Agents: creation, lookup and status, every change audited in the same transaction. */
export class AgentRegistry {
  constructor(
    private readonly db: Db,
    private readonly audit: AuditLog,
    private readonly humans: HumanDirectory,
  ) {}

  /** Registers an agent. The owner must be a known human; a duplicate id is a conflict. */
  async create(input: CreateAgentInput, actor: string): Promise<Agent> {
    const v = parseInput(createAgentSchema, input);
    const now = new Date().toISOString();
    const agent: Agent = {
      id: v.id,
      displayName: v.displayName ?? v.id,
      role: v.role,
      tier: v.tier as Tier,
      owner: v.owner,
      environments: [...new Set(v.environments)],
      status: 'active',
      createdAt: now,
      updatedAt: now,
    };
    return this.db.tx(async (tx) => {
      await this.humans.require(agent.owner, 'owner', tx);
      if (await tx.get('SELECT id FROM agents WHERE id = ?', [agent.id])) {
        throw new ConflictError(`agent '${agent.id}' already exists`, { field: 'id' });
      }
      // One namespace for agents and humans: a credential's subject must never be able to name both.
      if (await tx.get('SELECT id FROM humans WHERE id = ?', [agent.id])) {
        throw new ConflictError(`a human named '${agent.id}' exists; agents and humans share one namespace`, {
          field: 'id',
        });
      }
      await tx.run(
        `INSERT INTO agents (id, display_name, role, tier, owner, environments_json, status, created_at, updated_at)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
        [
          agent.id,
          agent.displayName,
          agent.role,
          agent.tier,
          agent.owner,
          JSON.stringify(agent.environments),
          agent.status,
          now,
          now,
        ],
      );
      // A step held because no agent of its role was free may take this one.
      await wakeHeldRuns(tx);
      await this.audit.append(tx, {
        actor,
        type: 'agent.created',
        subject: `agent:${agent.id}`,
        payload: { ...agent },
      });
      return agent;
    });
  }

  async get(id: string, tx: Executor = this.db): Promise<Agent | undefined> {
    const row = await tx.get<Row>('SELECT * FROM agents WHERE id = ?', [id]);
    return row ? toAgent(row) : undefined;
  }

  /** The agent, or a {@link NotFoundError} naming `field`. */
  async require(id: string, field = 'agent', tx: Executor = this.db): Promise<Agent> {
    const a = await this.get(id, tx);
    if (!a) throw new NotFoundError('agent', id, field);
    return a;
  }

  /**
   * Agents by id. With `limit`, one page: the agents after `after` (an id, the last of the previous page). `search`
   * matches part of the id, role, owner or display name.
   */
  async list(
    filter: { role?: string; status?: AgentStatus; search?: string; after?: string; limit?: number } = {},
  ): Promise<Agent[]> {
    const where: string[] = [];
    const params: (string | number)[] = [];
    if (filter.role) {
      where.push('role = ?');
      params.push(filter.role);
    }
    if (filter.status) {
      where.push('status = ?');
      params.push(filter.status);
    }
    if (filter.search) {
      const like = containsPattern(filter.search.toLowerCase());
      where.push(
        "(LOWER(id) LIKE ? ESCAPE '!' OR LOWER(role) LIKE ? ESCAPE '!' OR LOWER(owner) LIKE ? ESCAPE '!' OR LOWER(display_name) LIKE ? ESCAPE '!')",
      );
      params.push(like, like, like, like);
    }
    if (filter.after) {
      where.push('id > ?');
      params.push(filter.after);
    }
    let sql = `SELECT * FROM agents${where.length ? ` WHERE ${where.join(' AND ')}` : ''} ORDER BY id`;
    if (filter.limit !== undefined) {
      sql += ' LIMIT ?';
      params.push(Math.min(Math.max(filter.limit, 1), 1000));
    }
    return (await this.db.all<Row>(sql, params)).map(toAgent);
  }

  /** How many active agents have `role`, without reading them. */
  async countActive(role: string): Promise<number> {
    const row = await this.db.get<{ n: number | string }>(
      "SELECT COUNT(*) AS n FROM agents WHERE role = ? AND status = 'active'",
      [role],
    );
    return Number(row?.n ?? 0);
  }

  /** The roles that have an agent not revoked (active or paused), without reading the agents. */
  async roles(): Promise<Set<string>> {
    const rows = await this.db.all<{ role: string }>(
      "SELECT DISTINCT role FROM agents WHERE status <> 'revoked'",
    );
    return new Set(rows.map((r) => r.role));
  }

  /** Pauses, resumes or revokes an agent. Revocation is final; it also revokes the agent's tokens. */
  async setStatus(
    id: string,
    change: 'pause' | 'resume' | 'revoke',
    actor: string,
    reason?: string,
  ): Promise<Agent> {
    const t = TRANSITIONS[change];
    return this.db.tx(async (tx) => {
      const agent = await this.require(id, 'agent', tx);
      if (!t.from.includes(agent.status)) {
        throw new ConflictError(`agent '${id}' is ${agent.status}; cannot ${change}`, { field: 'status' });
      }
      if (agent.status === t.to) return agent;
      const now = new Date().toISOString();
      await tx.run('UPDATE agents SET status = ?, updated_at = ? WHERE id = ?', [t.to, now, id]);
      // Workflow steps an intervention holds look again (a resumed agent lets them go on; a revoked one fails them).
      await wakeHeldRuns(tx);
      if (t.to === 'revoked') {
        await tx.run(
          "UPDATE tokens SET revoked_at = ? WHERE subject_type = 'agent' AND subject_id = ? AND revoked_at IS NULL",
          [now, id],
        );
      }
      await this.audit.append(tx, {
        actor,
        type: `agent.${t.to}`,
        subject: `agent:${id}`,
        payload: { from: agent.status, to: t.to, ...(reason ? { reason } : {}) },
      });
      return { ...agent, status: t.to, updatedAt: now };
    });
  }

  /** Changes an agent's tier (promotion or demotion); audited. */
  async setTier(id: string, tier: number | string, actor: string, reason?: string): Promise<Agent> {
    const v = parseInput(createAgentSchema.shape.tier, tier, 'tier') as Tier;
    return this.db.tx(async (tx) => {
      const agent = await this.require(id, 'agent', tx);
      if (agent.status === 'revoked') throw new UserError(`agent '${id}' is revoked`, { field: 'agent' });
      if (agent.tier === v) return agent;
      const now = new Date().toISOString();
      await tx.run('UPDATE agents SET tier = ?, updated_at = ? WHERE id = ?', [v, now, id]);
      await this.audit.append(tx, {
        actor,
        type: 'agent.tier_changed',
        subject: `agent:${id}`,
        payload: { from: agent.tier, to: v, ...(reason ? { reason } : {}) },
      });
      return { ...agent, tier: v, updatedAt: now };
    });
  }
}
