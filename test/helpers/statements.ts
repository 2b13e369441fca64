import type { Db, Executor, SqlValue } from '../../packages/core/src/store/db.js';

/** Records the statements run inside the store's transactions. */
export function recordTxStatements(db: Db): string[] {
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
  return seen;
}
