import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openStore, SQLITE_FILE } from '../store/open-store.js';
import { SqliteDb } from '../store/sqlite-db.js';
import { AuditLog } from './audit-log.js';
import type { AuditVerifyReport } from './audit-log.js';
import { contentHash, linkHash, recordHash } from './chain.js';
import { contentPreimage, contentPreimageSql } from './chain-v2.js';
import { loadSigningKey } from './checkpoint.js';
import type { SigningKey } from './checkpoint.js';
import { checkRangesInPlace, checkRangesOnWorkers, verifyWorkers } from './parallel-verify.js';
import type { CheckedRange, ParallelVerifyOptions } from './parallel-verify.js';
import { writeFormat1Records } from '../../../../test/helpers/audit-records.js';
import { backends, PG_URL, postgresBackend } from '../../../../test/helpers/backends.js';

const N = 48;
let dir: string;
/** A log of N records: 1-3 in chain format 1 (as an older node wrote them), the rest format 2; checkpoints at 20 and N. */
let seeded: string;
let copies = 0;

beforeAll(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'aos-pverify-'));
  const dataDir = path.join(dir, 'seed');
  const store = await openStore({ dataDir });
  seeded = path.join(dataDir, SQLITE_FILE);
  const raw = new Database(seeded);
  await writeFormat1Records(
    (sql, params) => raw.prepare(sql).run(...params),
    3,
    (seq) => ({ seq }),
  );
  for (let i = 4; i <= N; i++) {
    await store.audit.record({
      actor: 'operator:test',
      type: 'test.event',
      subject: `thing:${i}`,
      payload: { i, note: 'é' },
    });
    if (i === 20 || i === N) await store.audit.checkpoint(store.signingKey());
  }
  raw.exec('DROP TRIGGER audit_log_no_update; DROP TRIGGER audit_log_no_delete');
  raw.close();
  await store.close();
});

afterAll(() => {
  fs.rmSync(dir, { recursive: true, force: true });
});

/** A copy of the seeded database, changed by `tamper` as an attacker with the file would. */
function copyOf(tamper: (db: Database.Database) => void = () => undefined): string {
  const file = path.join(dir, `copy-${++copies}.db`);
  fs.copyFileSync(seeded, file);
  const db = new Database(file);
  tamper(db);
  db.close();
  return file;
}

async function verifyFile(file: string, verify: ParallelVerifyOptions): Promise<AuditVerifyReport> {
  const db = new SqliteDb(file, { checkpointer: false });
  try {
    return await new AuditLog(db, { verify }).verify();
  } finally {
    await db.close();
  }
}

type Tamper =
  | { kind: 'none' }
  | { kind: 'payload' | 'forge' | 'hash' | 'prev' | 'delete' | 'truncate' | 'swap'; seq: number }
  | { kind: 'version'; seq: number; version: number };

function apply(t: Tamper, db: Database.Database): void {
  const row = (seq: number) =>
    db.prepare('SELECT * FROM audit_log WHERE seq = ?').get(seq) as Record<string, unknown>;
  switch (t.kind) {
    case 'none':
      return;
    case 'payload':
      db.prepare('UPDATE audit_log SET payload = ? WHERE seq = ?').run('{"i":-1}', t.seq);
      return;
    case 'forge': {
      // A changed record with its own hash made to match, as a careful attacker would: only the next record's
      // link (or a checkpoint) shows it.
      const r = row(t.seq) as {
        ts: string;
        actor: string;
        type: string;
        subject: string | null;
        prev_hash: string;
      };
      const payload = '{"forged":true}';
      const hash =
        t.seq <= 3
          ? recordHash({ ...r, seq: t.seq, prevHash: r.prev_hash, payload: JSON.parse(payload) })
          : linkHash(t.seq, r.prev_hash, contentHash(r, payload));
      db.prepare('UPDATE audit_log SET payload = ?, hash = ? WHERE seq = ?').run(payload, hash, t.seq);
      return;
    }
    case 'hash':
      db.prepare('UPDATE audit_log SET hash = ? WHERE seq = ?').run('e'.repeat(64), t.seq);
      return;
    case 'prev':
      db.prepare('UPDATE audit_log SET prev_hash = ? WHERE seq = ?').run('f'.repeat(64), t.seq);
      return;
    case 'version':
      db.prepare('UPDATE audit_log SET version = ? WHERE seq = ?').run(t.version, t.seq);
      return;
    case 'delete':
      db.prepare('DELETE FROM audit_log WHERE seq = ?').run(t.seq);
      return;
    case 'truncate':
      db.prepare('DELETE FROM audit_log WHERE seq >= ?').run(t.seq);
      return;
    case 'swap': {
      const [a, b] = [row(t.seq), row(t.seq + 1)];
      const set = db.prepare(
        'UPDATE audit_log SET ts = ?, actor = ?, type = ?, subject = ?, payload = ?, prev_hash = ?, hash = ?, version = ? WHERE seq = ?',
      );
      const vals = (r: Record<string, unknown>) => [
        r.ts,
        r.actor,
        r.type,
        r.subject,
        r.payload,
        r.prev_hash,
        r.hash,
        r.version,
      ];
      set.run(...vals(b), t.seq);
      set.run(...vals(a), t.seq + 1);
      return;
    }
  }
}

/** A tamper and a range size; half the positions fall on a range's first or last record, where ranges join. */
const caseArb: fc.Arbitrary<[Tamper, number]> = fc.integer({ min: 2, max: N / 3 }).chain((rangeSize) => {
  const edges = Array.from({ length: Math.ceil(N / rangeSize) }, (_, k) => [k * rangeSize, k * rangeSize + 1])
    .flat()
    .filter((s) => s >= 1 && s <= N);
  const seq = (max: number) =>
    fc.oneof(fc.integer({ min: 1, max }), fc.constantFrom(...edges.filter((s) => s <= max)));
  const tamper: fc.Arbitrary<Tamper> = fc.oneof(
    fc.constant({ kind: 'none' as const }),
    fc.record({
      kind: fc.constantFrom(
        'payload' as const,
        'forge' as const,
        'hash' as const,
        'prev' as const,
        'delete' as const,
        'truncate' as const,
      ),
      seq: seq(N),
    }),
    fc.record({ kind: fc.constant('swap' as const), seq: seq(N - 1) }),
    fc.record({ kind: fc.constant('version' as const), seq: seq(N), version: fc.constantFrom(1, 2, 3) }),
  );
  return fc.tuple(tamper, fc.constant(rangeSize));
});

describe('audit verification on worker threads', () => {
  it('uses workers only for logs of at least three ranges, never when told 0, on PostgreSQL when told so', () => {
    expect(verifyWorkers(149_999)).toBe(0);
    expect(verifyWorkers(150_000, { workers: 2 })).toBe(2);
    expect(verifyWorkers(150_000, { workers: 4 })).toBe(3);
    expect(verifyWorkers(1_000_000, { workers: 3 })).toBe(3);
    expect(verifyWorkers(1_000_000, { workers: 0 })).toBe(0);
    expect(verifyWorkers(14, { workers: 2, rangeSize: 5 })).toBe(0);
    expect(verifyWorkers(15, { workers: 2, rangeSize: 5 })).toBe(2);
    // PostgreSQL only when asked for.
    expect(verifyWorkers(1_000_000, {}, 'postgres')).toBe(0);
    expect(verifyWorkers(1_000_000, { workers: 2 }, 'postgres')).toBe(2);
  });

  it('answers the ranges in log order, each linked to the one before, with the record hashes asked for', async () => {
    const file = copyOf();
    const db = new Database(file, { readonly: true });
    const records = db.prepare('SELECT seq, prev_hash, hash FROM audit_log ORDER BY seq').all() as {
      seq: number;
      prev_hash: string;
      hash: string;
    }[];
    db.close();
    const ranges: CheckedRange[] = [];
    for await (const r of checkRangesOnWorkers({ kind: 'sqlite', file }, N, 30, 2, 10)) ranges.push(r);
    expect(ranges.map((r) => [r.from, r.to])).toEqual([
      [1, 10],
      [11, 20],
      [21, 30],
      [31, 40],
      [41, 48],
    ]);
    // Records 1-3 are chain format 1, which the workers leave to the calling thread.
    expect(ranges.map((r) => r.ok)).toEqual([false, true, true, true, true]);
    for (const r of ranges.slice(1)) {
      expect(r.firstPrev).toBe(records[r.from - 2]?.hash);
      expect(r.lastHash).toBe(records[r.to - 1]?.hash);
      expect(r.hashes).toBe(
        r.from <= 30
          ? records
              .slice(r.from - 1, r.to)
              .map((x) => x.hash)
              .join('')
          : '',
      );
    }
  });

  it('has closed every worker connection and ended every thread by the time it returns', async () => {
    // A verification that returned while its threads still held the file would leave work running past its caller:
    // a store closed, a process ending, a test's fork exiting with a thread mid-teardown in a native module.
    const file = copyOf();
    const real = fs.realpathSync(file);
    const openOnFile = () =>
      fs.readdirSync('/proc/self/fd').filter((fd) => {
        try {
          return fs.readlinkSync(`/proc/self/fd/${fd}`) === real;
        } catch {
          return false; // the directory's own descriptor, closed by now
        }
      }).length;
    expect(openOnFile()).toBe(0);
    for (let round = 0; round < 3; round++) {
      let seen = 0;
      for await (const _ of checkRangesOnWorkers({ kind: 'sqlite', file }, N, N, 2, 10)) {
        seen++;
        // The workers hold the file while they check it: what the count after is compared with.
        if (seen === 1) expect(openOnFile()).toBeGreaterThan(0);
      }
      expect(seen).toBe(5);
      expect(openOnFile()).toBe(0);
    }
    // And so when the caller stops early, at the first range.
    for await (const _ of checkRangesOnWorkers({ kind: 'sqlite', file }, N, N, 2, 10)) break;
    expect(openOnFile()).toBe(0);
    // The calling thread's read-only connection, checking in ranges in place, too.
    for await (const _ of checkRangesInPlace({ kind: 'sqlite', file }, N, N, 10)) {
      expect(openOnFile()).toBe(1);
      break;
    }
    expect(openOnFile()).toBe(0);
  });

  it('fails when the workers cannot open the database, and the verification then checks in place', async () => {
    const missing = { kind: 'sqlite' as const, file: path.join(dir, 'missing.db') };
    await expect(async () => {
      for await (const _ of checkRangesOnWorkers(missing, N, 0, 2, 10)) void _;
    }).rejects.toThrow();
    const file = copyOf();
    const db = new SqliteDb(file, { checkpointer: false });
    // The same database, but its file named wrong: the workers fail to start.
    const lying = Object.create(db, { readSource: { value: missing } }) as SqliteDb;
    try {
      expect(await new AuditLog(lying, { verify: { workers: 2, rangeSize: 10 } }).verify()).toMatchObject({
        ok: true,
        verified: N,
        records: N,
      });
    } finally {
      await db.close();
    }
  });

  it('gives the event loop turns while it checks in ranges on the calling thread', async () => {
    const dataDir = path.join(dir, 'turns');
    const store = await openStore({ dataDir, auditVerify: { workers: 0 } });
    try {
      for (let b = 0; b < 20; b++) {
        await store.db.tx((tx) =>
          store.audit.appendMany(
            tx,
            Array.from({ length: 1000 }, (_, i) => ({
              actor: 'operator:test',
              type: 'test.event',
              payload: { b, i },
            })),
          ),
        );
      }
      // Turns of the event loop (its check phase) while 20,000 records, four chunks of 5,000, are checked.
      let turns = 0;
      let done = false;
      const tick = () => {
        turns++;
        if (!done) setImmediate(tick);
      };
      setImmediate(tick);
      const report = await store.audit.verify();
      done = true;
      expect(report).toMatchObject({ ok: true, verified: 20_000 });
      expect(turns).toBeGreaterThanOrEqual(3);
    } finally {
      await store.close();
    }
  });

  it('signs the same checkpoint on worker threads as in place, and refuses a broken log the same way', async () => {
    const key = loadSigningKey(path.join(dir, 'seed'), { create: true }) as SigningKey;
    const checkpoint = async (file: string, verify: ParallelVerifyOptions) => {
      const db = new SqliteDb(file, { checkpointer: false });
      try {
        return await new AuditLog(db, { verify }).checkpoint(key);
      } finally {
        await db.close();
      }
    };
    const answered: CheckedRange[] = [];
    const [inPlace, onWorkers] = [
      await checkpoint(copyOf(), { workers: 0 }),
      await checkpoint(copyOf(), { workers: 2, rangeSize: 7, onRange: (r) => answered.push(r) }),
    ];
    expect(answered).toHaveLength(Math.ceil(N / 7));
    expect(onWorkers).toMatchObject({ treeSize: N, rootHash: inPlace.rootHash, headHash: inPlace.headHash });
    const forged = copyOf((db) => apply({ kind: 'forge', seq: 14 }, db));
    await expect(checkpoint(forged, { workers: 2, rangeSize: 7 })).rejects.toThrow(
      /refusing to checkpoint a broken log: record 15 does not link/,
    );
  });

  it('reports exactly what the record-by-record check reports, on workers or in ranges in place, however the log is split', async () => {
    await fc.assert(
      fc.asyncProperty(caseArb, async ([tamper, rangeSize]) => {
        const file = copyOf((db) => apply(tamper, db));
        // The reference: record by record throughout.
        const inPlace = await verifyFile(file, { workers: 0, ranges: false });
        const answered: CheckedRange[] = [];
        const onWorkers = await verifyFile(file, { workers: 2, rangeSize, onRange: (r) => answered.push(r) });
        expect(onWorkers).toEqual(inPlace);
        // In ranges on the calling thread, as SQLite does with no workers.
        expect(await verifyFile(file, { workers: 0, rangeSize })).toEqual(inPlace);
        // Workers take a log of three ranges or more (its last record's seq counts: the check starts from there).
        const last = tamper.kind === 'truncate' ? tamper.seq - 1 : N;
        if (last >= 3 * rangeSize) expect(answered.length).toBeGreaterThan(0);
        else expect(answered).toEqual([]);
        if (tamper.kind === 'none') {
          expect(inPlace).toMatchObject({ ok: true, verified: N, records: N, unsealed: 0 });
          expect(answered).toHaveLength(Math.ceil(N / rangeSize));
        }
      }),
      {
        numRuns: 60,
        // Always among the cases: a forged record that ends a range, and one that starts a range, whose ranges
        // each pass in their worker; only the link across the two ranges gives them away.
        examples: [
          [[{ kind: 'forge', seq: 10 }, 10]],
          [[{ kind: 'forge', seq: 11 }, 10]],
          [[{ kind: 'none' }, 7]],
        ],
      },
    );
  });
});

describe.skipIf(!PG_URL)('audit verification on worker threads, PostgreSQL', () => {
  it('fails, rather than waits forever, when the workers lose their connections between two ranges', async () => {
    const t = await postgresBackend().create();
    try {
      for (let i = 0; i < 40; i++) await t.store.audit.record({ actor: 'operator:test', type: 'test.event' });
      const source = t.store.db.readSource;
      if (!source) throw new Error('PostgreSQL gives a read source');
      const ranges = checkRangesOnWorkers(source, 40, 0, 2, 2);
      // The first range, after which both workers answer what was sent to them and wait for more.
      expect((await ranges.next()).value).toMatchObject({ from: 1, to: 2, ok: true });
      await new Promise((r) => setTimeout(r, 300));
      // The database drops the workers' connections (a restart, a failover, an administrator): each worker's client
      // fails while idle, and its thread ends.
      const killed = await t.raw(
        `SELECT pg_terminate_backend(pid) AS ok FROM pg_stat_activity
          WHERE pid <> pg_backend_pid() AND query LIKE '%FROM audit_log WHERE seq >= $1 AND seq <= $2%'`,
      );
      expect(killed.length).toBe(2);
      await new Promise((r) => setTimeout(r, 300));
      // Bounded: a range sent to a thread that is gone would never be answered.
      const drained = (async () => {
        for (let r = await ranges.next(); !r.done; r = await ranges.next()) void r;
      })();
      const outcome = await Promise.race([
        drained.then(
          () => 'finished',
          () => 'failed',
        ),
        new Promise((r) => setTimeout(() => r('still waiting after 10 s'), 10_000)),
      ]);
      expect(outcome).toBe('failed');
      // And the verification itself falls back to the calling thread.
      const log = new AuditLog(t.store.db, { verify: { workers: 2, rangeSize: 2 } });
      expect(await log.verify()).toMatchObject({ ok: true, verified: 40 });
    } finally {
      await t.cleanup();
    }
  });
});

// The workers hash a preimage the database builds (contentPreimageSql) instead of quoting the columns in
// JavaScript. Were the two to differ for some string, the range would fail and be checked again in place: the
// answer stays right, only slower. This keeps them the same for whatever strings an append can store.
describe.each(backends)("each record's preimage built by the database on $name", (backend) => {
  it.skipIf(!backend.enabled)(
    'is the one the appender hashed, for any strings, and every range passes',
    async () => {
      // Any code points (controls, quotes, backslashes, U+2028, astral ones), lone surrogates too, which an append
      // stores as U+FFFD; not NUL on PostgreSQL, whose text cannot hold it.
      const text = fc
        .string({ unit: 'binary', maxLength: 8 })
        .map((s) => (backend.name === 'postgres' ? s.replaceAll('\u0000', '') : s));
      const odd = fc.oneof(text, fc.constantFrom('\ud800', 'a\udfffb', '"\\\n\u2028', '\u{1F600}'));
      const event = fc.record({
        actor: odd.map((s) => `agent:${s}`),
        type: odd.map((s) => `test.${s}`),
        subject: fc.option(odd, { nil: null }),
        payload: fc.dictionary(odd, odd, { maxKeys: 3 }),
      });
      await fc.assert(
        fc.asyncProperty(fc.array(event, { minLength: 4, maxLength: 12 }), async (events) => {
          const t = await backend.create();
          try {
            for (const e of events) await t.store.audit.record(e);
            const stored = (await t.raw(
              `SELECT seq, ts, actor, type, subject, payload, ${contentPreimageSql(backend.name)} AS preimage
               FROM audit_log ORDER BY seq`,
            )) as {
              ts: string;
              actor: string;
              type: string;
              subject: string | null;
              payload: string;
              preimage: string;
            }[];
            expect(stored).toHaveLength(events.length);
            for (const r of stored) expect(r.preimage).toBe(contentPreimage(r, r.payload));
            const source = t.store.db.readSource;
            if (!source) throw new Error('no read source');
            const ranges: CheckedRange[] = [];
            for await (const r of checkRangesOnWorkers(source, events.length, 0, 2, 2)) ranges.push(r);
            expect(ranges.every((r) => r.ok)).toBe(true);
          } finally {
            await t.cleanup();
          }
        }),
        { numRuns: 8 },
      );
    },
  );
});
