import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { backends } from '../../../../test/helpers/backends.js';
import type { TestStore } from '../../../../test/helpers/backends.js';
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
    await t.store.db.tx((tx) => t.store.db.runIndependent(tx, writes));
    await t.store.db.tx((tx) => t.store.db.runIndependent(tx, writes.slice(2)));
    await t.store.db.tx((tx) => t.store.db.runIndependent(tx, []));
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
});
