import type { Db, Executor, Statement } from '../store/db.js';
import type { WorkflowDefinition } from './definition.js';
import type { RecordedEvent, RunStatus, WorkflowEvent, WorkflowFailure } from './history.js';

/** A run as every front shows it. */
export interface WorkflowRun {
  id: string;
  workflow: string;
  version: string;
  definitionHash: string;
  owner: string;
  status: RunStatus;
  input: unknown;
  output: unknown;
  error: WorkflowFailure | null;
  createdBy: string;
  createdAt: string;
  updatedAt: string;
  leaseOwner: string | null;
  leaseUntil: number;
  /** A sub-run: the run and step that started it. */
  parentRunId: string | null;
  parentStepId: string | null;
}

interface RunRow {
  id: string;
  workflow: string;
  version: string;
  definition_hash: string;
  definition_json: string;
  owner: string;
  status: RunStatus;
  input_json: string;
  output_json: string | null;
  error_json: string | null;
  created_by: string;
  created_at: string;
  updated_at: string;
  lease_owner: string | null;
  lease_until: number | string;
  parent_run_id?: string | null;
  parent_step_id?: string | null;
}

function toRun(r: RunRow): WorkflowRun {
  return {
    id: r.id,
    workflow: r.workflow,
    version: r.version,
    definitionHash: r.definition_hash,
    owner: r.owner,
    status: r.status,
    input: JSON.parse(r.input_json),
    output: r.output_json === null ? null : JSON.parse(r.output_json),
    error: r.error_json === null ? null : (JSON.parse(r.error_json) as WorkflowFailure),
    createdBy: r.created_by,
    createdAt: r.created_at,
    updatedAt: r.updated_at,
    leaseOwner: r.lease_owner,
    leaseUntil: Number(r.lease_until),
    parentRunId: r.parent_run_id ?? null,
    parentStepId: r.parent_step_id ?? null,
  };
}

/** A run's history, in order. */
const EVENTS_SQL = 'SELECT seq, data_json, at FROM workflow_events WHERE run_id = ? ORDER BY seq';

interface EventRow {
  seq: number | string;
  data_json: string;
  at: string;
}

function toEvents(rows: readonly EventRow[]): RecordedEvent[] {
  return rows.map((r) => ({ ...(JSON.parse(r.data_json) as WorkflowEvent), seq: Number(r.seq), at: r.at }));
}

/** Most events one statement appends (each count is its own prepared statement). */
const APPEND_CHUNK = 8;

/** Lost the lease on a run: another node owns it now; this node must stop working on it. */
/** What {@link RunStore.update} changes on a run's row. */
export interface RunPatch {
  status: RunStatus;
  output?: unknown;
  error?: WorkflowFailure | null;
  now: string;
  /** The run's next wake ({@link WakePatch}). */
  wake?: WakePatch;
}

/** The lease an update is fenced by: the node that must hold it, and until when it extends it. */
export interface RunLease {
  owner: string;
  untilMs: number;
}

export class LeaseLostError extends Error {
  constructor(runId: string) {
    super(`lease on run ${runId} was lost`);
    this.name = new.target.name;
  }
}

/** A run about to be recorded ({@link RunStore.insert}). */
export interface NewRun {
  id: string;
  def: WorkflowDefinition;
  hash: string;
  input: unknown;
  actor: string;
  now: string;
  /** What started the run (`webhook:<name>:<delivery>`, `cron:<name>:<slotMs>`); unique. */
  triggerKey?: string;
  /** The run's place in the order runs are claimed (the definition's `priority`); 0 when not given. */
  priority?: number;
}

/** SQL for runs and their histories. Every write checks the caller still holds the run's lease (fencing). */
export class RunStore {
  constructor(private readonly db: Db) {}

  async insert(tx: Executor, run: NewRun): Promise<void> {
    const w = this.insertStatement(run);
    await tx.run(w.sql, w.params);
  }

  /** {@link insert}'s statement, for a caller that runs it with other writes (`AuditLog.appendAlone`). */
  insertStatement(run: NewRun): Statement {
    return {
      sql: `INSERT INTO workflow_runs (id, workflow, version, definition_hash, definition_json, owner, status, input_json,
         output_json, error_json, created_by, created_at, updated_at, lease_owner, lease_until, trigger_key, wake_at,
         priority)
       VALUES (?, ?, ?, ?, ?, ?, 'running', ?, NULL, NULL, ?, ?, ?, NULL, 0, ?, ?, ?)`,
      params: [
        run.id,
        run.def.name,
        run.def.version,
        run.hash,
        JSON.stringify(run.def),
        run.def.owner,
        JSON.stringify(run.input),
        run.actor,
        run.now,
        run.now,
        run.triggerKey ?? null,
        Date.parse(run.now),
        run.priority ?? 0,
      ],
    };
  }

  /** The run a trigger started, if any. */
  async byTriggerKey(key: string, tx: Executor = this.db): Promise<WorkflowRun | undefined> {
    const row = await tx.get<RunRow>('SELECT * FROM workflow_runs WHERE trigger_key = ?', [key]);
    return row ? toRun(row) : undefined;
  }

  async get(id: string, tx: Executor = this.db): Promise<WorkflowRun | undefined> {
    const row = await tx.get<RunRow>('SELECT * FROM workflow_runs WHERE id = ?', [id]);
    return row ? toRun(row) : undefined;
  }

  /**
   * The run, the definition pinned on it and its history, in one round trip on PostgreSQL ({@link Db.readTogether});
   * undefined when there is no such run.
   */
  async snapshot(
    id: string,
    tx: Executor = this.db,
  ): Promise<{ run: WorkflowRun; def: WorkflowDefinition; events: RecordedEvent[] } | undefined> {
    const [rows, events] = await this.db.readTogether(tx, [
      { sql: 'SELECT * FROM workflow_runs WHERE id = ?', params: [id] },
      { sql: EVENTS_SQL, params: [id] },
    ]);
    const row = rows?.[0] as RunRow | undefined;
    if (!row) return undefined;
    return {
      run: toRun(row),
      def: JSON.parse(row.definition_json) as WorkflowDefinition,
      events: toEvents((events ?? []) as unknown as EventRow[]).sort((a, b) => a.seq - b.seq),
    };
  }

  /** The definition pinned on the run when it started. */
  async definition(id: string, tx: Executor = this.db): Promise<WorkflowDefinition | undefined> {
    const row = await tx.get<{ definition_json: string }>(
      'SELECT definition_json FROM workflow_runs WHERE id = ?',
      [id],
    );
    return row ? (JSON.parse(row.definition_json) as WorkflowDefinition) : undefined;
  }

  async list(filter: { status?: RunStatus; workflow?: string; limit?: number } = {}): Promise<WorkflowRun[]> {
    const where: string[] = [];
    const params: (string | number)[] = [];
    if (filter.status) {
      where.push('status = ?');
      params.push(filter.status);
    }
    if (filter.workflow) {
      where.push('workflow = ?');
      params.push(filter.workflow);
    }
    params.push(Math.min(Math.max(filter.limit ?? 100, 1), 1000));
    const rows = await this.db.all<RunRow>(
      `SELECT * FROM workflow_runs${where.length ? ` WHERE ${where.join(' AND ')}` : ''} ORDER BY created_at DESC, id DESC LIMIT ?`,
      params,
    );
    return rows.map(toRun);
  }

  async events(runId: string, tx: Executor = this.db): Promise<RecordedEvent[]> {
    return toEvents(await tx.all<EventRow>(EVENTS_SQL, [runId]));
  }

  /**
   * Appends events in order inside `tx`, in one statement per {@link APPEND_CHUNK} events that numbers them after
   * the history's last row (no round trip to read it first); the (run_id, seq) key refuses a racing writer.
   */
  async append(tx: Executor, runId: string, events: readonly WorkflowEvent[], now: string): Promise<void> {
    for (const w of this.appendStatements(runId, events, now)) await tx.run(w.sql, w.params);
  }

  /** {@link append}'s statements, for a caller that runs them with other writes ({@link Db.runIndependent}). */
  appendStatements(runId: string, events: readonly WorkflowEvent[], now: string): Statement[] {
    const out: Statement[] = [];
    for (let i = 0; i < events.length; i += APPEND_CHUNK) {
      const chunk = events.slice(i, i + APPEND_CHUNK);
      const params: (string | number | null)[] = [runId];
      const rows = chunk.map((e, j) => {
        params.push(runId, e.type, 'stepId' in e ? e.stepId : null, 'attempt' in e ? e.attempt : null);
        params.push(JSON.stringify(e), now);
        return `SELECT ?, last.seq + ${j + 1}, ?, ?, CAST(? AS INTEGER), ?, ? FROM last`;
      });
      // Both backends read `last` before inserting (SQLite stages an INSERT … SELECT of its own table first).
      out.push({
        sql: `WITH last AS (SELECT COALESCE(MAX(seq), 0) AS seq FROM workflow_events WHERE run_id = ?)
         INSERT INTO workflow_events (run_id, seq, type, step_id, attempt, data_json, at) ${rows.join(' UNION ALL ')}`,
        params,
      });
    }
    return out;
  }

  /** Updates the run row; with `leaseOwner`, only while that node holds the lease (else {@link LeaseLostError}). */
  async update(tx: Executor, runId: string, patch: RunPatch, lease?: RunLease): Promise<void> {
    const w = this.updateStatement(runId, patch, lease);
    this.checkUpdated(runId, (await tx.run(w.sql, w.params)).changes, lease);
  }

  /** {@link update}'s statement; {@link checkUpdated} checks its change count. */
  updateStatement(runId: string, patch: RunPatch, lease?: RunLease): Statement {
    const sets = ['status = ?', 'updated_at = ?'];
    const params: (string | number | null)[] = [patch.status, patch.now];
    if (patch.wake) {
      const w = wakeSql(patch.wake);
      sets.push(w.sql);
      params.push(...w.params);
    }
    if (patch.output !== undefined) {
      sets.push('output_json = ?');
      params.push(JSON.stringify(patch.output));
    }
    if (patch.error !== undefined) {
      sets.push('error_json = ?');
      params.push(patch.error === null ? null : JSON.stringify(patch.error));
    }
    let where = 'id = ?';
    params.push(runId);
    if (lease) {
      sets.push('lease_until = ?');
      params.splice(params.length - 1, 0, lease.untilMs);
      where += ' AND lease_owner = ?';
      params.push(lease.owner);
    }
    return { sql: `UPDATE workflow_runs SET ${sets.join(', ')} WHERE ${where}`, params };
  }

  /** Throws {@link LeaseLostError} when a lease-fenced update of the run changed no row. */
  checkUpdated(runId: string, changes: number, lease?: RunLease): void {
    if (lease && changes === 0) throw new LeaseLostError(runId);
  }

  /**
   * Claims up to `limit` active runs whose wake time has come, oldest wake first, and whose lease has run out (never
   * held, released, or held by a dead node), for `owner` until `untilMs`. A run waiting for an outside event (no
   * wake time) or for a later time is not read at all. On PostgreSQL rows locked by another node's claim are
   * skipped. Answers each run with the wake sequence it was claimed at (see {@link WakePatch}).
   */
  async claim(owner: string, nowMs: number, untilMs: number, limit: number): Promise<ClaimedRun[]> {
    return this.db.tx(
      async (tx) => {
        const rows = await tx.all<{ id: string; wake_seq: number | string }>(
          // SQLite, without statistics, would rather range over (status, lease_until): every waiting run.
          `SELECT id, wake_seq FROM workflow_runs${this.db.dialect === 'sqlite' ? ' INDEXED BY workflow_runs_wake' : ''}
         WHERE status IN ('running', 'compensating') AND wake_at <= ? AND lease_until < ?
         ORDER BY wake_at, id LIMIT ?${this.db.skipLocked}`,
          [nowMs, nowMs, limit],
        );
        const claimed: ClaimedRun[] = [];
        for (const r of rows) {
          const { changes } = await tx.run(
            'UPDATE workflow_runs SET lease_owner = ?, lease_until = ? WHERE id = ? AND lease_until < ?',
            [owner, untilMs, r.id, nowMs],
          );
          if (changes) claimed.push({ id: r.id, wakeSeq: Number(r.wake_seq) });
        }
        return claimed;
        // A lease lost to a crash of the machine is one that has run out: every write of the holder is fenced by it.
      },
      { durable: false },
    );
  }

  /**
   * Gives the lease back so any node may pick the run up once it is due, with the wake this node computed (kept
   * when an outside event woke the run meanwhile), and clears the count of failed advances.
   */
  async release(runId: string, owner: string, wake: WakePatch): Promise<void> {
    const w = wakeSql(wake);
    // Non-durable: lost to a crash of the machine, the lease runs out and the wake recomputed from the history.
    // One statement, which commits by itself when nothing else waits.
    await this.db.writeAlone(
      [
        {
          sql: `UPDATE workflow_runs SET lease_owner = NULL, lease_until = 0, advance_failures = 0, ${w.sql}
           WHERE id = ? AND lease_owner = ?`,
          params: [...w.params, runId, owner],
        },
      ],
      undefined,
      { durable: false },
    );
  }

  /**
   * Records an advance that failed: counts it and pushes the wake to `wakeAtMs` (unless an outside event woke the
   * run meanwhile); the lease stays until it runs out, as after a crash. Answers the failures so far.
   */
  async failed(
    runId: string,
    owner: string,
    p: { wakeSeq: number; backoffMs: (failures: number) => number; nowMs: number },
  ): Promise<number> {
    return this.db.tx(async (tx) => {
      const row = await tx.get<{ advance_failures: number | string }>(
        `SELECT advance_failures FROM workflow_runs WHERE id = ? AND lease_owner = ?${this.db.forUpdate}`,
        [runId, owner],
      );
      if (!row) return 0;
      const failures = Number(row.advance_failures) + 1;
      const w = wakeSql({ atMs: p.nowMs + p.backoffMs(failures), seq: p.wakeSeq });
      await tx.run(`UPDATE workflow_runs SET advance_failures = ?, ${w.sql} WHERE id = ?`, [
        failures,
        ...w.params,
        runId,
      ]);
      return failures;
    });
  }
}

/** A run a node claimed, and the wake sequence it had then. */
export interface ClaimedRun {
  id: string;
  wakeSeq: number;
}

/**
 * A wake a node computed for a run it holds: `atMs` (null: only an outside event), whether an intervention holds a
 * step (`held`), and the wake sequence the node saw when it claimed the run. The wake is written only while the
 * sequence is unchanged: an outside event bumps it, and its wake (now) must not be overwritten by one computed
 * from a state the event has since changed.
 */
export interface WakePatch {
  atMs: number | null;
  held?: boolean;
  seq: number;
}

function wakeSql(w: WakePatch): { sql: string; params: (number | null)[] } {
  return {
    sql: `wake_at = CASE WHEN wake_seq = ? THEN ? ELSE wake_at END${w.held === undefined ? '' : ', held = ?'}`,
    params: [w.seq, w.atMs, ...(w.held === undefined ? [] : [w.held ? 1 : 0])],
  };
}
