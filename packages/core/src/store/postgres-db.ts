import crypto from 'node:crypto';
import pg from 'pg';
import { SystemError, UserError } from '../errors.js';
import { checkRequired, StaleRead, UnexpectedChanges } from './db.js';
import type {
  Db,
  ExpectedChanges,
  Executor,
  IndependentResult,
  ReadSource,
  SqlValue,
  Statement,
  TxOptions,
  WriteAloneOptions,
} from './db.js';
import { type BatchJob, MemberExecutor } from './member-executor.js';

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
  constructor(private readonly client: pg.Pool | pg.ClientBase) {}
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

/**
 * Most transactions one batch holds. Each member is a subtransaction, and a backend caches the ids of 64 of them
 * (`PGPROC_MAX_CACHED_SUBXIDS`); past that every snapshot in the cluster consults `pg_subtrans`. Also bounds how
 * long the first member waits for the last and how much one failed COMMIT takes down with it.
 */
export const MAX_PG_GROUP_COMMIT = 64;

/** A transaction waiting for the batch connection. */
type Job = BatchJob;

/** A batch member whose callback has run: what to settle it with once the batch's fate is known. */
interface Ran {
  readonly job: Job;
  /**
   * `true`: rolled back to its savepoint, it rejects with `value` whatever becomes of the batch. `false`: its writes
   * are in the batch; it resolves with `value` if the COMMIT succeeds.
   */
  readonly alone: boolean;
  readonly value: unknown;
}

/** The dedicated connection batches run on, and its executor. */
interface BatchConnection {
  readonly client: pg.Client;
  readonly ex: PgExecutor;
  /**
   * The server's `synchronous_commit` for this session, which durable transactions set again (`SET LOCAL`): the
   * session itself runs with `off`, so a lazy statement alone commits without waiting for the WAL flush.
   */
  durableLevel: string;
  /** The connection reported an error (terminated, network): it is dropped after the batch. */
  broken: boolean;
}

/** Options for {@link PostgresDb}. */
export interface PostgresDbOptions {
  url: string;
  /** Schema to use (created if missing); lets tests and tenants share one database. */
  schema?: string;
  poolSize?: number;
  /**
   * Group commit on one dedicated connection (default `true`). `false`: each transaction takes a pool connection
   * and runs its own BEGIN … COMMIT, in parallel with the others.
   */
  groupCommit?: boolean;
}

/**
 * PostgreSQL backend; several `aos` nodes may share the database. Reads and writes on the database itself (`all`,
 * `get`, `run`, `exec`) go to a connection pool and see what has committed.
 *
 * Group commit (the default): transactions run on ONE connection of their own, outside the pool. Those submitted
 * while a batch is open (or within one turn of the event loop) run one after another, in submission order, inside
 * ONE `BEGIN … COMMIT`, each in a SAVEPOINT: the hot rows every governed action locks (`audit_head`,
 * `budget_usage`) are locked once per batch rather than handed from backend to backend, and the commit's WAL flush
 * is one per batch. A callback that throws — including on an SQL error, which on PostgreSQL aborts the transaction
 * until `ROLLBACK TO` — is rolled back to its savepoint and rejects alone; the others commit. Every promise settles
 * only after the COMMIT holding its writes has returned, and a failed COMMIT (a deferred constraint, a lost
 * connection) rejects every member with `store_commit_failed`; the next batch opens a new connection if needed.
 * A batch whose members that commit are all `durable: false` commits with `synchronous_commit = off`.
 *
 * What a member must know:
 * - Awaiting a write on the database itself (not the callback's executor) from inside a callback may wait forever,
 *   as on SQLite: `tx` queues behind the open batch, and a pool write (`run`) waits for any row lock the batch
 *   holds — its own or an earlier member's — while the batch waits for the callback. Use the executor.
 * - Members run one at a time: a callback that awaits slow work other than its statements holds up every
 *   transaction of this node, as on SQLite. The node uses one connection more than `poolSize`.
 * - `FOR UPDATE SKIP LOCKED` skips rows other transactions hold, not rows the batch itself locked. Members run
 *   one after another and see earlier members' writes, so a claim that marks what it takes (a lease, a status) in
 *   the same member is not taken twice; a claim that only locks would be.
 * - NOTIFY from a member is delivered at the batch's COMMIT, once per distinct channel and payload in the batch.
 * - A deadlock or serialization failure (40P01, 40001) aborts the statement of the member that got it: it is rolled
 *   back to its savepoint and rejects alone, as it would alone. Locks held across a batch make cross-node deadlocks
 *   likelier than one transaction at a time; PostgreSQL breaks them after `deadlock_timeout`.
 */
export class PostgresDb implements Db {
  readonly dialect = 'postgres' as const;
  readonly forUpdate = ' FOR UPDATE';
  readonly skipLocked = ' FOR UPDATE SKIP LOCKED';
  readonly rowVersion = 'xmin::text';

  async runIndependent<T = Record<string, unknown>>(
    tx: Executor,
    writes: readonly Statement[],
    answer?: Statement,
  ): Promise<IndependentResult<T>> {
    if (!writes.length)
      return { changes: [], rows: answer ? await tx.all<T>(answer.sql, answer.params) : [] };
    const st = independentStatement(writes, answer);
    return independentResult<T>(await tx.all(st.sql, st.params), writes.length, !!answer);
  }

  writeAlone<T = Record<string, unknown>>(
    writes: readonly Statement[],
    answer?: Statement,
    options: WriteAloneOptions = {},
  ): Promise<IndependentResult<T>> {
    if (!writes.length)
      return this.tx(async (tx) => {
        await checkRequired(tx, options.require);
        return this.runIndependent<T>(tx, writes, answer);
      }, options);
    const st = independentStatement(writes, answer, options.expect, options.require);
    const fn = async (ex: Executor) =>
      independentResult<T>(await ex.all(st.sql, st.params), writes.length, !!answer);
    // One statement: alone in the queue it commits by itself (see runBatch).
    const p = this.groupCommit ? this.submit(fn, options.durable !== false, true) : this.tx(fn, options);
    return p.catch((err: unknown) => {
      throw unexpectedChanges(err) ?? staleRead(err) ?? err;
    });
  }
  async readTogether(tx: Executor, reads: readonly Statement[]): Promise<Record<string, unknown>[][]> {
    const [only] = reads;
    if (reads.length <= 1) return only ? [await tx.all(only.sql, only.params)] : [];
    const parts = reads.map(
      (r, i) => `(SELECT coalesce(json_agg(aos_q), '[]'::json) FROM (${r.sql}) aos_q) AS aos_r${i}`,
    );
    const row = await tx.get<Record<string, unknown[]>>(
      `SELECT ${parts.join(', ')}`,
      reads.flatMap((r) => r.params),
    );
    return reads.map((_, i) => (row?.[`aos_r${i}`] ?? []) as Record<string, unknown>[]);
  }

  readonly pool: pg.Pool;
  /** The schema this database works in; undefined: the connection's default search path. */
  readonly schema: string | undefined;
  /** Batches committed so far: waiting for the WAL flush (`durable`) and not (`lazy`, every member non-durable). */
  readonly commits = { durable: 0, lazy: 0 };
  readonly readSource: ReadSource;
  private readonly inner: PgExecutor;
  private readonly clientConfig: pg.ClientConfig;
  private readonly groupCommit: boolean;
  private readonly queue: Job[] = [];
  private batchConn: BatchConnection | undefined;
  /** A drain of the queue is scheduled or running. */
  private draining = false;
  private drained: Promise<void> = Promise.resolve();
  /** Transactions in flight without group commit: close waits for them. */
  private readonly alone = new Set<Promise<void>>();
  private closing = false;
  private closed: Promise<void> | undefined;

  private constructor(
    pool: pg.Pool,
    schema: string | undefined,
    clientConfig: pg.ClientConfig,
    groupCommit: boolean,
  ) {
    this.pool = pool;
    this.schema = schema;
    this.inner = new PgExecutor(pool);
    this.clientConfig = clientConfig;
    this.readSource = {
      kind: 'postgres',
      client: {
        connectionString: String(clientConfig.connectionString),
        ...(clientConfig.options ? { options: clientConfig.options } : {}),
      },
    };
    this.groupCommit = groupCommit;
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
    if (options.groupCommit !== undefined && typeof options.groupCommit !== 'boolean') {
      throw new UserError('groupCommit must be true or false', { field: 'groupCommit' });
    }
    const clientConfig: pg.ClientConfig = {
      connectionString: url.toString(),
      ...(schema ? { options: `-c search_path=${schema}` } : {}),
    };
    const pool = new pg.Pool({ ...clientConfig, max: options.poolSize ?? 10 });
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
    return new PostgresDb(pool, schema, clientConfig, options.groupCommit ?? true);
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

  tx<T>(fn: (tx: Executor) => Promise<T>, options: TxOptions = {}): Promise<T> {
    const durable = options.durable !== false;
    if (this.groupCommit) return this.submit(fn, durable, false);
    if (this.closing) {
      return Promise.reject(new SystemError('the database is closed', { code: 'store_closed' }));
    }
    const p = this.txAlone(fn, durable);
    const settled = p.then(
      () => undefined,
      () => undefined,
    );
    this.alone.add(settled);
    void settled.then(() => this.alone.delete(settled));
    return p;
  }

  /** Queues a transaction for the batch connection (`single`: `fn` runs exactly one statement). */
  private submit<T>(fn: (tx: Executor) => Promise<T>, durable: boolean, single: boolean): Promise<T> {
    if (this.closing) {
      return Promise.reject(new SystemError('the database is closed', { code: 'store_closed' }));
    }
    return new Promise<T>((resolve, reject) => {
      this.queue.push({ durable, fn, single, resolve: resolve as (value: unknown) => void, reject });
      if (!this.draining) {
        this.draining = true;
        // One turn of the loop: whatever else this turn's I/O callbacks submit joins the first batch.
        this.drained = new Promise((done) => setImmediate(() => void this.drain().then(done)));
      }
    });
  }

  /** Without group commit: a pool connection of its own, BEGIN … COMMIT. */
  private async txAlone<T>(fn: (tx: Executor) => Promise<T>, durable: boolean): Promise<T> {
    let client: pg.PoolClient;
    try {
      client = await this.pool.connect();
    } catch (err) {
      throw unavailable(err);
    }
    try {
      // One round trip either way: a simple query may hold several statements.
      await client.query(durable ? 'BEGIN' : 'BEGIN; SET LOCAL synchronous_commit = off');
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

  /** Closes the pool and the batch connection once the transactions submitted before it have settled; refuses later ones. */
  close(): Promise<void> {
    this.closing = true;
    this.closed ??= (async () => {
      await Promise.all([this.drained, ...this.alone]);
      const conn = this.batchConn;
      this.batchConn = undefined;
      if (conn) await conn.client.end().catch(() => undefined);
      await this.pool.end();
    })();
    return this.closed;
  }

  /** Runs queued transactions until none is left. Never throws: every outcome goes to the job's promise. */
  private async drain(): Promise<void> {
    try {
      while (this.queue.length > 0) await this.runBatch();
    } finally {
      this.draining = false;
    }
  }

  /** The batch connection, opened on first use and again after one was lost. */
  private async connection(): Promise<BatchConnection> {
    if (this.batchConn && !this.batchConn.broken) return this.batchConn;
    const old = this.batchConn;
    this.batchConn = undefined;
    if (old) void old.client.end().catch(() => undefined);
    const client = new pg.Client(this.clientConfig);
    const conn: BatchConnection = { client, ex: new PgExecutor(client), broken: false, durableLevel: 'on' };
    // A terminated backend or a dropped socket: the queries in flight reject; the next batch reconnects.
    client.on('error', () => {
      conn.broken = true;
    });
    client.on('end', () => {
      conn.broken = true;
    });
    try {
      await client.connect();
      // The level the server gives durable commits (on, remote_apply, …), set again by every durable batch; the
      // session runs lazy, so a non-durable statement alone commits by itself without waiting for the flush.
      const level = String((await client.query('SHOW synchronous_commit')).rows[0]?.synchronous_commit);
      if (!SYNCHRONOUS_COMMIT.has(level)) throw new Error(`unexpected synchronous_commit '${level}'`);
      conn.durableLevel = level;
      await client.query('SET synchronous_commit = off');
    } catch (err) {
      await client.end().catch(() => undefined);
      throw err;
    }
    this.batchConn = conn;
    return conn;
  }

  /**
   * A one-statement transaction with no other waiting: the statement commits by itself, one round trip instead of
   * three. Durable, on a pool connection (the server's own `synchronous_commit`); lazy, on the batch connection,
   * whose session runs with `off`. Nothing else writes meanwhile: the queue waits for it as for a batch.
   */
  private async runSingle(job: Job): Promise<void> {
    this.queue.shift();
    let value: unknown;
    try {
      if (job.durable) value = await job.fn(this.inner);
      else {
        let conn: BatchConnection;
        try {
          conn = await this.connection();
        } catch (err) {
          job.reject(unavailable(err));
          return;
        }
        value = await job.fn(conn.ex);
      }
    } catch (err) {
      job.reject(err);
      return;
    }
    this.commits[job.durable ? 'durable' : 'lazy']++;
    job.resolve(value);
  }

  /** Runs the transactions at the head of the queue (and any that join while it runs) in one transaction. */
  private async runBatch(): Promise<void> {
    const first = this.queue[0] as Job;
    if (first.single && this.queue.length === 1) return this.runSingle(first);
    // synchronous_commit counts at COMMIT: the session runs with `off`, and a batch that is durable, or that a
    // durable member joins, sets the server's level for its COMMIT.
    const lazy = !first.durable;
    let conn: BatchConnection | undefined;
    // A connection that went idle may have been closed meanwhile (a restart, an idle timeout): nothing has run yet,
    // so one more try on a new connection is safe.
    for (let attempt = 0; conn === undefined; attempt++) {
      const reused = this.batchConn !== undefined && !this.batchConn.broken;
      try {
        const c = await this.connection();
        // BEGIN and the first member's savepoint in one round trip.
        await c.client.query(
          `BEGIN;${lazy ? '' : ` SET LOCAL synchronous_commit = ${c.durableLevel};`} SAVEPOINT member`,
        );
        conn = c;
      } catch (err) {
        if (this.batchConn) this.batchConn.broken = true;
        if (reused && attempt === 0) continue;
        for (const job of this.queue.splice(0, MAX_PG_GROUP_COMMIT)) job.reject(unavailable(err));
        return;
      }
    }
    const ran: Ran[] = [];
    let durableJoined = false;
    let failure: unknown;
    for (;;) {
      const job = this.queue.shift() as Job;
      const ex = new MemberExecutor(conn.ex);
      let ok: boolean;
      let value: unknown;
      try {
        value = await job.fn(ex);
        ok = true;
      } catch (err) {
        value = err;
        ok = false;
      }
      ex.active = false;
      const more = this.queue.length > 0 && ran.length + 1 < MAX_PG_GROUP_COMMIT;
      if (ok) {
        // The member's RELEASE rides with the next member's SAVEPOINT, or with the COMMIT.
        const durableNow: boolean = durableJoined || job.durable;
        try {
          await conn.client.query(
            more
              ? 'RELEASE member; SAVEPOINT member'
              : `RELEASE member;${commitSql(lazy, durableNow, conn.durableLevel)}`,
          );
          ran.push({ job, alone: false, value });
          durableJoined = durableNow;
          if (more) continue;
          break;
        } catch (err) {
          if (sqlState(err) !== IN_FAILED_TRANSACTION) {
            // The connection is gone, or the COMMIT failed: the transaction is over, with every member in it.
            failure = err;
            ran.push({ job, alone: false, value });
            break;
          }
          // The callback swallowed an SQL error and resolved: its writes are lost, so it fails alone.
          value = err;
        }
      }
      try {
        // The savepoint stays after ROLLBACK TO: the next member runs in it as is.
        await conn.client.query(
          more
            ? 'ROLLBACK TO member'
            : `ROLLBACK TO member;${commitSql(lazy, durableJoined, conn.durableLevel)}`,
        );
        ran.push({ job, alone: true, value });
      } catch (err) {
        failure = err;
        ran.push({ job, alone: false, value });
        break;
      }
      if (!more) break;
    }
    if (failure === undefined) this.commits[lazy && !durableJoined ? 'lazy' : 'durable']++;
    else {
      try {
        await conn.client.query('ROLLBACK');
      } catch {
        conn.broken = true;
      }
    }
    for (const { job, alone, value } of ran) {
      if (alone) job.reject(value);
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
}

/** SQLSTATE of a statement in a transaction an earlier error aborted. */
const IN_FAILED_TRANSACTION = '25P02';

function sqlState(err: unknown): string | undefined {
  const code = (err as { code?: unknown } | undefined)?.code;
  return typeof code === 'string' ? code : undefined;
}

function unavailable(err: unknown): SystemError {
  return new SystemError(`database unavailable: ${(err as Error).message}`, {
    cause: err,
    code: 'store_unavailable',
  });
}

/** The end of a batch: the server's level when a durable member joined a batch opened non-durable. */
function commitSql(lazy: boolean, durableJoined: boolean, level: string): string {
  return lazy && durableJoined ? ` SET LOCAL synchronous_commit = ${level}; COMMIT` : ' COMMIT';
}

/** The values `synchronous_commit` takes (the batch connection reads the server's and sets it again). */
const SYNCHRONOUS_COMMIT = new Set(['on', 'off', 'local', 'remote_write', 'remote_apply']);

/**
 * The one statement of {@link PostgresDb.runIndependent} (and of `writeAlone`, with the change counts `expect`
 * requires and the rows `require` names checked inside it by `aos_expect`, migration 18: a count that differs, or a
 * required query without a row, raises, taking the statement back).
 */
function independentStatement(
  writes: readonly Statement[],
  answer: Statement | undefined,
  expect?: ExpectedChanges,
  require: readonly Statement[] = [],
): Statement {
  for (const w of writes)
    if (/\breturning\b/i.test(w.sql)) throw new Error('runIndependent: a write has no RETURNING of its own');
  // Each write counts its rows through `RETURNING 1`; the answer, when there is one, is joined to the counts so a
  // statement answering no rows still brings them back (its rows are those with `aos_row` set). Placeholders are
  // numbered in the order they appear, so the parameters follow the statements' order.
  const clauses = writes.map((w, i) => `aos_w${i} AS (${w.sql} RETURNING 1)`);
  const counts = writes.map((_, i) => `(SELECT count(*) FROM aos_w${i}) AS aos_c${i}`);
  (expect ?? []).forEach((want, i) => {
    if (want === undefined) return;
    if (!Number.isSafeInteger(want) || want < 0 || i >= writes.length)
      throw new Error(`writeAlone: expect[${i}] must be a count of one of the writes`);
    const n = `(SELECT count(*) FROM aos_w${i})`;
    counts.push(
      `aos_expect(${n} = ${want}, 'write ${i} changed ' || ${n} || ' rows, not ${want}') AS aos_e${i}`,
    );
  });
  // Required queries come after the counts, so their placeholders follow the writes' and the answer's.
  require.forEach((r, i) =>
    counts.push(`aos_expect(EXISTS (${r.sql}), 'required query ${i} answered no row') AS aos_q${i}`),
  );
  const params = writes.flatMap((w) => w.params);
  const required = require.flatMap((r) => r.params);
  if (!answer)
    return {
      sql: `WITH ${clauses.join(', ')} SELECT ${counts.join(', ')}`,
      params: [...params, ...required],
    };
  clauses.push(`aos_a AS (SELECT 1 AS aos_row, aos_q.* FROM (${answer.sql}) aos_q)`);
  return {
    sql: `WITH ${clauses.join(', ')} SELECT ${counts.join(', ')}, aos_a.* FROM (SELECT 1) aos_one LEFT JOIN aos_a ON true`,
    params: [...params, ...answer.params, ...required],
  };
}

/** The change counts and the answer's rows from what {@link independentStatement} returned. */
function independentResult<T>(
  out: readonly Record<string, unknown>[],
  writes: number,
  answered: boolean,
): IndependentResult<T> {
  const first = out[0] ?? {};
  const changes = Array.from({ length: writes }, (_, i) => Number(first[`aos_c${i}`]));
  if (!answered) return { changes, rows: [] };
  const rows: T[] = [];
  for (const r of out) {
    if (r.aos_row === null || r.aos_row === undefined) continue;
    const row: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(r)) if (!k.startsWith('aos_')) row[k] = v;
    rows.push(row as T);
  }
  return { changes, rows };
}

/** The {@link StaleRead} an `aos_expect` of a required query raised, if `err` is one. */
function staleRead(err: unknown): StaleRead | undefined {
  const m = /^aos_expect: required query (\d+) answered no row$/.exec(String((err as Error)?.message));
  return m && sqlState(err) === 'P0001' ? new StaleRead(Number(m[1])) : undefined;
}

/** The {@link UnexpectedChanges} an `aos_expect` of a change count raised, if `err` is one. */
function unexpectedChanges(err: unknown): UnexpectedChanges | undefined {
  const m = /^aos_expect: write (\d+) changed (\d+) rows, not (\d+)$/.exec(String((err as Error)?.message));
  return m && sqlState(err) === 'P0001'
    ? new UnexpectedChanges(Number(m[1]), Number(m[3]), Number(m[2]))
    : undefined;
}
