import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import Database from 'better-sqlite3';
import fc from 'fast-check';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Executor } from './db.js';
import { WalCheckpointer } from './sqlite-checkpointer.js';
import { WRITER_AUTOCHECKPOINT, MAX_GROUP_COMMIT, SqliteDb } from './sqlite-db.js';

const worker = fileURLToPath(new URL('../../../../test/fixtures/group-commit-worker.mjs', import.meta.url));

let dir: string;
beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'aos-sqlite-'));
});
afterEach(() => {
  fs.rmSync(dir, { recursive: true, force: true });
});

async function openWithTable(name = 'aos.db'): Promise<SqliteDb> {
  const db = new SqliteDb(path.join(dir, name));
  await db.exec('CREATE TABLE t (k TEXT PRIMARY KEY, v TEXT NOT NULL)');
  return db;
}

const rows = (db: SqliteDb) => db.all<{ k: string; v: string }>('SELECT k, v FROM t ORDER BY k');

describe('SqliteDb', () => {
  it.skipIf(process.platform === 'win32')(
    'creates the database and its -wal and -shm files readable by the owner only (0600), as the key files',
    async () => {
      const file = path.join(dir, 'aos.db');
      const old = process.umask(0o022);
      try {
        const db = new SqliteDb(file);
        await db.run('CREATE TABLE t (x INTEGER)');
        await db.run('INSERT INTO t VALUES (1)');
        for (const f of [file, `${file}-wal`, `${file}-shm`])
          expect((fs.statSync(f).mode & 0o777).toString(8)).toBe('600');
        await db.close();
      } finally {
        process.umask(old);
      }
    },
  );
});

describe('SqliteDb group commit', () => {
  it('commits transactions submitted together in one batch, and a member that throws rolls back alone', async () => {
    const db = await openWithTable();
    const events: string[] = [];
    const member = (k: string, fail: boolean) =>
      db
        .tx(async (tx) => {
          await tx.run('INSERT INTO t (k, v) VALUES (?, ?)', [k, 'x']);
          await tx.run('UPDATE t SET v = v || ? WHERE k = ?', ['y', k]);
          events.push(`ran ${k}`);
          if (fail) throw new Error(`boom ${k}`);
          return k;
        })
        .then(
          (v) => events.push(`resolved ${v}`),
          (err: Error) => events.push(`rejected ${err.message}`),
        );
    await Promise.all([member('a', false), member('b', true), member('c', false)]);
    // One batch: every callback ran before any caller heard back, which happens only after the one COMMIT (and,
    // for the members that committed, after the flush that follows it).
    expect(events).toEqual(['ran a', 'ran b', 'ran c', 'rejected boom b', 'resolved a', 'resolved c']);
    expect(await rows(db)).toEqual([
      { k: 'a', v: 'xy' },
      { k: 'c', v: 'xy' },
    ]);
    await db.close();
  });

  it(`holds at most ${MAX_GROUP_COMMIT} transactions in one COMMIT; the rest ride the next batch`, async () => {
    const db = await openWithTable();
    const n = MAX_GROUP_COMMIT + 10;
    const before = db.commits.batches;
    // How many batches had committed when each callback ran: the members of one batch all see the same count.
    const seen: number[] = [];
    await Promise.all(
      Array.from({ length: n }, (_, i) =>
        db.tx(async (tx) => {
          seen[i] = db.commits.batches - before;
          await tx.run('INSERT INTO t (k, v) VALUES (?, ?)', [String(i).padStart(4, '0'), 'v']);
        }),
      ),
    );
    expect(seen).toEqual([...Array<number>(MAX_GROUP_COMMIT).fill(0), ...Array<number>(10).fill(1)]);
    expect(db.commits.batches - before).toBe(2);
    expect(await rows(db)).toHaveLength(n);
    await db.close();
  });

  it('rejects every member of a batch whose COMMIT fails, and keeps none of their writes', async () => {
    const db = new SqliteDb(path.join(dir, 'aos.db'));
    await db.exec(
      'CREATE TABLE p (id TEXT PRIMARY KEY); ' +
        'CREATE TABLE c (id TEXT PRIMARY KEY, p TEXT REFERENCES p(id) DEFERRABLE INITIALLY DEFERRED)',
    );
    const results = await Promise.allSettled([
      db.tx((tx) => tx.run("INSERT INTO p (id) VALUES ('fine')")),
      // A deferred foreign key is checked at COMMIT: the batch's COMMIT fails.
      db.tx((tx) => tx.run("INSERT INTO c (id, p) VALUES ('orphan', 'missing')")),
    ]);
    expect(results.map((r) => r.status)).toEqual(['rejected', 'rejected']);
    for (const r of results)
      expect((r as PromiseRejectedResult).reason).toMatchObject({ code: 'store_commit_failed' });
    expect(await db.all('SELECT id FROM p')).toEqual([]);
    // The writer is usable again.
    await db.tx((tx) => tx.run("INSERT INTO p (id) VALUES ('later')"));
    expect(await db.all('SELECT id FROM p')).toEqual([{ id: 'later' }]);
    await db.close();
  });

  it('leaves the same state as running the transactions one by one in submission order', async () => {
    type Step =
      { op: 'insert' | 'update' | 'delete'; k: string; v: string } | { op: 'yield' } | { op: 'throw' };
    const key = fc.constantFrom('a', 'b', 'c', 'd');
    const step: fc.Arbitrary<Step> = fc.oneof(
      fc.record({ op: fc.constant('insert' as const), k: key, v: fc.string({ maxLength: 3 }) }),
      fc.record({ op: fc.constant('update' as const), k: key, v: fc.string({ maxLength: 3 }) }),
      fc.record({ op: fc.constant('delete' as const), k: key, v: fc.constant('') }),
      fc.constant({ op: 'yield' as const }),
      fc.constant({ op: 'throw' as const }),
    );
    // Each transaction: its steps, and after how many earlier submissions' turns it is submitted.
    const plan = fc.array(fc.record({ steps: fc.array(step, { maxLength: 5 }), late: fc.boolean() }), {
      maxLength: 30,
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
    let run = 0;
    await fc.assert(
      fc.asyncProperty(plan, async (txs) => {
        run++;
        const grouped = await openWithTable(`g${run}.db`);
        // The reference: plain better-sqlite3, one BEGIN … COMMIT (or ROLLBACK) per transaction, no batching.
        const serial = new Database(path.join(dir, `s${run}.db`));
        serial.exec('CREATE TABLE t (k TEXT PRIMARY KEY, v TEXT NOT NULL)');
        const plain: Executor = {
          all: (sql, params = []) => Promise.resolve(serial.prepare(sql).all(...params) as never[]),
          get: (sql, params = []) => Promise.resolve(serial.prepare(sql).get(...params) as never),
          run: (sql, params = []) => Promise.resolve({ changes: serial.prepare(sql).run(...params).changes }),
          exec: (sql) => Promise.resolve(void serial.exec(sql)),
        };
        const serialTx = async (fn: (tx: Executor) => Promise<string[]>) => {
          serial.exec('BEGIN IMMEDIATE');
          try {
            const value = await fn(plain);
            serial.exec('COMMIT');
            return value;
          } catch (err) {
            serial.exec('ROLLBACK');
            throw err;
          }
        };
        try {
          const pending: Promise<string[]>[] = [];
          for (const t of txs) {
            if (t.late) await new Promise((r) => setImmediate(r));
            const p = grouped.tx(body(t.steps));
            // Settled together below; a batch may reject a member before then.
            p.catch(() => undefined);
            pending.push(p);
          }
          const together = await Promise.allSettled(pending);
          const oneByOne: PromiseSettledResult<string[]>[] = [];
          for (const t of txs) {
            oneByOne.push(...(await Promise.allSettled([serialTx(body(t.steps))])));
          }
          expect(together.map(outcome)).toEqual(oneByOne.map(outcome));
          expect(await rows(grouped)).toEqual(serial.prepare('SELECT k, v FROM t ORDER BY k').all());
        } finally {
          await grouped.close();
          serial.close();
        }
      }),
      { numRuns: 40 },
    );
  });

  it.each([
    ['durable', 'resolves a transaction only once it is durable'],
    ['lazy', 'a non-durable transaction survives the process being killed once it resolves'],
  ])('%s: %s: every id a killed process printed is in the database', async (mode) => {
    const file = path.join(dir, 'aos.db');
    const printed: number[] = await new Promise((resolve, reject) => {
      const child = spawn(process.execPath, [worker, file, mode], { stdio: ['ignore', 'pipe', 'pipe'] });
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
    const check = new Database(file, { readonly: true });
    const stored = new Set((check.prepare('SELECT id FROM done').all() as { id: number }[]).map((r) => r.id));
    check.close();
    expect(printed.filter((id) => !stored.has(id))).toEqual([]);
  });
});

describe('SqliteDb flushes the WAL off the event loop', () => {
  /** A flush the test releases or fails by hand; each call is recorded. */
  function heldFlush() {
    const calls: { release: () => void; fail: (err: Error) => void }[] = [];
    const flush = (fd: number) => {
      expect(typeof fd).toBe('number');
      return new Promise<void>((resolve, reject) => calls.push({ release: resolve, fail: reject }));
    };
    /** The next flush call, once the database has made it (bounded wait). */
    const next = async () => {
      for (let i = 0; i < 1000 && calls.length === 0; i++) await new Promise((r) => setImmediate(r));
      const call = calls.shift();
      if (!call) throw new Error('no flush was requested');
      return call;
    };
    return { calls, flush, next };
  }
  async function openHeld() {
    const held = heldFlush();
    const db = new SqliteDb(path.join(dir, 'aos.db'), { flush: held.flush });
    const table = db.exec('CREATE TABLE t (k TEXT PRIMARY KEY, v TEXT NOT NULL)');
    (await held.next()).release();
    await table;
    return { db, ...held };
  }
  const settledYet = async (p: Promise<unknown>) => {
    let done = false;
    void p.then(
      () => (done = true),
      () => (done = true),
    );
    await new Promise((r) => setImmediate(r));
    await new Promise((r) => setImmediate(r));
    return done;
  };

  it('settles a durable transaction only after a flush that began after its COMMIT; a non-durable one at COMMIT', async () => {
    const { db, calls, next } = await openHeld();
    const durable = db.tx((tx) => tx.run('INSERT INTO t VALUES (?, ?)', ['a', 'durable']));
    const lazy = db.tx((tx) => tx.run('INSERT INTO t VALUES (?, ?)', ['b', 'lazy']), { durable: false });
    await lazy;
    expect(await settledYet(durable)).toBe(false);
    // Committed: readers see both while the flush runs.
    expect((await rows(db)).map((r) => r.k)).toEqual(['a', 'b']);
    expect(calls).toHaveLength(1);
    (await next()).release();
    await durable;
    // The real thing: the writer commits without an in-loop fsync (1 = NORMAL) in WAL mode.
    expect(await db.tx((tx) => tx.get('PRAGMA synchronous'), { durable: false })).toEqual({ synchronous: 1 });
    expect(await db.get('PRAGMA journal_mode')).toEqual({ journal_mode: 'wal' });
    await db.close();
  });

  it('runs the next batch while a flush is in flight, and one flush covers every commit made meanwhile', async () => {
    const { db, calls, next } = await openHeld();
    const first = db.tx((tx) => tx.run('INSERT INTO t VALUES (?, ?)', ['a', '1']));
    const held = await next();
    // Three more transactions commit while the first flush is held; none of them may settle on that flush.
    const later = ['b', 'c', 'd'].map((k) => db.tx((tx) => tx.run('INSERT INTO t VALUES (?, ?)', [k, '2'])));
    for (let i = 0; i < 1000 && (await rows(db)).length < 4; i++) await new Promise((r) => setImmediate(r));
    expect((await rows(db)).map((r) => r.k)).toEqual(['a', 'b', 'c', 'd']);
    held.release();
    await first;
    expect(await Promise.all(later.map(settledYet))).toEqual([false, false, false]);
    const second = await next();
    expect(calls).toHaveLength(0);
    second.release();
    await Promise.all(later);
    expect(db.commits.flushes).toBe(3);
    await db.close();
  });

  it('settles a durable transaction that changed no rows without a flush', async () => {
    const { db, calls } = await openHeld();
    expect(await db.tx((tx) => tx.all('SELECT k FROM t'))).toEqual([]);
    expect(await db.tx((tx) => tx.run('UPDATE t SET v = ? WHERE k = ?', ['x', 'none']))).toEqual({
      changes: 0,
    });
    expect(calls).toHaveLength(0);
    await db.close();
  });

  it('rejects the durable members a failed flush covered with store_sync_failed, and flushes again after', async () => {
    const { db, next } = await openHeld();
    const durable = db.tx((tx) => tx.run('INSERT INTO t VALUES (?, ?)', ['a', 'durable']));
    const lazy = db.tx((tx) => tx.run('INSERT INTO t VALUES (?, ?)', ['b', 'lazy']), { durable: false });
    await lazy;
    (await next()).fail(Object.assign(new Error('EIO: i/o error, fdatasync'), { code: 'EIO' }));
    await expect(durable).rejects.toMatchObject({ code: 'store_sync_failed' });
    const again = db.tx((tx) => tx.run('INSERT INTO t VALUES (?, ?)', ['c', 'durable']));
    (await next()).release();
    await again;
    await db.close();
  });
});

describe('SqliteDb checkpoints on a worker thread', () => {
  /** Writes `n` transactions of about 3 KB each: at least two WAL pages a commit, were nothing checkpointed. */
  async function fill(db: SqliteDb, n: number) {
    const v = 'x'.repeat(3000);
    for (let i = 0; i < n; i++)
      await db.tx((tx) => tx.run('INSERT INTO t (k, v) VALUES (?, ?)', [`k${i}`, v]), { durable: false });
  }

  it('copies the log into the database file on its own thread, before the write connection would checkpoint', async () => {
    const file = path.join(dir, 'aos.db');
    const db = await openWithTable();
    // About three pages of log a commit: some 2,400 pages, below the write connection's own threshold (4,000, see
    // the next test), so only the worker can copy them into the database file.
    await fill(db, 800);
    // Bounded wait for the worker's checkpoint to finish (the file grows while it copies, before it counts it).
    const copied = () => fs.statSync(file).size > 800 * 3000 && (db.checkpoints?.checkpoints ?? 0) > 0;
    for (let i = 0; i < 400 && !copied(); i++) await new Promise((r) => setTimeout(r, 25));
    // With no checkpoint the rows would still be in the log only, and the database file a few pages long.
    expect(fs.statSync(file).size).toBeGreaterThan(800 * 3000);
    expect(db.checkpoints?.checkpoints).toBeGreaterThan(0);
    expect(db.checkpoints?.failures).toBe(0);
    const probe = new Database(file, { readonly: true });
    expect(probe.prepare('SELECT count(*) AS n FROM t').get()).toEqual({ n: 800 });
    probe.close();
    await db.close();
    // The worker's connection closed with the database: the last connection to close removes the log.
    expect(fs.existsSync(`${file}-wal`)).toBe(false);
  });

  it('checkpoints commits that came before its thread started (regression: it waited for the next one)', async () => {
    const file = path.join(dir, 'aos.db');
    // A log of some 300 pages that nobody has copied into the database file.
    const writer = new Database(file);
    writer.pragma('journal_mode = WAL');
    writer.pragma('wal_autocheckpoint = 0');
    writer.exec('CREATE TABLE t (k TEXT PRIMARY KEY, v TEXT NOT NULL)');
    const insert = writer.prepare('INSERT INTO t (k, v) VALUES (?, ?)');
    for (let i = 0; i < 100; i++) insert.run(`k${i}`, 'x'.repeat(3000));
    expect(fs.statSync(file).size).toBeLessThan(100 * 3000);
    // The commit is counted before the worker's thread has run a line: a worker that took the count at its start
    // as already seen slept until a next commit, which never came.
    const checkpointer = new WalCheckpointer(file);
    checkpointer.committed();
    for (let i = 0; i < 400 && checkpointer.stats.checkpoints === 0; i++)
      await new Promise((r) => setTimeout(r, 25));
    expect(checkpointer.stats).toEqual({ checkpoints: 1, failures: 0 });
    expect(fs.statSync(file).size).toBeGreaterThan(100 * 3000);
    await checkpointer.close();
    writer.close();
  });

  it('leaves checkpoints to SQLite on the write connection when turned off', async () => {
    const file = path.join(dir, 'aos.db');
    const db = new SqliteDb(file, { checkpointer: false });
    await db.exec('CREATE TABLE t (k TEXT PRIMARY KEY, v TEXT NOT NULL)');
    expect(db.checkpoints).toBeUndefined();
    expect(await db.get('PRAGMA wal_autocheckpoint')).toEqual({ wal_autocheckpoint: 1000 });
    await db.close();
    const on = new SqliteDb(file);
    expect(await on.get('PRAGMA wal_autocheckpoint')).toEqual({ wal_autocheckpoint: WRITER_AUTOCHECKPOINT });
    await on.close();
  });
});

describe('SqliteDb busy', () => {
  it('fails the waiting batch with store_busy while another process holds the write lock, then works again', async () => {
    const file = path.join(dir, 'aos.db');
    const db = new SqliteDb(file, { busyTimeoutMs: 20 });
    await db.exec('CREATE TABLE t (k TEXT PRIMARY KEY, v TEXT NOT NULL)');
    const other = new Database(file);
    other.exec('BEGIN IMMEDIATE');
    const results = await Promise.allSettled([
      db.tx((tx) => tx.run("INSERT INTO t (k, v) VALUES ('a', 'x')")),
      db.run("INSERT INTO t (k, v) VALUES ('b', 'x')"),
    ]);
    for (const r of results) expect(r).toMatchObject({ status: 'rejected', reason: { code: 'store_busy' } });
    other.exec('COMMIT');
    other.close();
    await db.run("INSERT INTO t (k, v) VALUES ('c', 'x')");
    expect(await rows(db)).toEqual([{ k: 'c', v: 'x' }]);
    await db.close();
  });

  it('refuses a busy timeout that is not a non-negative integer, naming the option', () => {
    expect(() => new SqliteDb(path.join(dir, 'aos.db'), { busyTimeoutMs: -1 })).toThrow(
      expect.objectContaining({ field: 'busyTimeoutMs' }) as Error,
    );
  });
});

describe('SqliteDb reads', () => {
  it('reads on the database from inside a transaction see what has committed, not the open transaction', async () => {
    const db = await openWithTable();
    await db.run("INSERT INTO t (k, v) VALUES ('a', 'committed')");
    const seen = await db.tx(async (tx) => {
      await tx.run("UPDATE t SET v = 'uncommitted' WHERE k = 'a'");
      return {
        db: await db.get<{ v: string }>("SELECT v FROM t WHERE k = 'a'"),
        tx: await tx.get<{ v: string }>("SELECT v FROM t WHERE k = 'a'"),
      };
    });
    expect(seen).toEqual({ db: { v: 'committed' }, tx: { v: 'uncommitted' } });
    // Read your writes: once the transaction has resolved, a read sees it.
    expect(await db.get("SELECT v FROM t WHERE k = 'a'")).toEqual({ v: 'uncommitted' });
    await db.close();
  });

  it('refuses writes on its read connection', async () => {
    const db = await openWithTable();
    // A statement handed to all() that writes is refused rather than run outside the write path.
    await expect(db.all("INSERT INTO t (k, v) VALUES ('a', 'b') RETURNING k")).rejects.toThrow(/readonly/i);
    expect(await rows(db)).toEqual([]);
    await db.close();
  });

  it('keeps one connection for an in-memory database, where reads queue behind writes', async () => {
    const db = new SqliteDb(':memory:');
    await db.exec('CREATE TABLE t (k TEXT PRIMARY KEY, v TEXT NOT NULL)');
    const write = db.tx((tx) => tx.run("INSERT INTO t (k, v) VALUES ('a', 'b')"));
    // Submitted after the write, on the same (only) connection: it sees the write.
    expect(await db.all('SELECT k, v FROM t')).toEqual([{ k: 'a', v: 'b' }]);
    await write;
    await db.close();
  });
});

describe('SqliteDb misuse', () => {
  it('refuses statements on a transaction after its callback settled', async () => {
    const db = await openWithTable();
    let leaked: Executor | undefined;
    await db.tx((tx) => {
      leaked = tx;
      return Promise.resolve();
    });
    await expect((leaked as Executor).run("INSERT INTO t (k, v) VALUES ('a', 'b')")).rejects.toMatchObject({
      code: 'store_misuse',
    });
    expect(await rows(db)).toEqual([]);
    await db.close();
  });

  it('runs a write made on the database from inside a transaction after that transaction, never inside it', async () => {
    const db = await openWithTable();
    let outside: Promise<unknown> | undefined;
    await expect(
      db.tx(async (tx) => {
        await tx.run("INSERT INTO t (k, v) VALUES ('a', 'tx')");
        // Not awaited: awaiting it here would wait for this very transaction.
        outside = db.run("UPDATE t SET v = v || '+db' WHERE k = 'a'");
        throw new Error('roll back');
      }),
    ).rejects.toThrow('roll back');
    await outside;
    // The transaction rolled back; the outside write ran after it, on its own, and found nothing to update.
    expect(await rows(db)).toEqual([]);
    await db.close();
  });

  it('refuses work after close', async () => {
    const db = await openWithTable();
    await db.close();
    await expect(db.tx((tx) => tx.run("INSERT INTO t (k, v) VALUES ('a', 'b')"))).rejects.toMatchObject({
      code: 'store_closed',
    });
    await expect(db.close()).resolves.toBeUndefined();
  });
});
