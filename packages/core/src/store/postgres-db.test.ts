import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import fc from 'fast-check';
import pg from 'pg';
import { describe, expect, it } from 'vitest';
import { PG_URL } from '../../../../test/helpers/backends.js';
import type { Executor } from './db.js';
import type { PostgresDbOptions } from './postgres-db.js';
import { MAX_PG_GROUP_COMMIT, MAX_PREPARED, PostgresDb, preparedStatement } from './postgres-db.js';

const worker = fileURLToPath(new URL('../../../../test/fixtures/group-commit-worker.mjs', import.meta.url));

let schemas = 0;

/** Runs `fn` on a database in a schema of its own holding table `t`, dropped afterwards. */
async function inSchema<T>(
  fn: (db: PostgresDb, schema: string) => Promise<T>,
  options: Partial<PostgresDbOptions> = {},
): Promise<T> {
  const schema = `aos_batch_${process.pid}_${++schemas}`;
  const db = await PostgresDb.connect({ url: PG_URL as string, schema, ...options });
  try {
    await db.exec('CREATE TABLE t (k TEXT PRIMARY KEY, v TEXT NOT NULL)');
    return await fn(db, schema);
  } finally {
    await db.close().catch(() => undefined);
    const admin = new pg.Client({ connectionString: PG_URL as string });
    await admin.connect();
    await admin.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
    await admin.end();
  }
}

const rows = (db: PostgresDb) => db.all<{ k: string; v: string }>('SELECT k, v FROM t ORDER BY k');

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
  it.each([true, false])(
    'groupCommit %s: commits with synchronous_commit off for that transaction only, its writes visible at once',
    (groupCommit) =>
      inSchema(
        async (db) => {
          const show = (tx: { get: typeof db.get }) =>
            tx
              .get<{ synchronous_commit: string }>('SHOW synchronous_commit')
              .then((r) => r?.synchronous_commit);
          const lazy = await db.tx(
            async (tx) => {
              await tx.run('INSERT INTO t VALUES (?, ?)', ['a', 'x']);
              return show(tx);
            },
            { durable: false },
          );
          const durable = await db.tx((tx) => show(tx));
          expect({ lazy, durable, after: await show(db) }).toEqual({
            lazy: 'off',
            durable: 'on',
            after: 'on',
          });
          expect(await rows(db)).toEqual([{ k: 'a', v: 'x' }]);
        },
        { groupCommit },
      ),
  );

  it('counts a batch of only non-durable members as lazy, and one a durable member joined as durable', () =>
    inSchema(async (db) => {
      const put = (k: string, durable: boolean) =>
        db.tx((tx) => tx.run('INSERT INTO t VALUES (?, ?)', [k, String(durable)]), { durable });
      await Promise.all([put('a', false), put('b', false)]);
      expect(db.commits).toEqual({ durable: 0, lazy: 1 });
      await Promise.all([put('c', false), put('d', true), put('e', false)]);
      expect(db.commits).toEqual({ durable: 1, lazy: 1 });
      expect((await rows(db)).map((r) => r.k)).toEqual(['a', 'b', 'c', 'd', 'e']);
    }));
});

describe.skipIf(!PG_URL)('PostgresDb group commit', () => {
  it('commits transactions submitted together in one batch; members that throw or hit an SQL error roll back alone', () =>
    inSchema(async (db) => {
      await db.run("INSERT INTO t (k, v) VALUES ('taken', 'x')");
      const events: string[] = [];
      const member = (k: string, fn: (tx: Executor) => Promise<void>) =>
        db
          .tx(async (tx) => {
            await tx.run('INSERT INTO t (k, v) VALUES (?, ?)', [k, 'x']);
            await tx.run('UPDATE t SET v = v || ? WHERE k = ?', ['y', k]);
            await fn(tx);
            events.push(`ran ${k}`);
            return k;
          })
          .then(
            (v) => events.push(`resolved ${v}`),
            (err: Error & { code?: string }) => events.push(`rejected ${err.code ?? err.message}`),
          );
      const before = { ...db.commits };
      await Promise.all([
        member('a', () => Promise.resolve()),
        member('b', () => Promise.reject(new Error('boom'))),
        // A unique violation aborts the transaction on PostgreSQL until ROLLBACK TO.
        member('c', (tx) => tx.run("INSERT INTO t (k, v) VALUES ('taken', 'dup')").then(() => undefined)),
        member('d', () => Promise.resolve()),
        // Swallows the error and resolves: its writes are lost, so it must not resolve.
        member('e', (tx) =>
          tx.run("INSERT INTO t (k, v) VALUES ('taken', 'dup')").then(
            () => undefined,
            () => undefined,
          ),
        ),
        member('f', () => Promise.resolve()),
      ]);
      // One batch: every callback that got that far ran before any caller heard back, after the one COMMIT.
      expect(events).toEqual([
        'ran a',
        'ran d',
        'ran e',
        'ran f',
        'resolved a',
        'rejected boom',
        'rejected 23505',
        'resolved d',
        'rejected 25P02',
        'resolved f',
      ]);
      expect({ durable: db.commits.durable - before.durable, lazy: db.commits.lazy - before.lazy }).toEqual({
        durable: 1,
        lazy: 0,
      });
      expect(await rows(db)).toEqual([
        { k: 'a', v: 'xy' },
        { k: 'd', v: 'xy' },
        { k: 'f', v: 'xy' },
        { k: 'taken', v: 'x' },
      ]);
    }));

  it(`holds at most ${MAX_PG_GROUP_COMMIT} transactions in one COMMIT; the rest ride the next batch`, () =>
    inSchema(async (db) => {
      const events: string[] = [];
      const n = MAX_PG_GROUP_COMMIT + 10;
      await Promise.all(
        Array.from({ length: n }, (_, i) =>
          db
            .tx(async (tx) => {
              events.push(`ran ${i}`);
              await tx.run('INSERT INTO t (k, v) VALUES (?, ?)', [String(i).padStart(4, '0'), 'v']);
            })
            .then(() => events.push(`resolved ${i}`)),
        ),
      );
      const firstResolved = events.indexOf('resolved 0');
      expect(events.indexOf(`ran ${MAX_PG_GROUP_COMMIT - 1}`)).toBeLessThan(firstResolved);
      expect(events.indexOf(`ran ${MAX_PG_GROUP_COMMIT}`)).toBeGreaterThan(firstResolved);
      expect(db.commits.durable).toBe(2);
      expect(await rows(db)).toHaveLength(n);
    }));

  it('reads on the database from inside a transaction see what has committed, not the open batch', () =>
    inSchema(async (db) => {
      await db.run("INSERT INTO t (k, v) VALUES ('a', 'committed')");
      const seen = await db.tx(async (tx) => {
        await tx.run("UPDATE t SET v = 'uncommitted' WHERE k = 'a'");
        return {
          db: await db.get<{ v: string }>("SELECT v FROM t WHERE k = 'a'"),
          tx: await tx.get<{ v: string }>("SELECT v FROM t WHERE k = 'a'"),
        };
      });
      expect(seen).toEqual({ db: { v: 'committed' }, tx: { v: 'uncommitted' } });
      expect(await db.get("SELECT v FROM t WHERE k = 'a'")).toEqual({ v: 'uncommitted' });
    }));

  it('rejects every member of a batch whose connection is lost, keeps none of their writes, and works again', () =>
    inSchema(async (db) => {
      const results = await Promise.allSettled([
        db.tx((tx) => tx.run("INSERT INTO t (k, v) VALUES ('a', 'x')")),
        db.tx(async (tx) => {
          await tx.run("INSERT INTO t (k, v) VALUES ('b', 'x')");
          const me = await tx.get<{ pid: number }>('SELECT pg_backend_pid() AS pid');
          // From another connection: the batch's backend goes away mid-batch.
          await db.get('SELECT pg_terminate_backend(?)', [me?.pid as number]);
          await tx.run("INSERT INTO t (k, v) VALUES ('c', 'x')");
        }),
      ]);
      for (const r of results) {
        expect(r).toMatchObject({
          status: 'rejected',
          reason: { name: 'SystemError', code: 'store_commit_failed' },
        });
      }
      await db.tx((tx) => tx.run("INSERT INTO t (k, v) VALUES ('later', 'x')"));
      expect(await rows(db)).toEqual([{ k: 'later', v: 'x' }]);
    }));

  it('rejects every member of a batch whose COMMIT fails', () =>
    inSchema(async (db) => {
      await db.exec(
        'CREATE TABLE p (id TEXT PRIMARY KEY); ' +
          'CREATE TABLE c (id TEXT PRIMARY KEY, p TEXT REFERENCES p(id) DEFERRABLE INITIALLY DEFERRED)',
      );
      const results = await Promise.allSettled([
        db.tx((tx) => tx.run("INSERT INTO p (id) VALUES ('fine')")),
        // A deferred foreign key is checked at COMMIT: the batch's COMMIT fails.
        db.tx((tx) => tx.run("INSERT INTO c (id, p) VALUES ('orphan', 'missing')")),
      ]);
      for (const r of results) {
        expect(r).toMatchObject({ status: 'rejected', reason: { code: 'store_commit_failed' } });
      }
      expect(await db.all('SELECT id FROM p')).toEqual([]);
      await db.tx((tx) => tx.run("INSERT INTO p (id) VALUES ('later')"));
      expect(await db.all('SELECT id FROM p')).toEqual([{ id: 'later' }]);
    }));

  it('opens a new connection when the idle batch connection was closed between batches', () =>
    inSchema(async (db) => {
      const pid = await db.tx((tx) => tx.get<{ pid: number }>('SELECT pg_backend_pid() AS pid'));
      await db.get('SELECT pg_terminate_backend(?)', [pid?.pid as number]);
      await db.tx((tx) => tx.run("INSERT INTO t (k, v) VALUES ('a', 'x')"));
      expect(await rows(db)).toEqual([{ k: 'a', v: 'x' }]);
    }));

  it('leaves the same state as running the transactions one by one in submission order', () =>
    inSchema(async (db, schema) => {
      type Step =
        { op: 'insert' | 'update' | 'delete'; k: string; v: string } | { op: 'yield' } | { op: 'throw' };
      const key = fc.constantFrom('a', 'b', 'c', 'd');
      const value = fc.constantFrom('', 'x', 'yz');
      const step: fc.Arbitrary<Step> = fc.oneof(
        fc.record({ op: fc.constant('insert' as const), k: key, v: value }),
        fc.record({ op: fc.constant('update' as const), k: key, v: value }),
        fc.record({ op: fc.constant('delete' as const), k: key, v: fc.constant('') }),
        fc.constant({ op: 'yield' as const }),
        fc.constant({ op: 'throw' as const }),
      );
      const plan = fc.array(fc.record({ steps: fc.array(step, { maxLength: 4 }), late: fc.boolean() }), {
        maxLength: 20,
      });
      const body = (steps: Step[]) => async (tx: Executor) => {
        const seen: string[] = [];
        for (const s of steps) {
          if (s.op === 'yield') await new Promise((r) => setImmediate(r));
          else if (s.op === 'throw') throw new Error('member failed');
          // A duplicate insert fails inside the member, as a real constraint does.
          else if (s.op === 'insert') await tx.run('INSERT INTO t (k, v) VALUES (?, ?)', [s.k, s.v]);
          else if (s.op === 'update') await tx.run('UPDATE t SET v = v || ? WHERE k = ?', [s.v, s.k]);
          else await tx.run('DELETE FROM t WHERE k = ?', [s.k]);
          seen.push(JSON.stringify(await tx.all('SELECT k, v FROM t ORDER BY k')));
        }
        return seen;
      };
      const outcome = (r: PromiseSettledResult<string[]>) =>
        r.status === 'fulfilled' ? { ok: r.value } : { err: (r.reason as Error).message };
      // The reference: one plain connection, one BEGIN … COMMIT (or ROLLBACK) per transaction, no batching.
      // In a schema of its own, with the same table: errors name the same constraint.
      const ref = `${schema}_ref`;
      const serial = new pg.Client({ connectionString: PG_URL as string, options: `-c search_path=${ref}` });
      await serial.connect();
      await serial.query(`CREATE SCHEMA ${ref}; CREATE TABLE t (k TEXT PRIMARY KEY, v TEXT NOT NULL)`);
      const q = (sql: string, params: readonly unknown[] = []) =>
        serial.query(preparedStatement(sql).text, params as unknown[]);
      const plain: Executor = {
        all: async (sql, params) => (await q(sql, params)).rows as never[],
        get: async (sql, params) => (await q(sql, params)).rows[0] as never,
        run: async (sql, params) => ({ changes: (await q(sql, params)).rowCount ?? 0 }),
        exec: async (sql) => void (await serial.query(sql)),
      };
      const serialTx = async (fn: (tx: Executor) => Promise<string[]>) => {
        await serial.query('BEGIN');
        try {
          const v = await fn(plain);
          await serial.query('COMMIT');
          return v;
        } catch (err) {
          await serial.query('ROLLBACK');
          throw err;
        }
      };
      try {
        await fc.assert(
          fc.asyncProperty(plan, async (txs) => {
            await db.exec('TRUNCATE t');
            await serial.query('TRUNCATE t');
            const pending: Promise<string[]>[] = [];
            for (const t of txs) {
              if (t.late) await new Promise((r) => setImmediate(r));
              const p = db.tx(body(t.steps));
              p.catch(() => undefined);
              pending.push(p);
            }
            const together = await Promise.allSettled(pending);
            const oneByOne: PromiseSettledResult<string[]>[] = [];
            for (const t of txs) oneByOne.push(...(await Promise.allSettled([serialTx(body(t.steps))])));
            expect(together.map(outcome)).toEqual(oneByOne.map(outcome));
            expect(await rows(db)).toEqual((await serial.query('SELECT k, v FROM t ORDER BY k')).rows);
          }),
          { numRuns: 15 },
        );
      } finally {
        await serial.query(`DROP SCHEMA ${ref} CASCADE`);
        await serial.end();
      }
    }));

  it('refuses statements on a transaction after its callback settled', () =>
    inSchema(async (db) => {
      let leaked: Executor | undefined;
      await db.tx((tx) => {
        leaked = tx;
        return Promise.resolve();
      });
      await expect((leaked as Executor).run("INSERT INTO t (k, v) VALUES ('a', 'b')")).rejects.toMatchObject({
        code: 'store_misuse',
      });
      expect(await rows(db)).toEqual([]);
    }));

  it.each([true, false])(
    'groupCommit %s: settles the transactions submitted before close, then refuses more',
    (groupCommit) =>
      inSchema(
        async (db) => {
          const pending = db.tx((tx) => tx.run("INSERT INTO t (k, v) VALUES ('a', 'b')"));
          const closed = db.close();
          await expect(pending).resolves.toEqual({ changes: 1 });
          await closed;
          await expect(db.tx((tx) => tx.run("INSERT INTO t (k, v) VALUES ('c', 'd')"))).rejects.toMatchObject(
            {
              code: 'store_closed',
            },
          );
        },
        { groupCommit },
      ),
  );

  it.each(['durable', 'lazy'])(
    '%s: every id a killed process printed is in the database',
    (mode) =>
      inSchema(async (db, schema) => {
        const printed: number[] = await new Promise((resolve, reject) => {
          const child = spawn(process.execPath, [worker, PG_URL as string, schema, mode], {
            stdio: ['ignore', 'pipe', 'pipe'],
          });
          let out = '';
          let err = '';
          child.stderr.on('data', (d: Buffer) => (err += d.toString()));
          child.stdout.on('data', (d: Buffer) => {
            out += d.toString();
            if (out.split('\n').length > 2000) child.kill('SIGKILL');
          });
          child.on('exit', (_code, signal) => {
            if (signal !== 'SIGKILL') reject(new Error(`worker exited without being killed: ${err}`));
            // The last line may be cut off mid-write; only whole lines were printed.
            else resolve(out.split('\n').slice(0, -1).map(Number));
          });
        });
        expect(printed.length).toBeGreaterThan(2000);
        const stored = new Set((await db.all<{ id: number }>('SELECT id FROM done')).map((r) => r.id));
        expect(printed.filter((id) => !stored.has(id))).toEqual([]);
      }),
    60_000,
  );
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
