import { z } from 'zod';
import type { AuditLog } from '../audit/audit-log.js';
import { ConflictError, NotFoundError, UserError } from '../errors.js';
import type { EventBus } from '../events/event-bus.js';
import type { Db, Executor, Statement } from '../store/db.js';
import { parseInput } from '../validation.js';
import { requireRunAccess } from './run-access.js';
import type { RunParticipant } from './run-access.js';

/** One named entry of a run's shared context. */
export interface ContextEntry {
  key: string;
  value: unknown;
  /** 1 on the first write, +1 on each write after. */
  version: number;
  /** `agent:<id>` or `human:<id>`. */
  writtenBy: string;
  updatedAt: string;
}

/** Keys are short names: letters, digits, `.`, `_`, `-`, `:`. */
export const contextKeySchema = z
  .string()
  .regex(
    /^[A-Za-z][A-Za-z0-9._:-]{0,99}$/,
    'must be 1-100 letters, digits, ., _, - or :, starting with a letter',
  );

const writeSchema = z
  .object({
    runId: z.string().min(1).max(100),
    key: contextKeySchema,
    value: z.unknown().refine((v) => v !== undefined, 'is required'),
    /** Optimistic concurrency: the version the writer read (0: the key must not exist yet). */
    expectVersion: z.number().int().min(0).optional(),
  })
  .strict();

/** Input to {@link RunContextStore.write}. */
export type ContextWrite = z.input<typeof writeSchema>;

/** Largest JSON value an entry may hold. */
const MAX_VALUE_BYTES = 64 * 1024;

interface Row {
  key: string;
  value_json: string;
  version: number | string;
  written_by: string;
  updated_at: string;
}

const toEntry = (r: Row): ContextEntry => ({
  key: r.key,
  value: JSON.parse(r.value_json),
  version: Number(r.version),
  writtenBy: r.written_by,
  updatedAt: r.updated_at,
});

/**
 * A run's shared context (the blackboard): named JSON entries that the agents and humans working on a run read and
 * write. Each write is versioned, attributed and audited (`run.context_written`) in one transaction; a write with
 * `expectVersion` fails with a conflict when someone else wrote first.
 */
export class RunContextStore {
  constructor(
    private readonly db: Db,
    private readonly audit: AuditLog,
    private readonly events?: EventBus,
  ) {}

  /** Every entry of the run, by key. */
  async list(runId: string, who: RunParticipant): Promise<ContextEntry[]> {
    await requireRunAccess(this.db, runId, who);
    return this.entries(runId);
  }

  /** One entry; NotFoundError when the run has no such key. */
  async get(runId: string, key: string, who: RunParticipant): Promise<ContextEntry> {
    await requireRunAccess(this.db, runId, who);
    const row = await this.db.get<Row>('SELECT * FROM run_context WHERE run_id = ? AND key = ?', [
      runId,
      key,
    ]);
    if (!row) throw new NotFoundError('context entry', key, 'key');
    return toEntry(row);
  }

  /** The run's entries without an access check (the workflow engine's own read). */
  async entries(runId: string, tx: Executor = this.db): Promise<ContextEntry[]> {
    const read = this.entriesRead(runId);
    return this.entriesFrom(await tx.all(read.sql, read.params));
  }

  /** The statement {@link entries} runs, for reading with other queries (`Db.readTogether`). */
  entriesRead(runId: string): Statement {
    return { sql: 'SELECT * FROM run_context WHERE run_id = ? ORDER BY key', params: [runId] };
  }

  /** The entries from the rows {@link entriesRead} answered. */
  entriesFrom(rows: readonly Record<string, unknown>[]): ContextEntry[] {
    return (rows as unknown as readonly Row[]).map(toEntry);
  }

  /** Writes an entry (attributed to `who`) and its audit record in one transaction; answers the new entry. */
  async write(input: ContextWrite, who: RunParticipant): Promise<ContextEntry> {
    const w = parseInput(writeSchema, input);
    const json = JSON.stringify(w.value);
    if (Buffer.byteLength(json) > MAX_VALUE_BYTES)
      throw new UserError(`is larger than ${MAX_VALUE_BYTES} bytes`, { field: 'value' });
    const writtenBy = `${who.kind}:${who.id}`;
    const entry = await this.db.tx(async (tx) => {
      await requireRunAccess(tx, w.runId, who);
      const run = await tx.get<{ status: string }>(
        `SELECT status FROM workflow_runs WHERE id = ?${this.db.forUpdate}`,
        [w.runId],
      );
      if (run && ['completed', 'failed', 'cancelled'].includes(run.status))
        throw new ConflictError(`run ${w.runId} is ${run.status}; its context is read-only`, {
          field: 'runId',
        });
      const cur = await tx.get<{ version: number | string }>(
        'SELECT version FROM run_context WHERE run_id = ? AND key = ?',
        [w.runId, w.key],
      );
      const current = cur ? Number(cur.version) : 0;
      if (w.expectVersion !== undefined && w.expectVersion !== current)
        throw new ConflictError(
          `is ${current}, not ${w.expectVersion}: someone else wrote '${w.key}' first`,
          {
            field: 'expectVersion',
          },
        );
      const now = new Date().toISOString();
      const version = current + 1;
      if (cur) {
        await tx.run(
          'UPDATE run_context SET value_json = ?, version = ?, written_by = ?, updated_at = ? WHERE run_id = ? AND key = ?',
          [json, version, writtenBy, now, w.runId, w.key],
        );
      } else {
        await tx.run(
          'INSERT INTO run_context (run_id, key, value_json, version, written_by, updated_at) VALUES (?, ?, ?, ?, ?, ?)',
          [w.runId, w.key, json, version, writtenBy, now],
        );
      }
      await this.audit.append(tx, {
        actor: writtenBy,
        type: 'run.context_written',
        subject: `run:${w.runId}`,
        payload: { key: w.key, version, value: w.value },
      });
      return { key: w.key, value: w.value, version, writtenBy, updatedAt: now };
    });
    this.events?.publish(
      'run.context_written',
      { runId: w.runId, key: entry.key, version: entry.version, writtenBy },
      `run:${w.runId}`,
    );
    return entry;
  }
}
