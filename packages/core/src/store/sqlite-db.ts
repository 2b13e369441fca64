import fs from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import { SystemError, UserError } from '../errors.js';
import type { Db, Executor, SqlValue, TxOptions } from './db.js';

/**
 * Most transactions one COMMIT holds. Bounds how long the first member of a batch waits for the last one and how
 * much one failed COMMIT takes down with it.
 */
export const MAX_GROUP_COMMIT = 256;

class SqliteExecutor implements Executor {
  /** Prepared statements by SQL text: the pipeline runs the same few dozen statements over and over. */
  private readonly statements = new Map<string, Database.Statement>();

  constructor(protected readonly conn: Database.Database) {}

  private prepare(sql: string): Database.Statement {
    let stmt = this.statements.get(sql);
    if (!stmt) {
      stmt = this.conn.prepare(sql);
      // Bounded: SQL built from filters has a handful of shapes, but never let it grow without limit.
      if (this.statements.size >= 500) this.statements.clear();
      this.statements.set(sql, stmt);
    }
    return stmt;
  }

  /** Forgets prepared statements: DDL may change what they refer to. */
  forget(): void {
    this.statements.clear();
  }

  all<T>(sql: string, params: readonly SqlValue[] = []): Promise<T[]> {
    return settle(() => this.prepare(sql).all(...params) as T[]);
  }
  get<T>(sql: string, params: readonly SqlValue[] = []): Promise<T | undefined> {
    return settle(() => this.prepare(sql).get(...params) as T | undefined);
  }
  run(sql: string, params: readonly SqlValue[] = []): Promise<{ changes: number }> {
    return settle(() => ({ changes: this.prepare(sql).run(...params).changes }));
  }
  exec(sql: string): Promise<void> {
    return settle(() => {
      this.forget();
      this.conn.exec(sql);
    });
  }
}

/** better-sqlite3 is synchronous: its errors become rejections, as a caller of a Promise-returning method expects. */
function settle<T>(fn: () => T): Promise<T> {
  try {
    return Promise.resolve(fn());
  } catch (err) {
    return Promise.reject(err);
  }
}

function misuse(): SystemError {
  return new SystemError('a transaction was used after its callback settled', { code: 'store_misuse' });
}

/**
 * The executor one transaction callback sees. It refuses statements once the callback has settled, so work the
 * callback left running cannot write into the next member of the batch (or outside any transaction).
 */
class MemberExecutor implements Executor {
  active = true;
  constructor(private readonly inner: SqliteExecutor) {}
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

/** Work waiting for the write connection: a transaction callback, or a job that must run outside any transaction. */
interface Job {
  readonly kind: 'tx' | 'alone';
  /** The caller waits for the commit's fsync (see {@link TxOptions.durable}). */
  readonly durable: boolean;
  readonly fn: (ex: Executor) => Promise<unknown>;
  readonly resolve: (value: unknown) => void;
  readonly reject: (err: unknown) => void;
}

/** A batch member whose callback has run: what to settle it with once the batch's fate is known. */
interface Ran {
  readonly job: Job;
  readonly ok: boolean;
  readonly value: unknown;
}

/** Options for {@link SqliteDb}. */
export interface SqliteDbOptions {
  /** How long a transaction waits for another process's write lock before failing with `store_busy`. Default 30 s. */
  busyTimeoutMs?: number;
}

/**
 * SQLite backend: one WAL-mode write connection per process (other processes wait on the busy timeout) and, for a
 * database file, a second connection for reads outside transactions.
 *
 * Group commit: transactions submitted while a batch is open (or within one turn of the event loop) run one after
 * another, in submission order, inside ONE `BEGIN IMMEDIATE … COMMIT`, each in its own SAVEPOINT. A callback that
 * throws is rolled back to its savepoint and rejects alone; the others commit. Every promise settles only after the
 * COMMIT holding its writes has returned (`synchronous=FULL`: durable), and a failed COMMIT rejects every member.
 * A batch that opens on a `durable: false` transaction takes only such transactions and commits with
 * `synchronous=NORMAL`: no fsync; the WAL frames reach the operating system (a killed process loses nothing) and
 * the next durable commit's fsync covers them. A batch that opens on a durable one takes both kinds, with fsync.
 *
 * Reads on the database itself (`all`, `get`) go to the read connection and see what has committed, so they never
 * queue behind writes and may be made from inside a transaction (they do not see its uncommitted writes). Writes on
 * the database itself (`run`, `exec`, `tx`) queue behind the open batch: awaiting one from inside a transaction
 * callback waits for that transaction to finish, i.e. forever — use the callback's executor.
 * An in-memory database (`:memory:`) has the one connection only; its reads queue like writes.
 */
export class SqliteDb implements Db {
  readonly dialect = 'sqlite' as const;
  readonly forUpdate = '';
  readonly skipLocked = '';
  private readonly conn: Database.Database;
  private readonly writer: SqliteExecutor;
  private readonly readConn: Database.Database | undefined;
  private readonly reader: SqliteExecutor | undefined;
  private readonly queue: Job[] = [];
  /** Batches committed so far: with fsync (`durable`) and without (`lazy`, every member non-durable). */
  readonly commits = { durable: 0, lazy: 0 };
  /** A drain of the queue is scheduled or running. */
  private draining = false;
  private closing = false;
  private closed: Promise<void> | undefined;

  constructor(file: string, options: SqliteDbOptions = {}) {
    const timeout = options.busyTimeoutMs ?? 30_000;
    if (!Number.isSafeInteger(timeout) || timeout < 0) {
      throw new UserError('busyTimeoutMs must be a non-negative integer of milliseconds', {
        field: 'busyTimeoutMs',
      });
    }
    const memory = file === ':memory:';
    if (!memory) {
      const dir = path.dirname(file);
      try {
        fs.mkdirSync(dir, { recursive: true });
        fs.accessSync(dir, fs.constants.R_OK | fs.constants.W_OK);
      } catch (err) {
        throw new UserError(
          `cannot use data directory ${dir}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`,
          {
            field: 'data',
          },
        );
      }
    }
    let conn: Database.Database | undefined;
    try {
      // Owner-only, as the key files: SQLite gives the -wal and -shm files the database file's mode.
      if (!memory) fs.closeSync(fs.openSync(file, 'a', 0o600));
      conn = new Database(file, { timeout });
      conn.pragma('journal_mode = WAL');
      conn.pragma('synchronous = FULL');
      conn.pragma('foreign_keys = ON');
      if (!memory) {
        // Opened after the writer has switched the file to WAL, so this connection reads snapshots of committed
        // data while the writer's batch is open. query_only: it can never write, whatever SQL it is handed.
        this.readConn = new Database(file, { timeout });
        this.readConn.pragma('query_only = ON');
      }
    } catch (err) {
      if (conn?.open) conn.close();
      throw new UserError(`cannot open database ${file}: ${(err as Error).message}`, { field: 'data' });
    }
    this.conn = conn;
    this.writer = new SqliteExecutor(this.conn);
    this.reader = this.readConn ? new SqliteExecutor(this.readConn) : undefined;
  }

  all<T>(sql: string, params?: readonly SqlValue[]): Promise<T[]> {
    if (this.reader && !this.closing) return this.reader.all<T>(sql, params);
    return this.tx((tx) => tx.all<T>(sql, params));
  }
  get<T>(sql: string, params?: readonly SqlValue[]): Promise<T | undefined> {
    if (this.reader && !this.closing) return this.reader.get<T>(sql, params);
    return this.tx((tx) => tx.get<T>(sql, params));
  }
  run(sql: string, params?: readonly SqlValue[]): Promise<{ changes: number }> {
    return this.tx((tx) => tx.run(sql, params));
  }
  /** Runs alone, outside any transaction (DDL, pragmas), after every transaction submitted before it. */
  exec(sql: string): Promise<void> {
    return this.submit('alone', true, async () => {
      this.reader?.forget();
      await this.writer.exec(sql);
    });
  }

  tx<T>(fn: (tx: Executor) => Promise<T>, options: TxOptions = {}): Promise<T> {
    return this.submit('tx', options.durable !== false, fn);
  }

  /** Closes both connections once the work submitted before it has settled; later calls are refused. */
  close(): Promise<void> {
    this.closed ??= this.submit('alone', true, () => {
      if (this.readConn?.open) this.readConn.close();
      if (this.conn.open) this.conn.close();
      return Promise.resolve();
    });
    this.closing = true;
    return this.closed;
  }

  private submit<T>(kind: Job['kind'], durable: boolean, fn: (ex: Executor) => Promise<T>): Promise<T> {
    if (this.closing) {
      return Promise.reject(new SystemError('the database is closed', { code: 'store_closed' }));
    }
    return new Promise<T>((resolve, reject) => {
      this.queue.push({ kind, durable, fn, resolve: resolve as (value: unknown) => void, reject });
      if (!this.draining) {
        this.draining = true;
        // One turn of the loop: whatever else this turn's I/O callbacks submit joins the first batch.
        setImmediate(() => void this.drain());
      }
    });
  }

  /** Runs queued work until none is left. Never throws: every outcome goes to the job's promise. */
  private async drain(): Promise<void> {
    try {
      for (let head = this.queue[0]; head; head = this.queue[0]) {
        if (head.kind === 'tx') {
          await this.runBatch();
          continue;
        }
        this.queue.shift();
        try {
          head.resolve(await head.fn(this.writer));
        } catch (err) {
          head.reject(err);
        }
      }
    } finally {
      this.draining = false;
    }
  }

  /** Runs the transactions at the head of the queue (and any that join while it runs) in one transaction. */
  private async runBatch(): Promise<void> {
    // SQLite fixes the safety level outside transactions only: a batch that opens on a non-durable member commits
    // without fsync and takes non-durable members only; one that opens on a durable member takes both kinds.
    const lazy = !(this.queue[0] as Job).durable;
    const joins = (job: Job | undefined): job is Job => job?.kind === 'tx' && (!lazy || !job.durable);
    try {
      if (lazy) this.conn.exec('PRAGMA synchronous = NORMAL');
      this.conn.exec('BEGIN IMMEDIATE');
    } catch (err) {
      if (lazy) this.restoreSynchronous();
      // Another process holds the write lock past the busy timeout: this batch's members fail as one call would.
      for (const job of this.takeBatch(joins)) {
        job.reject(
          new SystemError(`database busy: ${(err as Error).message}`, { cause: err, code: 'store_busy' }),
        );
      }
      return;
    }
    const ran: Ran[] = [];
    let failure: unknown;
    while (ran.length < MAX_GROUP_COMMIT && joins(this.queue[0])) {
      const job = this.queue.shift() as Job;
      const ex = new MemberExecutor(this.writer);
      try {
        this.conn.exec('SAVEPOINT member');
      } catch (err) {
        failure = err;
        ran.push({ job, ok: false, value: err });
        break;
      }
      try {
        const value = await job.fn(ex);
        ex.active = false;
        this.conn.exec('RELEASE member');
        ran.push({ job, ok: true, value });
      } catch (err) {
        ex.active = false;
        ran.push({ job, ok: false, value: err });
        try {
          this.conn.exec('ROLLBACK TO member');
          this.conn.exec('RELEASE member');
        } catch (cause) {
          // The database ended the transaction itself (disk full, I/O error): the earlier members are gone too.
          failure = cause;
          break;
        }
      }
    }
    if (failure === undefined) {
      try {
        this.conn.exec('COMMIT');
        this.commits[lazy ? 'lazy' : 'durable']++;
      } catch (err) {
        failure = err;
      }
    }
    if (failure !== undefined && this.conn.inTransaction) {
      try {
        this.conn.exec('ROLLBACK');
      } catch {
        /* the connection is unusable; the next BEGIN reports it */
      }
    }
    // No other batch commits without fsync.
    if (lazy) this.restoreSynchronous();
    for (const { job, ok, value } of ran) {
      if (!ok) job.reject(value);
      else if (failure === undefined) job.resolve(value);
      else {
        job.reject(
          new SystemError(`transaction not committed: ${(failure as Error).message}`, {
            cause: failure,
            code: 'store_commit_failed',
          }),
        );
      }
    }
  }

  /** Back to fsync on every commit after a non-durable batch; a connection that cannot is closed, never left lax. */
  private restoreSynchronous(): void {
    try {
      this.conn.exec('PRAGMA synchronous = FULL');
    } catch {
      // Every later transaction then fails with a clear error instead of committing without fsync.
      this.conn.close();
    }
  }

  /** Removes and answers the transactions a batch would take from the head of the queue. */
  private takeBatch(joins: (job: Job | undefined) => job is Job): Job[] {
    const jobs: Job[] = [];
    while (jobs.length < MAX_GROUP_COMMIT && joins(this.queue[0])) jobs.push(this.queue.shift() as Job);
    return jobs;
  }
}
