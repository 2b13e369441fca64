import { describe, expect, it } from 'vitest';
import { PG_URL } from '../../../../test/helpers/backends.js';
import { MAX_PREPARED, PostgresDb, preparedStatement } from './postgres-db.js';

// The PostgreSQL test runs first: the bound test below uses up the process's names.
describe.skipIf(!PG_URL)('PostgresDb prepared statements', () => {
  it('prepares a statement once on the connection and reuses it', async () => {
    const db = await PostgresDb.connect({ url: PG_URL as string });
    try {
      const sql = 'SELECT ?::int + 1 AS n';
      const { name } = preparedStatement(sql);
      const seen = await db.tx(async (tx) => {
        const answers = [await tx.get<{ n: number }>(sql, [1]), await tx.get<{ n: number }>(sql, [2])];
        const mine = await tx.all<{ name: string }>(
          'SELECT name FROM pg_prepared_statements WHERE name = ?',
          [name as string],
        );
        return { answers, mine };
      });
      expect(seen).toEqual({ answers: [{ n: 2 }, { n: 3 }], mine: [{ name }] });
    } finally {
      await db.close();
    }
  });
});

describe.skipIf(!PG_URL)('PostgresDb non-durable transactions', () => {
  it('commits with synchronous_commit off for that transaction only, its writes visible at once', async () => {
    const db = await PostgresDb.connect({ url: PG_URL as string, schema: `aos_lazy_${process.pid}` });
    try {
      await db.exec('CREATE TABLE IF NOT EXISTS t (k TEXT PRIMARY KEY)');
      const show = (tx: { get: typeof db.get }) =>
        tx.get<{ synchronous_commit: string }>('SHOW synchronous_commit').then((r) => r?.synchronous_commit);
      const lazy = await db.tx(
        async (tx) => {
          await tx.run('INSERT INTO t VALUES (?)', ['a']);
          return show(tx);
        },
        { durable: false },
      );
      const durable = await db.tx((tx) => show(tx));
      expect({ lazy, durable, after: await show(db) }).toEqual({ lazy: 'off', durable: 'on', after: 'on' });
      expect(await db.all('SELECT k FROM t')).toEqual([{ k: 'a' }]);
    } finally {
      await db.exec(`DROP SCHEMA aos_lazy_${process.pid} CASCADE`);
      await db.close();
    }
  });
});

describe('preparedStatement', () => {
  it('names a statement by a hash of its text and renumbers its placeholders', () => {
    const a = preparedStatement('SELECT * FROM t WHERE a = ? AND b = ?');
    expect(a.text).toBe('SELECT * FROM t WHERE a = $1 AND b = $2');
    expect(a.name).toMatch(/^aos_[0-9a-f]{32}$/);
    expect(preparedStatement('SELECT * FROM t WHERE a = ? AND b = ?')).toBe(a);
    expect(preparedStatement('SELECT * FROM t WHERE a = ?').name).not.toBe(a.name);
  });

  it(`names at most ${MAX_PREPARED} distinct statements; later ones run unnamed`, () => {
    for (let i = 0; i < MAX_PREPARED + 5; i++) preparedStatement(`SELECT ${i} AS n WHERE 1 = ?`);
    const late = preparedStatement('SELECT 1 AS never_named WHERE 1 = ?');
    expect(late).toEqual({ text: 'SELECT 1 AS never_named WHERE 1 = $1', name: undefined });
  });
});
