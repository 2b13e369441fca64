import { z } from 'zod';
import type { AuditLog } from '../audit/audit-log.js';
import { ConflictError, NotFoundError } from '../errors.js';
import type { Db, Executor } from '../store/db.js';
import { parseInput } from '../validation.js';
import { groupSchema, idSchema } from './ids.js';
import { hashPassword } from './passwords.js';

/** A person who owns agents, approves actions, audits or administers. */
export interface Human {
  id: string;
  displayName: string;
  groups: string[];
  createdAt: string;
}

/** Input to {@link HumanDirectory.add}. */
export const addHumanSchema = z.object({
  id: idSchema,
  displayName: z.string().min(1).max(200).optional(),
  groups: z.array(groupSchema).max(100).default([]),
});
export type AddHumanInput = z.input<typeof addHumanSchema>;

interface Row {
  id: string;
  display_name: string;
  groups_json: string;
  created_at: string;
}

const toHuman = (r: Row): Human => ({
  id: r.id,
  displayName: r.display_name,
  groups: JSON.parse(r.groups_json) as string[],
  createdAt: r.created_at,
});

/** Humans and their groups. */
export class HumanDirectory {
  constructor(
    private readonly db: Db,
    private readonly audit: AuditLog,
  ) {}

  /** Adds a human; a duplicate id is a conflict. Audited in the same transaction. */
  async add(input: AddHumanInput, actor: string): Promise<Human> {
    const v = parseInput(addHumanSchema, input);
    const human: Human = {
      id: v.id,
      displayName: v.displayName ?? v.id,
      groups: [...new Set(v.groups)].sort(),
      createdAt: new Date().toISOString(),
    };
    return this.db.tx(async (tx) => {
      if (await tx.get('SELECT id FROM humans WHERE id = ?', [human.id])) {
        throw new ConflictError(`human '${human.id}' already exists`, { field: 'id' });
      }
      // One namespace for agents and humans: a credential's subject must never be able to name both.
      if (await tx.get('SELECT id FROM agents WHERE id = ?', [human.id])) {
        throw new ConflictError(
          `an agent named '${human.id}' exists; agents and humans share one namespace`,
          { field: 'id' },
        );
      }
      await tx.run('INSERT INTO humans (id, display_name, groups_json, created_at) VALUES (?, ?, ?, ?)', [
        human.id,
        human.displayName,
        JSON.stringify(human.groups),
        human.createdAt,
      ]);
      await this.audit.append(tx, {
        actor,
        type: 'human.added',
        subject: `human:${human.id}`,
        payload: { ...human },
      });
      return human;
    });
  }

  async get(id: string, tx: Executor = this.db): Promise<Human | undefined> {
    const row = await tx.get<Row>('SELECT * FROM humans WHERE id = ?', [id]);
    return row ? toHuman(row) : undefined;
  }

  /** The human, or a {@link NotFoundError} naming `field`. */
  async require(id: string, field = 'human', tx: Executor = this.db): Promise<Human> {
    const h = await this.get(id, tx);
    if (!h) throw new NotFoundError('human', id, field);
    return h;
  }

  /**
   * Sets (or replaces) a human's sign-in password, stored only as a slow scrypt hash (see `passwords.ts`). Audited
   * without the password or its hash.
   */
  async setPassword(id: string, password: string, actor: string): Promise<void> {
    const hash = await hashPassword(password);
    await this.db.tx(async (tx) => {
      await this.require(id, 'human', tx);
      await tx.run('UPDATE humans SET password_hash = ? WHERE id = ?', [hash, id]);
      await this.audit.append(tx, { actor, type: 'human.password_set', subject: `human:${id}`, payload: {} });
    });
  }

  /** The stored password hash of a human, if one was set (for sign-in only). */
  async passwordHash(id: string, tx: Executor = this.db): Promise<string | undefined> {
    const row = await tx.get<{ password_hash: string | null }>(
      'SELECT password_hash FROM humans WHERE id = ?',
      [id],
    );
    return row?.password_hash ?? undefined;
  }

  async list(): Promise<Human[]> {
    return (await this.db.all<Row>('SELECT * FROM humans ORDER BY id')).map(toHuman);
  }
}
