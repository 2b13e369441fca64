import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { backends } from '../../../../test/helpers/backends.js';
import type { TestStore } from '../../../../test/helpers/backends.js';
import pg from 'pg';
import { vi } from 'vitest';
import { StaleRead, UnexpectedChanges } from './db.js';
import type { Statement } from './db.js';

describe.each(backends)('independent writes on $name', (backend) => {
  let t: TestStore;
  beforeEach(async (ctx) => {
    if (!backend.enabled) return ctx.skip();
    t = await backend.create();
    await t.store.db.exec('CREATE TABLE ri_a (id TEXT PRIMARY KEY, n INTEGER NOT NULL, note TEXT)');
    await t.store.db.exec('CREATE TABLE ri_b (id TEXT PRIMARY KEY, n INTEGER NOT NULL)');
    await t.store.db.exec("INSERT INTO ri_b (id, n) VALUES ('kept', 1)");
  });
  afterEach(async () => {
    await t?.cleanup();
  });

  const rows = async () => ({
    a: await t.store.db.all('SELECT id, n, note FROM ri_a ORDER BY id'),
    b: await t.store.db.all('SELECT id, n FROM ri_b ORDER BY id'),
  });

  it('applies every write, each with its own parameters in order', async () => {
    const writes: Statement[] = [
      {
        sql: 'INSERT INTO ri_a (id, n, note) VALUES (?, ?, ?), (?, ?, ?)',
        params: ['a1', 1, 'x?y', 'a2', 2, null],
      },
      {
        sql: 'INSERT INTO ri_b (id, n) VALUES (?, ?) ON CONFLICT (id) DO UPDATE SET n = ri_b.n + excluded.n',
        params: ['kept', 41],
      },
      { sql: 'UPDATE ri_b SET n = n WHERE id = ?', params: ['nothing'] },
    ];
    expect(await t.store.db.tx((tx) => t.store.db.runIndependent(tx, writes))).toEqual({
      changes: [2, 1, 0],
      rows: [],
    });
    expect(await t.store.db.tx((tx) => t.store.db.runIndependent(tx, writes.slice(2)))).toEqual({
      changes: [0],
      rows: [],
    });
    expect(await t.store.db.tx((tx) => t.store.db.runIndependent(tx, []))).toEqual({ changes: [], rows: [] });
    expect(await rows()).toEqual({
      a: [
        { id: 'a1', n: 1, note: 'x?y' },
        { id: 'a2', n: 2, note: null },
      ],
      b: [{ id: 'kept', n: 42 }],
    });
  });

  it('takes effect with its transaction or not at all: a write that fails leaves none of them', async () => {
    await t.store.db.exec("INSERT INTO ri_a (id, n) VALUES ('dup', 0)");
    const before = await rows();
    await expect(
      t.store.db.tx((tx) =>
        t.store.db.runIndependent(tx, [
          { sql: 'UPDATE ri_b SET n = ? WHERE id = ?', params: [7, 'kept'] },
          { sql: 'INSERT INTO ri_a (id, n) VALUES (?, ?)', params: ['dup', 1] },
        ]),
      ),
    ).rejects.toThrow();
    expect(await rows()).toEqual(before);
  });

  it('answers the rows of its answer with the change counts, none when it has no rows', async () => {
    // A write that brings its own WITH, and an answer reading a table none of the writes touches.
    await t.store.db.exec('CREATE TABLE ri_c (id TEXT PRIMARY KEY, v TEXT NOT NULL)');
    await t.store.db.exec("INSERT INTO ri_c (id, v) VALUES ('c1', 'one'), ('c2', 'two?')");
    const writes: Statement[] = [
      {
        sql: 'WITH last AS (SELECT COALESCE(MAX(n), 0) AS n FROM ri_a WHERE id > ?) INSERT INTO ri_a (id, n, note) SELECT ?, last.n + 1, ? FROM last UNION ALL SELECT ?, last.n + 2, ? FROM last',
        params: ['', 'w1', 'a?', 'w2', null],
      },
      { sql: 'UPDATE ri_b SET n = n + ? WHERE id = ?', params: [1, 'kept'] },
    ];
    const answered = await t.store.db.tx((tx) =>
      t.store.db.runIndependent<{ id: string; v: string }>(tx, writes, {
        sql: 'SELECT id, v FROM ri_c WHERE v <> ?',
        params: ['none'],
      }),
    );
    expect(answered.changes).toEqual([2, 1]);
    expect([...answered.rows].sort((x, y) => x.id.localeCompare(y.id))).toEqual([
      { id: 'c1', v: 'one' },
      { id: 'c2', v: 'two?' },
    ]);
    const none = await t.store.db.tx((tx) =>
      t.store.db.runIndependent(tx, [{ sql: 'UPDATE ri_b SET n = ? WHERE id = ?', params: [0, 'absent'] }], {
        sql: 'SELECT id FROM ri_c WHERE v = ?',
        params: ['absent'],
      }),
    );
    expect(none).toEqual({ changes: [0], rows: [] });
    // An answer alone is a plain query.
    expect(
      await t.store.db.tx((tx) =>
        t.store.db.runIndependent(tx, [], { sql: 'SELECT v FROM ri_c WHERE id = ?', params: ['c1'] }),
      ),
    ).toEqual({ changes: [], rows: [{ v: 'one' }] });
    expect(await rows()).toEqual({
      a: [
        { id: 'w1', n: 1, note: 'a?' },
        { id: 'w2', n: 2, note: null },
      ],
      b: [{ id: 'kept', n: 2 }],
    });
  });

  it('an answer that fails takes the writes with it', async () => {
    const before = await rows();
    await expect(
      t.store.db.tx((tx) =>
        t.store.db.runIndependent(tx, [{ sql: 'UPDATE ri_b SET n = ? WHERE id = ?', params: [9, 'kept'] }], {
          sql: 'SELECT id FROM no_such_table WHERE id = ?',
          params: ['x'],
        }),
      ),
    ).rejects.toThrow();
    expect(await rows()).toEqual(before);
  });

  it("reads independent queries together: each one's rows as alone, the transaction's own writes seen", async () => {
    await t.store.db.exec(
      'CREATE TABLE ri_big (id TEXT PRIMARY KEY, big BIGINT NOT NULL, half DOUBLE PRECISION)',
    );
    await t.store.db.exec("INSERT INTO ri_big (id, big, half) VALUES ('x', 9007199254740991, 0.5)");
    const read = await t.store.db.tx(async (tx) => {
      await tx.run('INSERT INTO ri_a (id, n, note) VALUES (?, ?, ?), (?, ?, ?)', [
        'r1',
        1,
        'a?b',
        'r2',
        2,
        null,
      ]);
      return t.store.db.readTogether(tx, [
        { sql: 'SELECT id, n, note FROM ri_a WHERE n >= ? ORDER BY id', params: [1] },
        { sql: `SELECT id, n FROM ri_b WHERE id = ?${t.store.db.forUpdate}`, params: ['kept'] },
        { sql: 'SELECT id FROM ri_b WHERE id = ?', params: ['absent'] },
        { sql: 'SELECT big, half FROM ri_big WHERE id = ?', params: ['x'] },
      ]);
    });
    const sorted = (rows: Record<string, unknown>[] | undefined) =>
      [...(rows ?? [])].sort((x, y) => String(x.id).localeCompare(String(y.id)));
    expect(read).toHaveLength(4);
    expect(sorted(read[0])).toEqual([
      { id: 'r1', n: 1, note: 'a?b' },
      { id: 'r2', n: 2, note: null },
    ]);
    expect(read.slice(1)).toEqual([[{ id: 'kept', n: 1 }], [], [{ big: 9007199254740991, half: 0.5 }]]);
    // What each query answers alone.
    const alone = await t.store.db.tx((tx) =>
      Promise.all([
        tx.all('SELECT id, n FROM ri_b WHERE id = ?', ['kept']),
        tx.all('SELECT big, half FROM ri_big'),
      ]),
    );
    expect(alone).toEqual([read[1], read[3]]);
    expect(await t.store.db.tx((tx) => t.store.db.readTogether(tx, []))).toEqual([]);
    await expect(
      t.store.db.tx((tx) =>
        t.store.db.readTogether(tx, [
          { sql: 'SELECT id FROM ri_b', params: [] },
          { sql: 'SELECT id FROM no_such_table', params: [] },
        ]),
      ),
    ).rejects.toThrow();
  });
  it('writes alone: the counts it requires, or nothing at all', async () => {
    const writes: Statement[] = [
      { sql: 'INSERT INTO ri_a (id, n) VALUES (?, ?)', params: ['w1', 1] },
      { sql: 'UPDATE ri_b SET n = n + 1 WHERE id = ?', params: ['kept'] },
    ];
    expect(await t.store.db.writeAlone(writes, undefined, { expect: [1, 1] })).toEqual({
      changes: [1, 1],
      rows: [],
    });
    const before = await rows();
    // The update finds no row: the insert beside it is taken back too.
    const missing: Statement[] = [
      { sql: 'INSERT INTO ri_a (id, n) VALUES (?, ?)', params: ['w2', 2] },
      { sql: 'UPDATE ri_b SET n = n + 1 WHERE id = ?', params: ['gone'] },
    ];
    const err = await t.store.db.writeAlone(missing, undefined, { expect: [undefined, 1] }).catch((e) => e);
    expect(err).toBeInstanceOf(UnexpectedChanges);
    expect(err).toMatchObject({ index: 1, expected: 1, actual: 0 });
    // Lazy or durable, with an answer or none, alone or joined to a batch.
    const answer = { sql: 'SELECT id FROM ri_b WHERE id = ?', params: ['kept'] };
    await expect(
      t.store.db.writeAlone(missing, answer, { durable: false, expect: [1, 1] }),
    ).rejects.toBeInstanceOf(UnexpectedChanges);
    const joined = await Promise.allSettled([
      t.store.db.tx((tx) => tx.run('UPDATE ri_b SET n = n WHERE id = ?', ['kept'])),
      t.store.db.writeAlone(missing, answer, { expect: [1, 1] }),
      t.store.db.tx((tx) => tx.run('UPDATE ri_b SET n = n WHERE id = ?', ['kept'])),
    ]);
    expect(joined.map((r) => r.status)).toEqual(['fulfilled', 'rejected', 'fulfilled']);
    expect((joined[1] as PromiseRejectedResult).reason).toBeInstanceOf(UnexpectedChanges);
    expect(await rows()).toEqual(before);
    // Any count when none is required.
    expect(await t.store.db.writeAlone(missing, answer)).toEqual({ changes: [1, 0], rows: [{ id: 'kept' }] });
  });

  it('writes alone only while the queries it requires still answer a row', async () => {
    const before = await rows();
    const writes: Statement[] = [
      { sql: 'INSERT INTO ri_a (id, n, note) VALUES (?, ?, ?)', params: ['a1', 1, 'x'] },
      { sql: 'UPDATE ri_b SET n = n + ? WHERE id = ?', params: [5, 'kept'] },
    ];
    // What a caller read before: ri_b's row with n = 1. Parameters in the writes, the answer and the queries.
    const still = (n: number) => ({ sql: 'SELECT 1 FROM ri_b WHERE id = ? AND n = ?', params: ['kept', n] });
    const answer = { sql: 'SELECT id, n FROM ri_b WHERE id = ?', params: ['kept'] };
    for (const durable of [true, false]) {
      const err = await t.store.db
        .writeAlone(writes, answer, { durable, require: [still(1), still(2)], expect: [1, 1] })
        .catch((e: unknown) => e);
      expect(err).toBeInstanceOf(StaleRead);
      expect(err).toMatchObject({ index: 1 });
      expect(await rows()).toEqual(before);
    }
    // Joined to a batch, the other members commit.
    const joined = await Promise.allSettled([
      t.store.db.tx((tx) => tx.run('UPDATE ri_b SET n = n WHERE id = ?', ['kept'])),
      t.store.db.writeAlone(writes, undefined, { require: [still(7)] }),
      t.store.db.tx((tx) => tx.run('UPDATE ri_b SET n = n WHERE id = ?', ['kept'])),
    ]);
    expect(joined.map((r) => r.status)).toEqual(['fulfilled', 'rejected', 'fulfilled']);
    expect((joined[1] as PromiseRejectedResult).reason).toBeInstanceOf(StaleRead);
    expect(await rows()).toEqual(before);
    // Still true: written, and the answer is read in the statement's snapshot, as without the queries.
    expect(await t.store.db.writeAlone(writes, answer, { require: [still(1)], expect: [1, 1] })).toEqual({
      changes: [1, 1],
      rows: [{ id: 'kept', n: backend.name === 'postgres' ? 1 : 6 }],
    });
    expect((await rows()).b).toEqual([{ id: 'kept', n: 6 }]);
    // Through the audit log's write alone too.
    const err = await t.store.audit
      .appendAlone([{ actor: 'system', type: 'test.event' }], writes.slice(1), { require: [still(1)] })
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(StaleRead);
    expect((await rows()).b).toEqual([{ id: 'kept', n: 6 }]);
  });

  it('commits a statement alone without BEGIN and COMMIT on PostgreSQL, at the durability asked for', async (ctx) => {
    if (backend.name !== 'postgres') return ctx.skip();
    const level = { sql: "SELECT current_setting('synchronous_commit') AS level", params: [] };
    const insert = (id: string): Statement[] => [
      { sql: 'INSERT INTO ri_a (id, n) VALUES (?, 0)', params: [id] },
    ];
    // Open the batch connection first: its set-up is not what is counted.
    await t.store.db.tx((tx) => tx.run('UPDATE ri_b SET n = n'));
    const sent: string[] = [];
    const query = pg.Client.prototype.query;
    const spy = vi.spyOn(pg.Client.prototype, 'query').mockImplementation(function (
      this: pg.Client,
      ...args: unknown[]
    ) {
      const q = args[0] as string | { text: string };
      sent.push(typeof q === 'string' ? q : q.text);
      return (query as (...a: unknown[]) => unknown).apply(this, args) as never;
    });
    try {
      const lazy = await t.store.db.writeAlone(insert('lazy'), level, { durable: false });
      const durable = await t.store.db.writeAlone(insert('durable'), level);
      expect(lazy.rows).toEqual([{ level: 'off' }]);
      expect(durable.rows).toEqual([{ level: 'on' }]);
      expect(sent).toHaveLength(2);
      expect(sent.some((q) => /BEGIN|COMMIT/.test(q))).toBe(false);
      // Transactions still commit at their own level: a durable one at the server's, though the batch
      // connection's session runs lazy.
      const inTx = (durable: boolean) =>
        t.store.db.tx(async (tx) => (await tx.get<{ level: string }>(level.sql))?.level, { durable });
      expect([await inTx(true), await inTx(false)]).toEqual(['on', 'off']);
    } finally {
      spy.mockRestore();
    }
    expect((await rows()).a.map((r) => r.id)).toEqual(['durable', 'lazy']);
  });
});
