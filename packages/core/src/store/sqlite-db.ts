import { AsyncLocalStorage } from 'node:async_hooks';
import fs from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import { SystemError, UserError } from '../errors.js';
import type { Db, Executor, SqlValue } from './db.js';

/** Serializes async work on one connection so a transaction never sees another caller's statements. */
class Mutex {
  private tail: Promise<void> = Promise.resolve();
  run<T>(fn: () => Promise<T>): Promise<T> {
    const result = this.tail.then(fn);
    this.tail = result.then(
      () => undefined,
      () => undefined,
    );
    return result;
  }
}

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

  all<T>(sql: string, params: readonly SqlValue[] = []): Promise<T[]> {
    return Promise.resolve(this.prepare(sql).all(...params) as T[]);
  }
  get<T>(sql: string, params: readonly SqlValue[] = []): Promise<T | undefined> {
    return Promise.resolve(this.prepare(sql).get(...params) as T | undefined);
  }
  run(sql: string, params: readonly SqlValue[] = []): Promise<{ changes: number }> {
    return Promise.resolve({ changes: this.prepare(sql).run(...params).changes });
  }
  exec(sql: string): Promise<void> {
    // DDL may change what cached statements refer to.
    this.statements.clear();
    this.conn.exec(sql);
    return Promise.resolve();
  }
}

/** SQLite backend: one WAL-mode connection per process; other processes wait on the busy timeout. */
export class SqliteDb implements Db {
  readonly dialect = 'sqlite' as const;
  readonly forUpdate = '';
  readonly skipLocked = '';
  private readonly conn: Database.Database;
  private readonly inner: SqliteExecutor;
  private readonly mutex = new Mutex();
  /** Set inside `tx`: a call on the database itself from there would wait for the transaction forever. */
  private readonly inTx = new AsyncLocalStorage<boolean>();

  private guard<T>(fn: () => Promise<T>): Promise<T> {
    if (this.inTx.getStore()) {
      return Promise.reject(
        new SystemError('a statement ran on the database inside a transaction; use the transaction', {
          code: 'store_misuse',
        }),
      );
    }
    return this.mutex.run(fn);
  }

  constructor(file: string) {
    if (file !== ':memory:') {
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
    try {
      // Owner-only, as the key files: SQLite gives the -wal and -shm files the database file's mode.
      if (file !== ':memory:') fs.closeSync(fs.openSync(file, 'a', 0o600));
      this.conn = new Database(file, { timeout: 30_000 });
      this.conn.pragma('journal_mode = WAL');
      this.conn.pragma('synchronous = FULL');
      this.conn.pragma('foreign_keys = ON');
    } catch (err) {
      throw new UserError(`cannot open database ${file}: ${(err as Error).message}`, { field: 'data' });
    }
    this.inner = new SqliteExecutor(this.conn);
  }

  all<T>(sql: string, params?: readonly SqlValue[]): Promise<T[]> {
    return this.guard(() => this.inner.all<T>(sql, params));
  }
  get<T>(sql: string, params?: readonly SqlValue[]): Promise<T | undefined> {
    return this.guard(() => this.inner.get<T>(sql, params));
  }
  run(sql: string, params?: readonly SqlValue[]): Promise<{ changes: number }> {
    return this.guard(() => this.inner.run(sql, params));
  }
  exec(sql: string): Promise<void> {
    return this.guard(() => this.inner.exec(sql));
  }

  tx<T>(fn: (tx: Executor) => Promise<T>): Promise<T> {
    return this.guard(async () => {
      try {
        this.conn.exec('BEGIN IMMEDIATE');
      } catch (err) {
        throw new SystemError(`database busy: ${(err as Error).message}`, { cause: err, code: 'store_busy' });
      }
      try {
        const result = await this.inTx.run(true, () => fn(this.inner));
        this.conn.exec('COMMIT');
        return result;
      } catch (err) {
        if (this.conn.inTransaction) this.conn.exec('ROLLBACK');
        throw err;
      }
    });
  }

  close(): Promise<void> {
    return this.mutex.run(() => {
      if (this.conn.open) this.conn.close();
      return Promise.resolve();
    });
  }
}
