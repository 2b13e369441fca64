import type { Db, Executor } from '../store/db.js';
import { wakeLeaseWaiters } from '../workflows/run-wake.js';

/** A resource lease as `aos runs show` and `GET /v1/leases` show it. */
export interface ResourceLease {
  key: string;
  /** `<runId>:<stepId>`. */
  holder: string;
  runId: string;
  priority: number;
  acquiredAt: string;
}

/** A run step waiting for a lease. */
export interface LeaseWaiter {
  key: string;
  holder: string;
  runId: string;
  priority: number;
  requestedMs: number;
}

/** What asks for a lease: a run's step, with the run's priority. */
export interface LeaseRequest {
  key: string;
  runId: string;
  stepId: string;
  priority: number;
  nowMs: number;
}

const ENDED = "('completed', 'failed', 'cancelled')";

/** The holder id of a run's step. */
export function leaseHolder(runId: string, stepId: string): string {
  return `${runId}:${stepId}`;
}

/**
 * Resource leases: at most one holder per key (the key is the table's primary key), so two steps that declare the
 * same key never run at once. A step that finds the key taken queues as a waiter; when the key frees, the waiter
 * with the highest priority, then the earliest request, gets it — a newcomer never jumps a waiting run of higher or
 * equal priority. Leases and waiters of ended runs are cleared whenever the key is looked at.
 */
export class ResourceLeases {
  constructor(private readonly db: Db) {}

  /**
   * Takes the lease for the step, inside the caller's transaction, or queues the step as a waiter. Answers true when
   * the step holds it (also when it already did, e.g. on resume after a crash).
   */
  async acquire(tx: Executor, r: LeaseRequest): Promise<boolean> {
    const holder = leaseHolder(r.runId, r.stepId);
    // Serialize all work on one key across PostgreSQL connections; SQLite transactions are already serial.
    if (this.db.dialect === 'postgres')
      await tx.get('SELECT pg_advisory_xact_lock(hashtext(?))', [`lease:${r.key}`]);
    await tx.run(
      `DELETE FROM resource_leases WHERE key = ? AND run_id IN (SELECT id FROM workflow_runs WHERE status IN ${ENDED})`,
      [r.key],
    );
    await tx.run(
      `DELETE FROM resource_waiters WHERE key = ? AND run_id IN (SELECT id FROM workflow_runs WHERE status <> 'running')`,
      [r.key],
    );
    const held = await tx.get<{ holder: string }>('SELECT holder FROM resource_leases WHERE key = ?', [
      r.key,
    ]);
    if (held?.holder === holder) return true;
    const mine = await tx.get('SELECT 1 AS one FROM resource_waiters WHERE key = ? AND holder = ?', [
      r.key,
      holder,
    ]);
    if (!mine)
      await tx.run(
        'INSERT INTO resource_waiters (key, holder, run_id, priority, requested_ms) VALUES (?, ?, ?, ?, ?)',
        [r.key, holder, r.runId, r.priority, r.nowMs],
      );
    if (held) return false;
    const first = await tx.get<{ holder: string }>(
      'SELECT holder FROM resource_waiters WHERE key = ? ORDER BY priority DESC, requested_ms, holder LIMIT 1',
      [r.key],
    );
    if (first?.holder !== holder) return false;
    await tx.run('DELETE FROM resource_waiters WHERE key = ? AND holder = ?', [r.key, holder]);
    await tx.run(
      'INSERT INTO resource_leases (key, holder, run_id, priority, acquired_at) VALUES (?, ?, ?, ?, ?)',
      [r.key, holder, r.runId, r.priority, new Date(r.nowMs).toISOString()],
    );
    return true;
  }

  /** Releases whatever lease the step holds (and its place in any queue), in the caller's transaction. */
  async releaseStep(tx: Executor, runId: string, stepId: string): Promise<void> {
    const holder = leaseHolder(runId, stepId);
    // The runs queued for what this step frees are woken in the same transaction.
    await wakeLeaseWaiters(tx, { holder });
    await tx.run('DELETE FROM resource_leases WHERE holder = ?', [holder]);
    await tx.run('DELETE FROM resource_waiters WHERE holder = ?', [holder]);
  }

  /** Releases every lease and queue place of a run (it ended, or stopped running forward). */
  async releaseRun(tx: Executor, runId: string, opts: { waitersOnly?: boolean } = {}): Promise<void> {
    if (!opts.waitersOnly) {
      await wakeLeaseWaiters(tx, { runId });
      await tx.run('DELETE FROM resource_leases WHERE run_id = ?', [runId]);
    }
    await tx.run('DELETE FROM resource_waiters WHERE run_id = ?', [runId]);
  }

  /** Held leases, by key (optionally one run's). */
  async list(filter: { runId?: string } = {}): Promise<ResourceLease[]> {
    const rows = await this.db.all<{
      key: string;
      holder: string;
      run_id: string;
      priority: number | string;
      acquired_at: string;
    }>(
      `SELECT * FROM resource_leases${filter.runId ? ' WHERE run_id = ?' : ''} ORDER BY key`,
      filter.runId ? [filter.runId] : [],
    );
    return rows.map((r) => ({
      key: r.key,
      holder: r.holder,
      runId: r.run_id,
      priority: Number(r.priority),
      acquiredAt: r.acquired_at,
    }));
  }

  /** Steps waiting for leases, in the order they will get them per key. */
  async waiters(filter: { runId?: string } = {}): Promise<LeaseWaiter[]> {
    const rows = await this.db.all<{
      key: string;
      holder: string;
      run_id: string;
      priority: number | string;
      requested_ms: number | string;
    }>(
      `SELECT * FROM resource_waiters${filter.runId ? ' WHERE run_id = ?' : ''} ORDER BY key, priority DESC, requested_ms, holder`,
      filter.runId ? [filter.runId] : [],
    );
    return rows.map((r) => ({
      key: r.key,
      holder: r.holder,
      runId: r.run_id,
      priority: Number(r.priority),
      requestedMs: Number(r.requested_ms),
    }));
  }
}
