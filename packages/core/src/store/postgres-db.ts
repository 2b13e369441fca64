import crypto from 'node:crypto';
import pg from 'pg';
import { SystemError, UserError } from '../errors.js';
import type { Db, Executor, SqlValue, TxOptions } from './db.js';

/** Renumbers portable `?` placeholders as `$1, $2, …`. Our SQL never has `?` inside literals. */
function toPg(sql: string): string {
  let n = 0;
  return sql.replace(/\?/g, () => `$${++n}`);
}

/** Most distinct statements prepared by name; each connection keeps every statement it has prepared. */
export const MAX_PREPARED = 500;

/** A statement as sent: PostgreSQL text, and its prepared-statement name while the set of names has room. */
interface Prepared {
  readonly text: string;
  readonly name: string | undefined;
}

const prepared = new Map<string, Prepared>();

/**
 * The statement for portable SQL, named by a hash of its text so each connection parses and plans it once. Past
 * {@link MAX_PREPARED} distinct texts, new ones run unnamed: a connection never holds more than that many.
 */
export function preparedStatement(sql: string): Prepared {
  let p = prepared.get(sql);
  if (!p) {
    const text = toPg(sql);
    const named = prepared.size < MAX_PREPARED;
    p = {
      text,
      name: named ? `aos_${crypto.createHash('sha256').update(text).digest('hex').slice(0, 32)}` : undefined,
    };
    if (named) prepared.set(sql, p);
  }
  return p;
}

const types = {
  getTypeParser(oid: number, format?: 'text' | 'binary') {
    // int8 (bigint) and numeric as JS numbers: sequence numbers and counters stay far below 2^53.
    if (oid === 20 || oid === 1700) return (v: string) => Number(v);
    return pg.types.getTypeParser(oid, format);
  },
} as pg.CustomTypesConfig;

class PgExecutor implements Executor {
  constructor(private readonly client: pg.Pool | pg.PoolClient) {}
  private query(sql: string, params: readonly SqlValue[]): Promise<pg.QueryResult> {
    const { text, name } = preparedStatement(sql);
    return this.client.query({ ...(name ? { name } : {}), text, values: params as unknown[], types });
  }
  async all<T>(sql: string, params: readonly SqlValue[] = []): Promise<T[]> {
    const res = await this.query(sql, params);
    return res.rows as T[];
  }
  async get<T>(sql: string, params: readonly SqlValue[] = []): Promise<T | undefined> {
    return (await this.all<T>(sql, params))[0];
  }
  async run(sql: string, params: readonly SqlValue[] = []): Promise<{ changes: number }> {
    const res = await this.query(sql, params);
    return { changes: res.rowCount ?? 0 };
  }
  async exec(sql: string): Promise<void> {
    await this.client.query(sql);
  }
}

/** Options for {@link PostgresDb}. */
export interface PostgresDbOptions {
  url: string;
  /** Schema to use (created if missing); lets tests and tenants share one database. */
  schema?: string;
  poolSize?: number;
}

/** PostgreSQL backend: a connection pool; several `aos` nodes may share the database. */
export class PostgresDb implements Db {
  readonly dialect = 'postgres' as const;
  readonly forUpdate = ' FOR UPDATE';
  readonly skipLocked = ' FOR UPDATE SKIP LOCKED';
  readonly pool: pg.Pool;
  /** The schema this database works in; undefined: the connection's default search path. */
  readonly schema: string | undefined;
  private readonly inner: PgExecutor;

  private constructor(pool: pg.Pool, schema: string | undefined) {
    this.pool = pool;
    this.schema = schema;
    this.inner = new PgExecutor(pool);
  }

  /** Connects, creating the schema when one is named. Fails with a {@link UserError} naming the URL's host. */
  static async connect(options: PostgresDbOptions): Promise<PostgresDb> {
    let url: URL;
    try {
      url = new URL(options.url);
    } catch {
      throw new UserError('not a valid postgres:// URL', { field: 'database-url' });
    }
    if (url.protocol !== 'postgres:' && url.protocol !== 'postgresql:') {
      throw new UserError('must start with postgres://', { field: 'database-url' });
    }
    const schema = options.schema ?? (url.searchParams.get('schema') || undefined);
    url.searchParams.delete('schema');
    if (schema !== undefined && !/^[a-z_][a-z0-9_]{0,62}$/.test(schema)) {
      throw new UserError('schema must be a lower-case SQL identifier', { field: 'database-url' });
    }
    const pool = new pg.Pool({
      connectionString: url.toString(),
      max: options.poolSize ?? 10,
      ...(schema ? { options: `-c search_path=${schema}` } : {}),
    });
    pool.on('error', () => {
      /* idle client errors surface on the next query */
    });
    try {
      if (schema) await pool.query(`CREATE SCHEMA IF NOT EXISTS ${schema}`);
      else await pool.query('SELECT 1');
    } catch (err) {
      await pool.end().catch(() => undefined);
      throw new UserError(`cannot connect to PostgreSQL at ${url.host}: ${(err as Error).message}`, {
        field: 'database-url',
      });
    }
    return new PostgresDb(pool, schema);
  }

  all<T>(sql: string, params?: readonly SqlValue[]): Promise<T[]> {
    return this.inner.all<T>(sql, params);
  }
  get<T>(sql: string, params?: readonly SqlValue[]): Promise<T | undefined> {
    return this.inner.get<T>(sql, params);
  }
  run(sql: string, params?: readonly SqlValue[]): Promise<{ changes: number }> {
    return this.inner.run(sql, params);
  }
  async exec(sql: string): Promise<void> {
    await this.pool.query(sql);
  }

  async tx<T>(fn: (tx: Executor) => Promise<T>, options: TxOptions = {}): Promise<T> {
    let client: pg.PoolClient;
    try {
      client = await this.pool.connect();
    } catch (err) {
      throw new SystemError(`database unavailable: ${(err as Error).message}`, {
        cause: err,
        code: 'store_unavailable',
      });
    }
    try {
      // One round trip either way: a simple query may hold several statements.
      await client.query(options.durable === false ? 'BEGIN; SET LOCAL synchronous_commit = off' : 'BEGIN');
      const result = await fn(new PgExecutor(client));
      await client.query('COMMIT');
      return result;
    } catch (err) {
      await client.query('ROLLBACK').catch(() => undefined);
      throw err;
    } finally {
      client.release();
    }
  }

  async close(): Promise<void> {
    await this.pool.end();
  }
}
