import fs from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import { SystemError, UserError } from '../errors.js';
import { checkChanges, checkRequired } from './db.js';
import type {
  Db,
  Executor,
  IndependentResult,
  ReadSource,
  SqlValue,
  Statement,
  TxOptions,
  WriteAloneOptions,
} from './db.js';
import { type BatchJob, MemberExecutor } from './member-executor.js';
import { WalCheckpointer } from './sqlite-checkpointer.js';

/**
 * Most transactions one COMMIT holds. Bounds how long the first member of a batch waits for the last one and how
 * much one failed COMMIT takes down with it.
 */
export const MAX_GROUP_COMMIT = 256;

/**
 * Pages in the WAL past which the write connection checkpoints by itself after a COMMIT (SQLite's default is 1,000)
 * when a worker thread checkpoints for it. The worker copies the log into the database as it grows, but SQLite
 * restarts the log from its start only when a write begins with all of it copied, which under steady writes is
 * rare; so past this size the write connection copies the little the worker has not (the last few milliseconds'
 * commits) and the next write restarts the log. Also the backstop, should the worker fall behind or fail.
 */
export const WRITER_AUTOCHECKPOINT = 4_000;

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

  /**
   * A prepared statement that only reads (`readonly`: no write, no pragma), else undefined. The database's own
   * `all`/`get` run such statements on the write connection while no batch is open and leave any other to the
   * read connection, whose `query_only` refuses writes.
   */
  readOnly(sql: string): Database.Statement | undefined {
    const stmt = this.prepare(sql);
    return stmt.readonly ? stmt : undefined;
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

/** Work waiting for the write connection: a transaction callback, or a job that must run outside any transaction. */
interface Job extends BatchJob {
  readonly kind: 'tx' | 'alone';
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
  /**
   * Flushes the write-ahead log to disk: `fdatasync` on libuv's thread pool by default. Replaceable so a test can
   * hold or fail the flush; never replace it with something that does not reach the disk.
   */
  flush?: (fd: number) => Promise<void>;
  /**
   * Checkpoints the WAL on a worker thread (default true for a database file): the event loop's write connection
   * then checkpoints only past {@link WRITER_AUTOCHECKPOINT} pages, and finds almost everything copied already.
   * False: SQLite's automatic checkpoint after a COMMIT on the write connection, every 1,000 pages.
   */
  checkpointer?: boolean;
}

function fdatasync(fd: number): Promise<void> {
  return new Promise((resolve, reject) => fs.fdatasync(fd, (err) => (err ? reject(err) : resolve())));
}

/**
 * SQLite backend: one WAL-mode write connection per process (other processes wait on the busy timeout) and, for a
 * database file, a second connection for reads outside transactions.
 *
 * Group commit: transactions submitted while a batch is open (or within one turn of the event loop) run one after
 * another, in submission order, inside ONE `BEGIN IMMEDIATE … COMMIT`, each in its own SAVEPOINT. A callback that
 * throws is rolled back to its savepoint and rejects alone; the others commit. A failed COMMIT rejects every member.
 *
 * Durability off the event loop: the write connection commits with `synchronous=NORMAL` (the WAL frames reach the
 * operating system, so a killed process loses nothing) and the WAL file is then flushed with `fdatasync` on libuv's
 * thread pool; a durable transaction's promise settles only once a flush that began after its COMMIT has finished —
 * what `synchronous=FULL` gives, without blocking the loop for the fsync. Flushes coalesce: while one runs, every
 * commit after it waits for the one next flush, and the next batch runs meanwhile. A non-durable transaction
 * (`durable: false`) settles at its COMMIT. A failed flush rejects the durable members it covered (`store_sync_failed`):
 * their writes are committed but may not be on disk, so their callers must not act on them. Readers (this process's
 * read connection, other processes) may see a durable transaction's writes before its flush has finished. If the
 * database cannot use WAL, every commit is `synchronous=FULL` instead.
 *
 * Checkpoints off the event loop: a worker thread with a connection of its own copies the WAL back into the
 * database (PASSIVE, at most every 25 ms after commits), so a COMMIT on the loop no longer pays for copying the
 * log; the write connection's own checkpoint, past {@link WRITER_AUTOCHECKPOINT} pages, finds only the last few
 * milliseconds' commits left to copy, and lets the log restart.
 *
 * Reads on the database itself (`all`, `get`) see what has committed and never queue behind writes: on the write
 * connection between batches, on the read connection while a batch is open, so they may be made from inside a
 * transaction (they do not see its uncommitted writes). Writes on
 * the database itself (`run`, `exec`, `tx`) queue behind the open batch: awaiting one from inside a transaction
 * callback waits for that transaction to finish, i.e. forever — use the callback's executor.
 * An in-memory database (`:memory:`) has the one connection only; its reads queue like writes.
 */
export class SqliteDb implements Db {
  readonly dialect = 'sqlite' as const;
  readonly forUpdate = '';
  readonly skipLocked = '';
  readonly rowVersion = undefined;

  async runIndependent<T = Record<string, unknown>>(
    tx: Executor,
    writes: readonly Statement[],
    answer?: Statement,
  ): Promise<IndependentResult<T>> {
    const changes: number[] = [];
    for (const w of writes) changes.push((await tx.run(w.sql, w.params)).changes);
    return { changes, rows: answer ? await tx.all<T>(answer.sql, answer.params) : [] };
  }
  writeAlone<T = Record<string, unknown>>(
    writes: readonly Statement[],
    answer?: Statement,
    options: WriteAloneOptions = {},
  ): Promise<IndependentResult<T>> {
    return this.tx(async (tx) => {
      await checkRequired(tx, options.require);
      const out = await this.runIndependent<T>(tx, writes, answer);
      checkChanges(out.changes, options.expect);
      return out;
    }, options);
  }
  async readTogether(tx: Executor, reads: readonly Statement[]): Promise<Record<string, unknown>[][]> {
    const out: Record<string, unknown>[][] = [];
    for (const r of reads) out.push(await tx.all(r.sql, r.params));
    return out;
  }
  /** The database file, for other threads' read-only connections; undefined for `:memory:`. */
  readonly readSource: ReadSource | undefined;
  private readonly conn: Database.Database;
  private readonly writer: SqliteExecutor;
  private readonly readConn: Database.Database | undefined;
  private readonly reader: SqliteExecutor | undefined;
  private readonly queue: Job[] = [];
  /** Batches committed and WAL flushes made so far (checkpoints: see {@link checkpoints}). */
  readonly commits = { batches: 0, flushes: 0 };
  private readonly walFile: string | undefined;
  private walFd: number | undefined;
  private readonly flushWal: (fd: number) => Promise<void>;
  /** Checkpoints the WAL off the event loop; undefined for `:memory:`, without WAL, or when turned off. */
  private readonly checkpointer: WalCheckpointer | undefined;
  /** The flush running now, and the one queued behind it for commits made while it runs. */
  private flushing: Promise<void> | undefined;
  private nextFlush: Promise<void> | undefined;
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
    this.readSource = memory ? undefined : { kind: 'sqlite', file };
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
      const mode = conn.pragma('journal_mode = WAL', { simple: true });
      // With WAL the fsync moves off the loop (see the class comment); without it, every COMMIT syncs itself.
      const wal = !memory && mode === 'wal';
      conn.pragma(wal ? 'synchronous = NORMAL' : 'synchronous = FULL');
      if (wal) this.walFile = `${file}-wal`;
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
    this.flushWal = options.flush ?? fdatasync;
    if (this.walFile !== undefined && options.checkpointer !== false) {
      try {
        this.checkpointer = new WalCheckpointer(file);
        conn.pragma(`wal_autocheckpoint = ${WRITER_AUTOCHECKPOINT}`);
      } catch {
        // No worker thread (resource limits): SQLite's own automatic checkpoint, as without one.
        this.checkpointer = undefined;
      }
    }
    this.writer = new SqliteExecutor(this.conn);
    this.reader = this.readConn ? new SqliteExecutor(this.readConn) : undefined;
  }

  all<T>(sql: string, params: readonly SqlValue[] = []): Promise<T[]> {
    if (!this.reader || this.closing) return this.tx((tx) => tx.all<T>(sql, params));
    const stmt = this.onWriter(sql);
    return stmt ? settle(() => stmt.all(...params) as T[]) : this.reader.all<T>(sql, params);
  }
  get<T>(sql: string, params: readonly SqlValue[] = []): Promise<T | undefined> {
    if (!this.reader || this.closing) return this.tx((tx) => tx.get<T>(sql, params));
    const stmt = this.onWriter(sql);
    return stmt ? settle(() => stmt.get(...params) as T | undefined) : this.reader.get<T>(sql, params);
  }

  /**
   * A read outside a transaction runs on the write connection itself while no batch is open: it sees exactly what
   * has committed, and its page cache is warm (it made the last writes), where SQLite drops the read connection's
   * whole cache whenever another connection has written. Otherwise (a batch open, or a statement that is not a
   * plain read) on the read connection. Undefined: the read connection.
   */
  private onWriter(sql: string): Database.Statement | undefined {
    if (this.conn.inTransaction) return undefined;
    try {
      return this.writer.readOnly(sql);
    } catch {
      // Bad SQL: the read connection reports it, as it did before.
      return undefined;
    }
  }
  run(sql: string, params?: readonly SqlValue[]): Promise<{ changes: number }> {
    return this.tx((tx) => tx.run(sql, params));
  }
  /** Runs alone, outside any transaction (DDL, pragmas), after every transaction submitted before it. */
  exec(sql: string): Promise<void> {
    return this.submit('alone', true, async () => {
      this.reader?.forget();
      await this.writer.exec(sql);
      this.checkpointer?.committed();
      await this.flush();
    });
  }

  tx<T>(fn: (tx: Executor) => Promise<T>, options: TxOptions = {}): Promise<T> {
    return this.submit('tx', options.durable !== false, fn);
  }

  /** Closes both connections once the work submitted before it has settled; later calls are refused. */
  close(): Promise<void> {
    this.closed ??= this.submit('alone', true, async () => {
      // Durable callers still waiting hear back before the file goes.
      await Promise.allSettled([this.flushing, this.nextFlush]);
      // Its connection first: the last one to close checkpoints the whole log and removes it.
      await this.checkpointer?.close();
      if (this.readConn?.open) this.readConn.close();
      if (this.conn.open) this.conn.close();
      if (this.walFd !== undefined) fs.closeSync(this.walFd);
      this.walFd = undefined;
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
    // Rows changed by this connection so far: a batch that changed none (reads, no-op updates) needs no flush.
    const changesBefore = this.totalChanges();
    try {
      this.conn.exec('BEGIN IMMEDIATE');
    } catch (err) {
      // Another process holds the write lock past the busy timeout: this batch's members fail as one call would.
      for (const job of this.takeBatch()) {
        job.reject(
          new SystemError(`database busy: ${(err as Error).message}`, { cause: err, code: 'store_busy' }),
        );
      }
      return;
    }
    const ran: Ran[] = [];
    let failure: unknown;
    while (ran.length < MAX_GROUP_COMMIT && this.queue[0]?.kind === 'tx') {
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
        this.commits.batches++;
        this.checkpointer?.committed();
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
    const durable: Ran[] = [];
    for (const r of ran) {
      if (!r.ok) r.job.reject(r.value);
      else if (failure !== undefined) {
        r.job.reject(
          new SystemError(`transaction not committed: ${(failure as Error).message}`, {
            cause: failure,
            code: 'store_commit_failed',
          }),
        );
      } else if (r.job.durable) durable.push(r);
      else r.job.resolve(r.value);
    }
    if (durable.length === 0) return;
    if (this.totalChanges() === changesBefore) {
      for (const r of durable) r.job.resolve(r.value);
      return;
    }
    // Not awaited: the next batch runs while the thread pool flushes this one.
    this.flush().then(
      () => {
        for (const r of durable) r.job.resolve(r.value);
      },
      (err: unknown) => {
        for (const r of durable) {
          r.job.reject(
            new SystemError(`transaction committed but not flushed to disk: ${(err as Error).message}`, {
              cause: err,
              code: 'store_sync_failed',
            }),
          );
        }
      },
    );
  }

  /** Checkpoints the worker thread has made that copied frames, and those that failed; undefined without one. */
  get checkpoints(): { checkpoints: number; failures: number } | undefined {
    return this.checkpointer?.stats;
  }

  private totalChangesStmt: Database.Statement | undefined;
  private totalChanges(): number {
    this.totalChangesStmt ??= this.conn.prepare('SELECT total_changes() AS n').pluck();
    return this.totalChangesStmt.get() as number;
  }

  /**
   * Resolves once a flush of the WAL that began after this call has finished, so it covers every commit made
   * before the call. One flush at a time: calls made while one runs share the next.
   */
  private flush(): Promise<void> {
    if (this.walFile === undefined) return Promise.resolve();
    if (!this.flushing) {
      this.flushing = this.flushNow().finally(() => {
        this.flushing = undefined;
      });
      return this.flushing;
    }
    this.nextFlush ??= this.flushing
      .then(
        () => undefined,
        () => undefined,
      )
      .then(() => {
        this.nextFlush = undefined;
        return this.flush();
      });
    return this.nextFlush;
  }

  private async flushNow(): Promise<void> {
    // Opened once, after the first commit created the file. SQLite keeps the same WAL file (it rewinds it after a
    // checkpoint, never replaces it) while this process holds its connections open.
    if (this.walFd === undefined) {
      try {
        this.walFd = fs.openSync(this.walFile as string, 'r+');
      } catch (err) {
        // No WAL yet: nothing has been written through it, so there is nothing to flush.
        if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
        throw err;
      }
    }
    await this.flushWal(this.walFd);
    this.commits.flushes++;
  }

  /** Removes and answers the transactions a batch would take from the head of the queue. */
  private takeBatch(): Job[] {
    const jobs: Job[] = [];
    while (jobs.length < MAX_GROUP_COMMIT && this.queue[0]?.kind === 'tx')
      jobs.push(this.queue.shift() as Job);
    return jobs;
  }
}
