import type { AuditLog } from '../../packages/core/src/audit/audit-log.js';
import type { Db, Executor, SqlValue } from '../../packages/core/src/store/db.js';

/**
 * Records the statements run inside the store's transactions, its writes alone and (`outside`) its statements
 * outside any transaction too: a decision written alone on PostgreSQL reads outside one.
 */
export function recordTxStatements(db: Db, options: { outside?: boolean } = {}): string[] {
  const seen: string[] = [];
  const tx = db.tx.bind(db);
  const wrap = (e: Executor): Executor =>
    ({
      all: (sql: string, params?: readonly SqlValue[]) => (seen.push(sql), e.all(sql, params)),
      get: (sql: string, params?: readonly SqlValue[]) => (seen.push(sql), e.get(sql, params)),
      run: (sql: string, params?: readonly SqlValue[]) => (seen.push(sql), e.run(sql, params)),
      exec: (sql: string) => (seen.push(sql), e.exec(sql)),
    }) as Executor;
  db.tx = ((fn, options) => tx((e) => fn(wrap(e)), options)) as Db['tx'];
  if (options.outside) {
    const direct = wrap({
      all: db.all.bind(db),
      get: db.get.bind(db),
      run: db.run.bind(db),
      exec: db.exec.bind(db),
    } as Executor);
    Object.assign(db, direct);
  }
  // A write alone is one statement on PostgreSQL (with group commit, the default): its parts as one entry. SQLite
  // runs it through `tx`, so its statements are recorded there one by one.
  if (db.dialect === 'postgres') {
    const writeAlone = db.writeAlone.bind(db);
    db.writeAlone = ((writes, answer, options) => {
      seen.push([...writes.map((w) => w.sql), ...(answer ? [answer.sql] : [])].join('\n'));
      return writeAlone(writes, answer, options);
    }) as Db['writeAlone'];
  }
  return seen;
}

/** Counts the transactions the store opens (`Db.tx`; on SQLite a write alone is one too). */
export function recordTransactions(db: Db): { count: number } {
  const seen = { count: 0 };
  const tx = db.tx.bind(db);
  db.tx = ((fn, options) => (seen.count++, tx(fn, options))) as Db['tx'];
  return seen;
}

/** Records the writes of each `AuditLog.appendAlone` call (one statement on PostgreSQL), as SQL texts. */
export function recordAppendAlone(audit: AuditLog): string[][] {
  const alone: string[][] = [];
  const appendAlone = audit.appendAlone.bind(audit);
  audit.appendAlone = ((events, writes, options) => {
    alone.push(writes.map((w) => w.sql));
    return appendAlone(events, writes, options);
  }) as AuditLog['appendAlone'];
  return alone;
}
