import type { Db } from '../store/db.js';
import type { AuditLog } from './audit-log.js';

/** One kind of refused, unauthenticated request: the audit record it is counted under. */
export interface TalliedFailure {
  actor: string;
  type: string;
  subject: string;
  /** Why it was refused (`bad signature`); part of what is counted together. */
  reason: string;
  /** An id the caller gave (a delivery id), kept as the last one seen; never a credential. */
  ref?: string | null;
}

/** What a {@link FailureTally} writes to and how often. */
export interface FailureTallyOptions {
  db: Db;
  audit: AuditLog;
  /** How long failures are counted before one record per kind is written. */
  windowMs: number;
}

interface Group {
  failure: TalliedFailure;
  count: number;
  firstAt: string;
  lastAt: string;
}

/**
 * Audits refused unauthenticated requests in aggregate: a flood of bad webhook signatures costs one audit record per
 * kind (actor, type, subject, reason) per window, with the count, instead of one record per request. The first failure
 * opens a window; when it ends (or on {@link close}) the counts are written in one transaction. A write that fails
 * keeps its counts for the next window, so nothing counted is dropped while the process lives.
 */
export class FailureTally {
  #pending = new Map<string, Group>();
  #timer: NodeJS.Timeout | undefined;

  constructor(private readonly o: FailureTallyOptions) {}

  /** Counts one failure; writes nothing now. */
  note(failure: TalliedFailure): void {
    const key = JSON.stringify([failure.actor, failure.type, failure.subject, failure.reason]);
    const at = new Date().toISOString();
    const group = this.#pending.get(key);
    if (group) {
      group.count++;
      group.lastAt = at;
      if (failure.ref) group.failure = failure;
    } else this.#pending.set(key, { failure, count: 1, firstAt: at, lastAt: at });
    if (!this.#timer) {
      this.#timer = setTimeout(() => {
        this.#timer = undefined;
        // A failed write keeps its counts (see flush) and the next failure or close() writes them: nothing to report.
        this.flush().catch(() => undefined);
      }, this.o.windowMs);
      this.#timer.unref();
    }
  }

  /** Failures counted and not yet written. */
  get pending(): number {
    let n = 0;
    for (const g of this.#pending.values()) n += g.count;
    return n;
  }

  /** Writes one audit record per kind counted since the last write. */
  async flush(): Promise<void> {
    if (!this.#pending.size) return;
    const groups = [...this.#pending.entries()];
    this.#pending = new Map();
    try {
      await this.o.db.tx(async (tx) => {
        for (const [, g] of groups)
          await this.o.audit.append(tx, {
            actor: g.failure.actor,
            type: g.failure.type,
            subject: g.failure.subject,
            payload: {
              reason: g.failure.reason,
              count: g.count,
              firstAt: g.firstAt,
              lastAt: g.lastAt,
              windowMs: this.o.windowMs,
              delivery: g.failure.ref ?? null,
            },
          });
      });
    } catch (err) {
      for (const [key, g] of groups) {
        const now = this.#pending.get(key);
        this.#pending.set(key, now ? { ...now, count: now.count + g.count, firstAt: g.firstAt } : g);
      }
      throw err;
    }
  }

  /** Stops the window timer and writes what is counted. */
  async close(): Promise<void> {
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = undefined;
    await this.flush();
  }
}
