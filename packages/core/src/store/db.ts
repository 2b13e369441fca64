/**
 * The SQL executor every repository is written against. Two backends implement it: SQLite (embedded default) and
 * PostgreSQL (several nodes, one database). Repositories write portable SQL with `?` placeholders; the PostgreSQL
 * backend renumbers them. Dialect differences that matter (row locks) are exposed as fields, not `if` chains.
 */
export type Dialect = 'sqlite' | 'postgres';

/** A value a statement can bind. */
export type SqlValue = string | number | bigint | null | Buffer;

/** Runs statements, inside or outside a transaction. */
export interface Executor {
  /** Rows of a query. */
  all<T = Record<string, unknown>>(sql: string, params?: readonly SqlValue[]): Promise<T[]>;
  /** The first row of a query, or undefined. */
  get<T = Record<string, unknown>>(sql: string, params?: readonly SqlValue[]): Promise<T | undefined>;
  /** A statement that changes rows; answers how many changed. */
  run(sql: string, params?: readonly SqlValue[]): Promise<{ changes: number }>;
  /** Runs several statements without parameters (DDL, migrations). */
  exec(sql: string): Promise<void>;
}

/** One statement and its parameters. */
export interface Statement {
  sql: string;
  params: readonly SqlValue[];
}

/** What {@link Db.runIndependent} answers: each write's change count, in order, and the answer's rows. */
export interface IndependentResult<T> {
  changes: number[];
  rows: T[];
}

/**
 * The change counts {@link Db.writeAlone} requires of its writes, in order (`undefined`: any count). When one
 * differs, nothing is written and it rejects with {@link UnexpectedChanges}.
 */
export type ExpectedChanges = readonly (number | undefined)[];

/** A write of {@link Db.writeAlone} changed another number of rows than its caller required: nothing was written. */
export class UnexpectedChanges extends Error {
  constructor(
    /** The write's position among the writes. */
    readonly index: number,
    readonly expected: number,
    readonly actual: number,
  ) {
    super(`write ${index} changed ${actual} rows, not ${expected}`);
    this.name = 'UnexpectedChanges';
  }
}

/** Throws {@link UnexpectedChanges} for the first count that differs from what `expect` requires. */
export function checkChanges(changes: readonly number[], expect: ExpectedChanges | undefined): void {
  expect?.forEach((want, i) => {
    if (want !== undefined && changes[i] !== want) throw new UnexpectedChanges(i, want, changes[i] ?? 0);
  });
}

/**
 * A query {@link WriteAloneOptions.require} names answered no row when the write ran: what its caller read before
 * no longer holds, and nothing was written.
 */
export class StaleRead extends Error {
  constructor(
    /** The query's position among the required ones. */
    readonly index: number,
  ) {
    super(`required query ${index} answered no row`);
    this.name = 'StaleRead';
  }
}

/** Throws {@link StaleRead} for the first of `require` that answers no row in `tx`. */
export async function checkRequired(tx: Executor, require: readonly Statement[] | undefined): Promise<void> {
  for (const [i, r] of (require ?? []).entries())
    if ((await tx.get(r.sql, r.params)) === undefined) throw new StaleRead(i);
}

/** Options of {@link Db.writeAlone}: how it commits, the change counts it requires and what must still hold. */
export interface WriteAloneOptions extends TxOptions {
  expect?: ExpectedChanges;
  /**
   * Queries that must each answer a row when the writes run, else nothing is written and it rejects with
   * {@link StaleRead}: a compare-and-set on what the caller read before, outside any transaction. PostgreSQL checks
   * them inside the one statement, under its snapshot; SQLite inside the transaction, before the writes.
   */
  require?: readonly Statement[];
}

/** How a transaction commits. */
export interface TxOptions {
  /**
   * `false`: the caller does not wait for this transaction to reach the disk. Its writes are committed and visible
   * to every later read as soon as the promise settles, and survive the process being killed (`kill -9`), but an
   * operating-system crash or power loss before the next durable commit (or, on PostgreSQL, within the WAL writer's
   * delay) may lose them. For records whose loss leaves a state recovery already handles — an action's outcome,
   * whose absence leaves it `executing` and flagged `unknown_outcome`. SQLite: the batch commits with
   * `synchronous=NORMAL` when every member is non-durable (the next durable commit's fsync covers it); PostgreSQL:
   * `SET LOCAL synchronous_commit = off` when every member of its batch that commits is non-durable. Default
   * `true`: the promise settles after the commit is on disk.
   */
  durable?: boolean;
}

/**
 * Where a worker thread opens a read-only connection of its own to a database: the SQLite file, or PostgreSQL's
 * connection settings (URL and search path).
 */
export type ReadSource =
  | { kind: 'sqlite'; file: string }
  | { kind: 'postgres'; client: { connectionString: string; options?: string } };

/** A database: an executor plus transactions and lifecycle. */
export interface Db extends Executor {
  readonly dialect: Dialect;
  /** `' FOR UPDATE'` where the backend has row locks, `''` where the transaction itself is exclusive (SQLite). */
  readonly forUpdate: string;
  /** `' FOR UPDATE SKIP LOCKED'` on PostgreSQL, `''` on SQLite. */
  readonly skipLocked: string;
  /**
   * An expression for a row's version, which every change of the row changes (PostgreSQL: `xmin::text`, the
   * transaction that wrote it), for a compare-and-set after a read outside a transaction; undefined where the backend
   * has none (SQLite, whose write transactions are exclusive, so its read-then-write work reads inside them).
   */
  readonly rowVersion: string | undefined;
  /**
   * Runs, in transaction `tx`, writes that do not depend on one another, and optionally one statement whose rows
   * are wanted (`answer`): each `INSERT`, `UPDATE` or `DELETE` on a table none of the others writes or reads
   * (triggers and the answer's functions included), or on rows of one that none of the others touches (upserts of
   * distinct keys, as a call's charges to its budgets' rows), none with a `RETURNING` of its own. PostgreSQL runs them as
   * one statement (data-modifying `WITH` clauses, the answer in one more, every part under one snapshot: one round
   * trip); SQLite runs them one after another, the answer last (a statement is a call into the process). All or
   * none take effect with the transaction, as separate statements would. Answers each write's change count, in
   * order, and the answer's rows in no defined order (their columns must not start with `aos_`).
   */
  runIndependent<T = Record<string, unknown>>(
    tx: Executor,
    writes: readonly Statement[],
    answer?: Statement,
  ): Promise<IndependentResult<T>>;
  /**
   * Runs, in transaction `tx`, queries that do not depend on one another and answers each one's rows (in no defined
   * order within a query: a caller that needs one sorts).
   * PostgreSQL runs them as one statement (each as a sub-select aggregated to JSON, locking clauses kept: one round
   * trip, one snapshot), so their columns must be text, numbers or booleans, which come back as they would alone
   * (bigints as numbers, as this store reads them everywhere); SQLite runs them one after another.
   */
  readTogether(tx: Executor, reads: readonly Statement[]): Promise<Record<string, unknown>[][]>;
  /**
   * Runs `writes` and `answer` as {@link runIndependent} does, as a transaction of their own, and requires the
   * change counts `options.expect` names (else nothing is written: {@link UnexpectedChanges}). PostgreSQL checks
   * them inside the one statement; when no other transaction waits for the batch connection it commits by itself,
   * without the `BEGIN` and `COMMIT` round trips (with other transactions waiting it joins their batch as any
   * member). SQLite runs it as `tx` would.
   */
  writeAlone<T = Record<string, unknown>>(
    writes: readonly Statement[],
    answer?: Statement,
    options?: WriteAloneOptions,
  ): Promise<IndependentResult<T>>;
  /**
   * Runs `fn` in one transaction: all of its writes commit together or none do. On SQLite the transaction takes
   * the write lock up front (BEGIN IMMEDIATE), so read-then-write sequences inside it are serialized across processes.
   */
  tx<T>(fn: (tx: Executor) => Promise<T>, options?: TxOptions): Promise<T>;
  close(): Promise<void>;
  /** Where another thread can open a read-only connection of its own (undefined: nowhere, e.g. `:memory:`). */
  readonly readSource?: ReadSource | undefined;
}
