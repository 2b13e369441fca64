import { UserError } from '../errors.js';
import { checkChanges, checkRequired } from '../store/db.js';
import type { Db, ExpectedChanges, Executor, ReadSource, Statement, WriteAloneOptions } from '../store/db.js';
import { containsPattern } from '../store/like.js';
import {
  AUDIT_FORMAT_VERSION,
  ChainVerifier,
  contentHash,
  GENESIS_HASH,
  linkHash,
  linkHashSql,
} from './chain.js';
import type { AuditFormatVersion, AuditRecord, AuditRow, ChainProblem } from './chain.js';
import { checkCheckpointSignature, signCheckpoint } from './checkpoint.js';
import { checkRangesInPlace, checkRangesOnWorkers, verifyWorkers } from './parallel-verify.js';
import type { CheckedRange, ParallelVerifyOptions } from './parallel-verify.js';
import type { Checkpoint, SigningKey } from './checkpoint.js';
import { redactToCanonicalJson } from './redact.js';

/** What to append. The payload is redacted before it is hashed. */
export interface AuditEvent {
  actor: string;
  type: string;
  subject?: string | null;
  payload?: Record<string, unknown>;
}

/** Result of checking the whole log. */
/** What {@link AuditLog.search} looks for; every field narrows. */
export interface AuditSearch {
  agent?: string;
  tool?: string;
  type?: string;
  /** ISO 8601 instants: `since` inclusive, `until` exclusive. */
  since?: string;
  until?: string;
  /** Only records before this sequence number (paging, newest first). */
  beforeSeq?: number;
  /** 1-1000, default 100. */
  limit?: number;
}

export interface AuditVerifyReport {
  ok: boolean;
  /** Records checked and found good (stops at the first bad one). */
  verified: number;
  /** Records in the log (highest seq). */
  records: number;
  /** The first bad record, if any. */
  firstBad?: ChainProblem;
  /** Every checkpoint checked (stored ones and any given): size, and why it failed if it did. */
  checkpoints: { treeSize: number; ok: boolean; reason?: string; source: string }[];
  /** Records after the newest good checkpoint: chained but not yet covered by a signature. */
  unsealed: number;
}

/**
 * Events made ready to append: validated, redacted, canonicalised and content-hashed (chain format 2), with their
 * time taken. Made by {@link AuditLog.prepare} before a transaction opens, so the transaction only links them.
 */
export class PreparedAuditEvents {
  /** @internal */
  constructor(
    /** @internal */
    readonly items: readonly PreparedAuditEvent[],
  ) {}

  get length(): number {
    return this.items.length;
  }
}

/** One prepared event: its content, the canonical JSON of its payload, and the hash of both. */
interface PreparedAuditEvent {
  readonly ts: string;
  readonly actor: string;
  readonly type: string;
  readonly subject: string | null;
  /** The payload as given, when redaction changed nothing in it (else undefined). */
  readonly payload: unknown;
  /** The redacted payload in canonical JSON: the stored text. */
  readonly payloadJson: string;
  readonly contentHash: string;
}

type Row = AuditRow;

/** Columns of a multi-row insert; rows per statement stay far below SQLite's oldest limit of 999 parameters. */
const INSERT_COLUMNS = 9;
const INSERT_CHUNK = 64;
const insertSql = new Map<number, string>();

/** `INSERT … VALUES (…), (…)` for `rows` rows; sizes are powers of two, so few distinct statements get prepared. */
function insertStatement(rows: number): string {
  let sql = insertSql.get(rows);
  if (!sql) {
    const one = `(${Array.from({ length: INSERT_COLUMNS }, () => '?').join(', ')})`;
    sql =
      'INSERT INTO audit_log (seq, ts, actor, type, subject, payload, prev_hash, hash, version) VALUES ' +
      Array.from({ length: rows }, () => one).join(', ');
    insertSql.set(rows, sql);
  }
  return sql;
}

/** The record a prepared event became at `seq`, linked to `prevHash` (chain format 2). */
function recordOf(p: PreparedAuditEvent, seq: number, prevHash: string, hash: string): AuditRecord {
  const { ts, actor, type, subject } = p;
  // The caller's own payload when nothing in it was redacted; else what was stored, so no secret comes back.
  const payload = p.payload === undefined ? JSON.parse(p.payloadJson) : p.payload;
  return { seq, ts, actor, type, subject, payload, prevHash, version: AUDIT_FORMAT_VERSION, hash };
}

function toRecord(row: Row): AuditRecord {
  let payload: unknown;
  try {
    payload = JSON.parse(row.payload);
  } catch {
    payload = row.payload; // a tampered, non-JSON payload still fails its hash
  }
  return {
    seq: Number(row.seq),
    ts: row.ts,
    actor: row.actor,
    type: row.type,
    subject: row.subject,
    payload,
    prevHash: row.prev_hash,
    version: Number(row.version) as AuditFormatVersion,
    hash: row.hash,
  };
}

/** A link `aos_audit_append` made. */
interface PgAppendRow {
  out_seq: number | string;
  out_prev: string;
  out_hash: string;
}

/** The call of `aos_audit_append` (migration 14) that appends `items` on PostgreSQL. */
function pgAppendStatement(items: readonly PreparedAuditEvent[], checked = false): Statement {
  const content = items.map((p) => p.contentHash);
  const arrays = [
    items.map((p) => p.ts),
    items.map((p) => p.actor),
    items.map((p) => p.type),
    items.map((p) => p.subject),
    items.map((p) => p.payloadJson),
    content,
  ] as never[];
  const call = 'aos_audit_append(?::text[], ?::text[], ?::text[], ?::text[], ?::text[], ?::text[])';
  if (!checked) return { sql: `SELECT out_seq, out_prev, out_hash FROM ${call}`, params: arrays };
  // Each link checked inside the statement, against this code's formula (the records come back in input order).
  const link = linkHashSql('f.out_seq', 'f.out_prev', '(?::text[])[f.n]');
  return {
    sql: `SELECT f.out_seq, f.out_prev, f.out_hash, aos_expect(f.out_hash = ${link}, 'audit link of record ' || f.out_seq) AS aos_link
     FROM ${call} WITH ORDINALITY AS f (out_seq, out_prev, out_hash, n)`,
    params: [content as never, ...arrays],
  };
}

/**
 * The records `aos_audit_append` made of `items`, in sequence order. Every link is checked against
 * {@link linkHash}; a difference throws, so the transaction never commits a link this code would not make.
 */
function linkedOnPostgres(items: readonly PreparedAuditEvent[], rows: readonly PgAppendRow[]): AuditRecord[] {
  if (rows.length !== items.length) throw new Error('audit append returned the wrong number of records');
  const sorted = [...rows].sort((a, b) => Number(a.out_seq) - Number(b.out_seq));
  return items.map((p, i) => {
    const r = sorted[i] as PgAppendRow;
    const seq = Number(r.out_seq);
    if (linkHash(seq, r.out_prev, p.contentHash) !== r.out_hash) {
      throw new Error(`audit append: the database linked record ${seq} differently from this node`);
    }
    return recordOf(p, seq, r.out_prev, r.out_hash);
  });
}

/** Options of {@link AuditLog}. */
export interface AuditLogOptions {
  /** How {@link AuditLog.verify} spreads the work over worker threads (not for SQLite's `:memory:`). */
  verify?: ParallelVerifyOptions;
}

const PAGE = 5000;
/** ES2024's well-formed string methods (Node 20 has them; the TypeScript lib here is ES2023). */
type WellFormed = string & { isWellFormed(): boolean; toWellFormed(): string };

/**
 * `s` as the database stores it, so that what is hashed is what is stored: UTF-8 cannot encode a lone surrogate,
 * which both backends store as U+FFFD. (A payload's canonical JSON escapes them, `\ud800`, so it keeps them.)
 */
function storable(s: string): string {
  return (s as WellFormed).isWellFormed() ? s : (s as WellFormed).toWellFormed();
}

/** Rows per page when verifying: larger, since rows are checked as they come and never parsed. */
const VERIFY_PAGE = 10_000;
const VERIFY_SQL =
  'SELECT seq, ts, actor, type, subject, payload, prev_hash, hash, version FROM audit_log WHERE seq > ? ORDER BY seq LIMIT ?';

/**
 * The append-only, hash-chained audit log. Appends happen inside the caller's transaction, so a state change and
 * its audit record commit together or not at all. The chain head row is locked for the append, so concurrent
 * writers — processes on SQLite, connections or nodes on PostgreSQL — never fork the chain.
 */
export class AuditLog {
  constructor(
    private readonly db: Db,
    private readonly options: AuditLogOptions = {},
  ) {}

  /** Appends one event inside `tx` (which must be a transaction from `db.tx`). */
  async append(tx: Executor, event: AuditEvent | PreparedAuditEvents): Promise<AuditRecord> {
    const [record] = await this.appendMany(tx, event instanceof PreparedAuditEvents ? event : [event]);
    return record as AuditRecord;
  }

  /**
   * Validates, redacts, canonicalises and hashes events (chain format 2) without touching the database, so a caller
   * can do that work before its transaction opens and hand the result to {@link appendMany}. Every event gets the
   * same time, taken now.
   */
  prepare(events: readonly AuditEvent[]): PreparedAuditEvents {
    const ts = new Date().toISOString();
    const items: PreparedAuditEvent[] = [];
    for (const e of events) {
      if (!e.actor || !e.type)
        throw new UserError('audit event needs an actor and a type', { field: 'event' });
      // One pass redacts and canonicalises: its text is what is stored and hashed.
      const given = e.payload ?? {};
      const { json, redacted } = redactToCanonicalJson(given);
      const item = {
        ts,
        actor: storable(e.actor),
        type: storable(e.type),
        subject: e.subject == null ? null : storable(e.subject),
        payload: redacted ? undefined : given,
        payloadJson: json,
        contentHash: '',
      };
      item.contentHash = contentHash(item, item.payloadJson);
      items.push(item);
    }
    return new PreparedAuditEvents(items);
  }

  /**
   * Appends several events in order: one read and one update of the chain head (which locks it), the records in
   * multi-row inserts. Events given raw are prepared here; pass {@link prepare}'s result to keep that work out of
   * the transaction.
   */
  async appendMany(
    tx: Executor,
    events: readonly AuditEvent[] | PreparedAuditEvents,
  ): Promise<AuditRecord[]> {
    const prepared = events instanceof PreparedAuditEvents ? events : this.prepare(events);
    if (prepared.length === 0) return [];
    if (this.db.dialect === 'postgres') return this.appendOnPostgres(tx, prepared.items);
    const head = await tx.get<{ seq: number; hash: string }>(
      `SELECT seq, hash FROM audit_head WHERE id = 1${this.db.forUpdate}`,
    );
    if (!head) throw new UserError('audit log is not initialised');
    let seq = Number(head.seq);
    let prevHash = head.hash;
    const out: AuditRecord[] = [];
    const params: (string | number | null)[] = [];
    for (const p of prepared.items) {
      seq++;
      const hash = linkHash(seq, prevHash, p.contentHash);
      out.push(recordOf(p, seq, prevHash, hash));
      params.push(seq, p.ts, p.actor, p.type, p.subject, p.payloadJson, prevHash, hash, AUDIT_FORMAT_VERSION);
      prevHash = hash;
    }
    // Chunks of INSERT_CHUNK rows, then the rest in power-of-two chunks: a handful of statement shapes in all.
    for (let at = 0; at < out.length;) {
      const left = out.length - at;
      let rows = INSERT_CHUNK;
      while (rows > left) rows /= 2;
      await tx.run(insertStatement(rows), params.slice(at * INSERT_COLUMNS, (at + rows) * INSERT_COLUMNS));
      at += rows;
    }
    await tx.run('UPDATE audit_head SET seq = ?, hash = ? WHERE id = 1', [seq, prevHash]);
    return out;
  }

  /**
   * Runs `writes` ({@link Db.runIndependent}: independent of one another and of the audit tables) and appends
   * `events` after them, in `tx`: on PostgreSQL one statement, the append in it; on SQLite the writes, then
   * {@link appendMany}. Answers the records and the writes' change counts, and throws {@link UnexpectedChanges}
   * when one differs from what `expect` requires (the caller's transaction then writes nothing). For a state change
   * and its audit records in one round trip.
   */
  async appendWith(
    tx: Executor,
    events: readonly AuditEvent[] | PreparedAuditEvents,
    writes: readonly Statement[],
    expect?: ExpectedChanges,
  ): Promise<{ records: AuditRecord[]; changes: number[] }> {
    const prepared = events instanceof PreparedAuditEvents ? events : this.prepare(events);
    if (this.db.dialect !== 'postgres' || prepared.length === 0) {
      const { changes } = await this.db.runIndependent(tx, writes);
      checkChanges(changes, expect);
      return { changes, records: await this.appendMany(tx, prepared) };
    }
    const { changes, rows } = await this.db.runIndependent<PgAppendRow>(
      tx,
      writes,
      pgAppendStatement(prepared.items),
    );
    checkChanges(changes, expect);
    return { changes, records: linkedOnPostgres(prepared.items, rows) };
  }

  /**
   * {@link appendWith} as a transaction of its own ({@link Db.writeAlone}): the writes and the records commit
   * together, with the change counts `options.expect` requires and the rows `options.require` names, or nothing is
   * written. On PostgreSQL one statement,
   * which commits by itself when no other transaction waits; each link the database makes is checked inside it
   * ({@link linkHashSql}), where appendWith checks them before its transaction commits.
   */
  async appendAlone(
    events: readonly AuditEvent[] | PreparedAuditEvents,
    writes: readonly Statement[],
    options: WriteAloneOptions = {},
  ): Promise<{ records: AuditRecord[]; changes: number[] }> {
    const prepared = events instanceof PreparedAuditEvents ? events : this.prepare(events);
    if (this.db.dialect !== 'postgres')
      return this.db.tx(async (tx) => {
        await checkRequired(tx, options.require);
        const { changes } = await this.db.runIndependent(tx, writes);
        checkChanges(changes, options.expect);
        return { changes, records: await this.appendMany(tx, prepared) };
      }, options);
    if (prepared.length === 0)
      return { changes: (await this.db.writeAlone(writes, undefined, options)).changes, records: [] };
    const { changes, rows } = await this.db.writeAlone<PgAppendRow>(
      writes,
      pgAppendStatement(prepared.items, true),
      options,
    );
    return { changes, records: linkedOnPostgres(prepared.items, rows) };
  }

  /**
   * PostgreSQL: the head is locked and read, the records inserted and the head moved by one function call
   * (`aos_audit_append`, migration 14), one round trip instead of three.
   */
  private async appendOnPostgres(tx: Executor, items: readonly PreparedAuditEvent[]): Promise<AuditRecord[]> {
    const { sql, params } = pgAppendStatement(items);
    return linkedOnPostgres(items, await tx.all<PgAppendRow>(sql, params));
  }

  /** Appends one event in its own transaction, prepared before the transaction opens. */
  record(event: AuditEvent): Promise<AuditRecord> {
    const prepared = this.prepare([event]);
    return this.db.tx((tx) => this.append(tx, prepared));
  }

  /** The newest record's position and hash. */
  async head(): Promise<{ seq: number; hash: string }> {
    const row = await this.db.get<{ seq: number; hash: string }>(
      'SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1',
    );
    return row ? { seq: Number(row.seq), hash: row.hash } : { seq: 0, hash: GENESIS_HASH };
  }

  /** Records in log order, filtered. */
  async list(
    options: { afterSeq?: number; limit?: number; subject?: string; type?: string } = {},
  ): Promise<AuditRecord[]> {
    const where = ['seq > ?'];
    const params: (string | number)[] = [options.afterSeq ?? 0];
    if (options.subject) {
      where.push('subject = ?');
      params.push(options.subject);
    }
    if (options.type) {
      where.push('type = ?');
      params.push(options.type);
    }
    params.push(Math.min(Math.max(options.limit ?? 100, 1), PAGE));
    const rows = await this.db.all<Row>(
      `SELECT * FROM audit_log WHERE ${where.join(' AND ')} ORDER BY seq LIMIT ?`,
      params,
    );
    return rows.map(toRecord);
  }

  /**
   * Searches the whole log, newest first, one page at a time (`beforeSeq`: the last seq of the previous page).
   * `agent` matches records the agent wrote or that name it (`agentId`); `tool`
   * matches records about that tool; `type` is exact, or a prefix when it ends in `.` (`action.`).
   */
  async search(q: AuditSearch = {}): Promise<AuditRecord[]> {
    const where: string[] = [];
    const params: (string | number)[] = [];
    if (q.beforeSeq !== undefined) {
      where.push('seq < ?');
      params.push(q.beforeSeq);
    }
    if (q.type) {
      if (q.type.endsWith('.')) {
        where.push("type LIKE ? ESCAPE '!'");
        params.push(`${containsPattern(q.type).slice(1, -1)}%`);
      } else {
        where.push('type = ?');
        params.push(q.type);
      }
    }
    if (q.agent) {
      // Payloads are stored as canonical JSON (no spaces), so a key/value pair is a fixed string.
      where.push("(actor = ? OR payload LIKE ? ESCAPE '!')");
      params.push(`agent:${q.agent}`, containsPattern(`"agentId":${JSON.stringify(q.agent)}`));
    }
    if (q.tool) {
      where.push("payload LIKE ? ESCAPE '!'");
      params.push(containsPattern(`"tool":${JSON.stringify(q.tool)}`));
    }
    if (q.since) {
      where.push('ts >= ?');
      params.push(q.since);
    }
    if (q.until) {
      where.push('ts < ?');
      params.push(q.until);
    }
    params.push(Math.min(Math.max(q.limit ?? 100, 1), PAGE));
    const rows = await this.db.all<Row>(
      `SELECT * FROM audit_log${where.length ? ` WHERE ${where.join(' AND ')}` : ''} ORDER BY seq DESC LIMIT ?`,
      params,
    );
    return rows.map(toRecord);
  }

  /** Every record, in order, page by page. */
  async *all(): AsyncGenerator<AuditRecord> {
    let after = 0;
    for (;;) {
      const rows = await this.db.all<Row>('SELECT * FROM audit_log WHERE seq > ? ORDER BY seq LIMIT ?', [
        after,
        PAGE,
      ]);
      for (const row of rows) yield toRecord(row);
      if (rows.length < PAGE) return;
      after = Number((rows[rows.length - 1] as Row).seq);
    }
  }

  /**
   * The rows after record `after` up to record `upTo` (default: the end of the log), in order, a page at a time, as
   * stored (payloads not parsed): what verification reads.
   */
  private async *rowPages(after = 0, upTo = Infinity): AsyncGenerator<Row[]> {
    for (;;) {
      const limit = Math.min(VERIFY_PAGE, upTo - after);
      if (limit <= 0) return;
      const rows = await this.db.all<Row>(VERIFY_SQL, [after, limit]);
      if (rows.length) yield rows;
      if (rows.length < limit) return;
      after = Number((rows[rows.length - 1] as Row).seq);
    }
  }

  /** Signs a checkpoint over the whole log as it is now, stores it, and returns it. */
  async checkpoint(key: SigningKey): Promise<Checkpoint> {
    // Every record is a leaf of the signed root.
    const run = new VerifyRun([], undefined, Infinity);
    await this.walk(run);
    const { verifier } = run;
    if (verifier.problem) {
      throw new UserError(`refusing to checkpoint a broken log: ${verifier.problem.reason}`, {
        field: 'audit',
      });
    }
    const head = await this.head();
    const cp = signCheckpoint(key, {
      treeSize: verifier.verified,
      rootHash: verifier.merkle.root(),
      headHash: head.hash,
    });
    await this.db.run(
      `INSERT INTO audit_checkpoints (tree_size, body) VALUES (?, ?) ON CONFLICT (tree_size) DO UPDATE SET body = excluded.body`,
      [cp.treeSize, JSON.stringify(cp)],
    );
    return cp;
  }

  /** Checkpoints stored in the database, oldest first. */
  async storedCheckpoints(): Promise<Checkpoint[]> {
    const rows = await this.db.all<{ body: string }>('SELECT body FROM audit_checkpoints ORDER BY tree_size');
    return rows.map((r) => JSON.parse(r.body) as Checkpoint);
  }

  /**
   * Verifies the whole chain and every checkpoint: stored ones, and `extra` ones given from outside (a checkpoint
   * file saved earlier), which is what catches a truncated tail. `trustedKeyPem` pins the signer.
   */
  async verify(
    options: { extra?: { checkpoint: Checkpoint; source: string }[]; trustedKeyPem?: string } = {},
  ): Promise<AuditVerifyReport> {
    const stored = (await this.storedCheckpoints()).map((c) => ({ checkpoint: c, source: 'database' }));
    const run = new VerifyRun([...stored, ...(options.extra ?? [])], options.trustedKeyPem);
    await this.walk(run);
    return run.report();
  }

  /** Feeds the whole log to `run`: in ranges where it can (see {@link checkRanges}), then the rest record by record. */
  private async walk(run: VerifyRun): Promise<void> {
    const source = this.db.readSource;
    const after = source && this.options.verify?.ranges !== false ? await this.checkRanges(run, source) : 0;
    // The rest record by record: all of a log checked in place on PostgreSQL, what was appended since the ranges
    // began, and after a problem the remaining rows still (the report counts the records there are).
    for await (const rows of this.rowPages(after)) {
      for (const row of rows) run.pushed(Number(row.seq), run.verifier.pushRow(row));
    }
  }

  /**
   * Checks the log as it is now in ranges, where the database lets them: on worker threads — the hashing and the
   * row decoding, a few microseconds a record, spread over the CPUs and off the event loop — or, with none, on
   * SQLite on this thread (range-check.js), each on a read-only connection of its own. A range that does not pass
   * is checked here, record by record, which names the first problem exactly as the one-thread check would.
   * Answers the last record checked; 0 when there were no ranges or the workers could not start.
   */
  private async checkRanges(run: VerifyRun, source: ReadSource): Promise<number> {
    const total = (await this.head()).seq;
    const workers = verifyWorkers(total, this.options.verify, source.kind);
    const rangeSize = this.options.verify?.rangeSize;
    let ranges: AsyncGenerator<CheckedRange>;
    if (workers > 0) ranges = checkRangesOnWorkers(source, total, run.merkleLeaves, workers, rangeSize);
    else if (source.kind === 'sqlite' && total > 0)
      ranges = checkRangesInPlace(source, total, run.merkleLeaves, rangeSize);
    else return 0;
    let after = 0;
    try {
      for await (const range of ranges) {
        if (workers > 0) this.options.verify?.onRange?.(range);
        if (!(range.ok && run.pushedRange(range))) {
          for await (const rows of this.rowPages(after, range.to)) {
            for (const row of rows) run.pushed(Number(row.seq), run.verifier.pushRow(row));
          }
          if (run.verifier.problem) return range.to;
        }
        after = range.to;
      }
    } catch {
      // A worker or the read-only connection failed: the rows after the last range taken are checked here.
    }
    return after;
  }
}

/** Verifies a stream of records and a set of checkpoints against it. Shared by the database and bundle checks. */
export async function verifyRecords(
  records: AsyncIterable<AuditRecord> | Iterable<AuditRecord>,
  checkpoints: { checkpoint: Checkpoint; source: string }[],
  trustedKeyPem?: string,
): Promise<AuditVerifyReport> {
  const run = new VerifyRun(checkpoints, trustedKeyPem);
  for await (const r of records) run.pushed(r.seq, run.verifier.push(r));
  return run.report();
}

/** One verification: the chain verifier, and the checkpoints checked as the verified prefix reaches their size. */
class VerifyRun {
  readonly verifier: ChainVerifier;
  private readonly bySize = new Map<number, { checkpoint: Checkpoint; source: string }[]>();
  private readonly results: AuditVerifyReport['checkpoints'] = [];
  private highest = 0;

  /** Records the Merkle accumulator needs: roots are compared at checkpoint sizes only, none past the largest. */
  readonly merkleLeaves: number;

  /** `merkleLeaves`: at least this many leaves in the Merkle accumulator (a checkpoint being made needs all). */
  constructor(
    checkpoints: { checkpoint: Checkpoint; source: string }[],
    private readonly trustedKeyPem: string | undefined,
    merkleLeaves = 0,
  ) {
    let largest = merkleLeaves;
    for (const c of checkpoints) {
      this.bySize.set(c.checkpoint.treeSize, [...(this.bySize.get(c.checkpoint.treeSize) ?? []), c]);
      largest = Math.max(largest, c.checkpoint.treeSize);
    }
    this.merkleLeaves = largest;
    this.verifier = new ChainVerifier({ merkleLeaves: largest });
    this.checkAt(0);
  }

  /** Takes a range a worker checked (see {@link ChainVerifier.acceptChecked}); false: check it in place. */
  pushedRange(range: CheckedRange): boolean {
    const each = this.bySize.size > 0 ? () => this.checkAt(this.verifier.verified) : undefined;
    if (!this.verifier.acceptChecked(range, each)) return false;
    if (range.to > this.highest) this.highest = range.to;
    return true;
  }

  /** Notes a record fed to the verifier (`ok`: it passed). */
  pushed(seq: number, ok: boolean): void {
    if (seq > this.highest) this.highest = seq;
    if (ok && this.bySize.size > 0) this.checkAt(this.verifier.verified);
  }

  private checkAt(size: number): void {
    for (const { checkpoint, source } of this.bySize.get(size) ?? []) {
      const sigProblem = checkCheckpointSignature(checkpoint, this.trustedKeyPem);
      const reason =
        sigProblem ??
        (checkpoint.rootHash === this.verifier.merkle.root()
          ? undefined
          : 'Merkle root does not match the log');
      this.results.push({ treeSize: size, ok: !reason, ...(reason ? { reason } : {}), source });
    }
    this.bySize.delete(size);
  }

  report(): AuditVerifyReport {
    const { verifier, results } = this;
    // Checkpoints larger than the verified log: the log was truncated, or broken before that size.
    for (const [size, list] of this.bySize) {
      for (const { source } of list) {
        const reason = verifier.problem
          ? `not checked: the log is broken before record ${size}`
          : `the log has ${verifier.verified} records but this checkpoint covers ${size}: records were removed from the end`;
        results.push({ treeSize: size, ok: false, reason, source });
      }
    }
    results.sort((a, b) => a.treeSize - b.treeSize);
    const goodSizes = results.filter((r) => r.ok).map((r) => r.treeSize);
    const sealed = goodSizes.length ? Math.max(...goodSizes) : 0;
    const truncated = !verifier.problem && results.some((r) => !r.ok);
    const report: AuditVerifyReport = {
      ok: !verifier.problem && results.every((r) => r.ok),
      verified: verifier.verified,
      records: this.highest,
      checkpoints: results,
      unsealed: Math.max(verifier.verified - sealed, 0),
    };
    if (verifier.problem) report.firstBad = verifier.problem;
    else if (truncated) {
      const bad = results.find((r) => !r.ok);
      if (bad)
        report.firstBad = {
          seq: Math.min(verifier.verified + 1, bad.treeSize),
          reason: bad.reason ?? 'bad checkpoint',
        };
    }
    return report;
  }
}
