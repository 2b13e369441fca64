import crypto from 'node:crypto';
import { z } from 'zod';
import type { AuditLog } from '../audit/audit-log.js';
import { hashJson } from '../crypto/canonical-json.js';
import { ForbiddenError, UserError } from '../errors.js';
import type { EventBus } from '../events/event-bus.js';
import type { AgentRegistry } from '../identity/agents.js';
import type { Db } from '../store/db.js';
import { parseInput } from '../validation.js';
import { participantsOf, requireRunAccess } from './run-access.js';
import type { RunParticipant } from './run-access.js';

/** A message between agents working on a run. */
export interface RunMessage {
  id: string;
  runId: string;
  kind: string;
  from: string;
  /** The addressed agent, or null for a message to a role. */
  to: string | null;
  toRole: string | null;
  body: unknown;
  createdAt: string;
  readAt: string | null;
}

const sendSchema = z
  .object({
    runId: z.string().min(1).max(100),
    to: z.string().min(1).max(100).optional(),
    toRole: z.string().min(1).max(100).optional(),
    body: z.unknown().refine((v) => v !== undefined && v !== null, 'is required'),
  })
  .strict()
  .refine((m) => (m.to === undefined) !== (m.toRole === undefined), {
    message: 'give exactly one of to (an agent id) or toRole',
    path: ['to'],
  });

/** Input to {@link RunMessages.send}. */
export type SendMessage = z.input<typeof sendSchema>;

interface Row {
  id: string;
  run_id: string;
  kind: string;
  from_agent: string;
  to_agent: string | null;
  to_role: string | null;
  body_json: string;
  created_at: string;
  read_at: string | null;
}

const toMessage = (r: Row): RunMessage => ({
  id: r.id,
  runId: r.run_id,
  kind: r.kind,
  from: r.from_agent,
  to: r.to_agent,
  toRole: r.to_role,
  body: JSON.parse(r.body_json),
  createdAt: r.created_at,
  readAt: r.read_at,
});

const MAX_BODY_BYTES = 64 * 1024;

/**
 * Messages between the agents of a run: to one agent or to every agent of a role (a role message is a shared
 * inbox item: the first agent of the role to read it marks it read). Sender and recipient must both work on the
 * run. Each message is audited (`run.message_sent`, with the body's hash, not the body) in the same transaction.
 */
export class RunMessages {
  constructor(
    private readonly db: Db,
    private readonly audit: AuditLog,
    private readonly agents: AgentRegistry,
    private readonly events?: EventBus,
  ) {}

  /** Sends a message from an agent; answers it. */
  async send(input: SendMessage, from: RunParticipant): Promise<RunMessage> {
    const m = parseInput(sendSchema, input);
    if (from.kind !== 'agent') throw new ForbiddenError('messages are sent by agents: use an agent token');
    const bodyJson = JSON.stringify(m.body);
    if (Buffer.byteLength(bodyJson) > MAX_BODY_BYTES)
      throw new UserError(`is larger than ${MAX_BODY_BYTES} bytes`, { field: 'body' });
    if (m.to) {
      const to = await this.agents.get(m.to);
      if (!to) throw new UserError(`unknown agent '${m.to}'`, { field: 'to' });
      try {
        await requireRunAccess(this.db, m.runId, {
          kind: 'agent',
          id: to.id,
          role: to.role,
          status: to.status,
        });
      } catch (err) {
        if (err instanceof ForbiddenError)
          throw new UserError(`agent ${m.to} does not work on run ${m.runId}`, { field: 'to' });
        throw err;
      }
    }
    if (m.toRole) {
      const def = await requireRunAccess(this.db, m.runId, from);
      const { roles, agents } = participantsOf(def);
      for (const id of agents) {
        const a = await this.agents.get(id);
        if (a) roles.add(a.role);
      }
      if (!roles.has(m.toRole))
        throw new UserError(`no agent of role '${m.toRole}' works on run ${m.runId}`, { field: 'toRole' });
    }
    const msg: RunMessage = {
      id: `msg_${crypto.randomBytes(10).toString('hex')}`,
      runId: m.runId,
      kind: 'message',
      from: from.id,
      to: m.to ?? null,
      toRole: m.toRole ?? null,
      body: m.body,
      createdAt: new Date().toISOString(),
      readAt: null,
    };
    await this.db.tx(async (tx) => {
      await requireRunAccess(tx, m.runId, from);
      await tx.run(
        `INSERT INTO run_messages (id, run_id, kind, from_agent, to_agent, to_role, task_id, body_json, created_at, read_at)
         VALUES (?, ?, 'message', ?, ?, ?, NULL, ?, ?, NULL)`,
        [msg.id, msg.runId, msg.from, msg.to, msg.toRole, bodyJson, msg.createdAt],
      );
      await this.audit.append(tx, {
        actor: `agent:${from.id}`,
        type: 'run.message_sent',
        subject: `run:${m.runId}`,
        payload: { messageId: msg.id, to: msg.to, toRole: msg.toRole, bodyHash: hashJson(m.body) },
      });
    });
    this.events?.publish(
      'run.message_sent',
      { runId: msg.runId, messageId: msg.id, from: msg.from, to: msg.to, toRole: msg.toRole },
      `run:${msg.runId}`,
    );
    return msg;
  }

  /**
   * An agent's inbox: messages to it and to its role, oldest first (optionally one run's, optionally unread only).
   * With `markRead`, the unread ones answered are marked read in the same transaction.
   */
  async inbox(
    agent: { id: string; role: string },
    opts: { runId?: string; unread?: boolean; markRead?: boolean; limit?: number } = {},
  ): Promise<RunMessage[]> {
    const where = ['(to_agent = ? OR (to_agent IS NULL AND to_role = ?))'];
    const params: (string | number)[] = [agent.id, agent.role];
    if (opts.runId) {
      where.push('run_id = ?');
      params.push(opts.runId);
    }
    if (opts.unread) where.push('read_at IS NULL');
    params.push(Math.min(Math.max(opts.limit ?? 100, 1), 500));
    return this.db.tx(async (tx) => {
      const rows = await tx.all<Row>(
        `SELECT * FROM run_messages WHERE ${where.join(' AND ')} ORDER BY created_at, seq LIMIT ?`,
        params,
      );
      if (opts.markRead) {
        const now = new Date().toISOString();
        for (const r of rows.filter((x) => x.read_at === null)) {
          await tx.run('UPDATE run_messages SET read_at = ? WHERE id = ? AND read_at IS NULL', [now, r.id]);
          r.read_at = now;
        }
      }
      return rows.map(toMessage);
    });
  }

  /** Every message of a run, oldest first (humans only: an agent reads its own inbox). */
  async forRun(runId: string, who: RunParticipant): Promise<RunMessage[]> {
    if (who.kind !== 'human') throw new ForbiddenError("agents read their own inbox, not a run's messages");
    await requireRunAccess(this.db, runId, who);
    const rows = await this.db.all<Row>(
      'SELECT * FROM run_messages WHERE run_id = ? ORDER BY created_at, seq LIMIT 1000',
      [runId],
    );
    return rows.map(toMessage);
  }
}
