import { SystemError } from '../errors.js';
import type { Executor, SqlValue } from './db.js';

function misuse(): SystemError {
  return new SystemError('a transaction was used after its callback settled', { code: 'store_misuse' });
}

/**
 * The executor one member of a group commit sees (both backends). It refuses statements once the member's callback
 * has settled, so work the callback left running cannot write into the next member of the batch (or outside any
 * transaction).
 */
export class MemberExecutor implements Executor {
  active = true;
  constructor(private readonly inner: Executor) {}
  all<T>(sql: string, params?: readonly SqlValue[]): Promise<T[]> {
    return this.active ? this.inner.all<T>(sql, params) : Promise.reject(misuse());
  }
  get<T>(sql: string, params?: readonly SqlValue[]): Promise<T | undefined> {
    return this.active ? this.inner.get<T>(sql, params) : Promise.reject(misuse());
  }
  run(sql: string, params?: readonly SqlValue[]): Promise<{ changes: number }> {
    return this.active ? this.inner.run(sql, params) : Promise.reject(misuse());
  }
  exec(sql: string): Promise<void> {
    return this.active ? this.inner.exec(sql) : Promise.reject(misuse());
  }
}

/** A transaction waiting for its batch (both backends). */
export interface BatchJob {
  /** The caller waits for the commit to reach the disk (see `TxOptions.durable`). */
  readonly durable: boolean;
  readonly fn: (ex: Executor) => Promise<unknown>;
  /** `fn` runs exactly one statement: alone in the queue, PostgreSQL lets it commit by itself. */
  readonly single?: boolean;
  readonly resolve: (value: unknown) => void;
  readonly reject: (err: unknown) => void;
}
