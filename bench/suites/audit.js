// Audit log: appends per second (single and batched) and full verification time per 100,000 records, on each
// backend, against a baseline measured in the same run: the same row inserted into a plain table with no chain.
import { AuditLog, cpuVerifyWorkers, verifyWorkers } from '@autonomy-os/core';
import { backends, opsPerSecond, seconds } from '../harness.js';

export const name = 'audit';

export async function run({ quick }) {
  const results = [];
  // Quick keeps each backend to a few seconds even when the disk is shared (every single append is an fsync).
  const singles = quick ? 100 : 2000;
  const batches = quick ? 20 : 200;
  const batchSize = 50;
  // Large batches: what a busy node's group commit or a bulk import hands the log in one transaction.
  const largeBatches = quick ? 20 : 100;
  const largeBatchSize = 1000;
  // On SQLite 100,000 in quick mode, which verification checks in ranges on the calling thread by default (workers
  // start at 150,000); a full run verifies 500,000, on worker threads by default, where starting them (some 35-45 ms)
  // no longer weighs on the rate.
  // PostgreSQL verifies on the calling thread by default, and fills more slowly: 30,000 in quick mode, else 100,000.
  const verifyRecordsOf = (backend) =>
    backend === 'sqlite' ? (quick ? 100_000 : 500_000) : quick ? 30_000 : 100_000;
  for (const backend of await backends()) {
    const { store, cleanup } = await backend.open();
    try {
      await store.db.exec(
        'CREATE TABLE bench_plain (seq BIGINT PRIMARY KEY, ts TEXT, actor TEXT, type TEXT, payload TEXT)',
      );
      const payload = { agent: 'bench-bot', tool: 'crm.lookup', input: { customer: 'c-123' } };
      const baseline = await opsPerSecond(singles, (i) =>
        store.db.tx((tx) =>
          tx.run('INSERT INTO bench_plain (seq, ts, actor, type, payload) VALUES (?, ?, ?, ?, ?)', [
            i + 1,
            new Date().toISOString(),
            'agent:bench-bot',
            'bench.event',
            JSON.stringify({ ...payload, i }),
          ]),
        ),
      );
      const single = await opsPerSecond(singles, (i) =>
        store.audit.record({ actor: 'agent:bench-bot', type: 'bench.event', payload: { ...payload, i } }),
      );
      const batchedOps = await opsPerSecond(batches, (b) =>
        store.db.tx((tx) =>
          store.audit.appendMany(
            tx,
            Array.from({ length: batchSize }, (_, i) => ({
              actor: 'agent:bench-bot',
              type: 'bench.event',
              payload: { ...payload, b, i },
            })),
          ),
        ),
      );
      // Built before the clock starts (the caller's work), and three batches first to warm up statements and code.
      const large = Array.from({ length: largeBatches + 3 }, (_, b) =>
        Array.from({ length: largeBatchSize }, (_, i) => ({
          actor: 'agent:bench-bot',
          type: 'bench.event',
          payload: { ...payload, b, i },
        })),
      );
      for (let b = 0; b < 3; b++) await store.db.tx((tx) => store.audit.appendMany(tx, large[b]));
      const largeOps = await opsPerSecond(largeBatches, (b) =>
        store.db.tx((tx) => store.audit.appendMany(tx, large[b + 3])),
      );
      // Its baseline: the same rows into the plain table in one transaction, 100 a statement, no chain.
      const plainSql =
        'INSERT INTO bench_plain (seq, ts, actor, type, payload) VALUES ' +
        Array.from({ length: 100 }, () => '(?, ?, ?, ?, ?)').join(', ');
      const plainBatch = (b) =>
        store.db.tx(async (tx) => {
          const ts = new Date().toISOString();
          for (let at = 0; at < largeBatchSize; at += 100) {
            const params = [];
            for (let i = at; i < at + 100; i++) {
              const e = large[b][i];
              params.push(1_000_000 + b * largeBatchSize + i, ts, e.actor, e.type, JSON.stringify(e.payload));
            }
            await tx.run(plainSql, params);
          }
        });
      for (let b = 0; b < 3; b++) await plainBatch(b);
      const plainOps = await opsPerSecond(largeBatches, (b) => plainBatch(b + 3));
      results.push(
        { suite: name, backend: backend.name, metric: 'plain insert (baseline), rows/s', value: baseline },
        {
          suite: name,
          backend: backend.name,
          metric: 'audit append, single, records/s',
          value: single,
          ratio: single / baseline,
        },
        {
          suite: name,
          backend: backend.name,
          metric: `audit append, batches of ${batchSize}, records/s`,
          value: batchedOps * batchSize,
          ratio: (batchedOps * batchSize) / baseline,
        },
        {
          suite: name,
          backend: backend.name,
          metric: `plain insert, batches of ${largeBatchSize} (baseline), rows/s`,
          value: plainOps * largeBatchSize,
        },
        {
          suite: name,
          backend: backend.name,
          metric: `audit append, batches of ${largeBatchSize}, records/s`,
          value: largeOps * largeBatchSize,
          ratio: largeOps / plainOps,
          note: 'durable; ratio: vs the plain batch insert',
        },
      );
      // Fill up to the verification size with large batches, then time a full verify.
      let have = (await store.audit.head()).seq;
      const verifyRecords = verifyRecordsOf(backend.name);
      while (have < verifyRecords) {
        const n = Math.min(1000, verifyRecords - have);
        await store.db.tx((tx) =>
          store.audit.appendMany(
            tx,
            Array.from({ length: n }, (_, i) => ({
              actor: 'agent:bench-bot',
              type: 'bench.event',
              payload: { ...payload, i },
            })),
          ),
        );
        have += n;
      }
      // The same verification record by record on the calling thread (the baseline: what every record's check
      // costs), in ranges on the calling thread (SQLite's way with no workers; PostgreSQL checks record by record
      // there), on worker threads (as many as the CPUs, at most 4, whatever the backend's default), and as
      // configured by default.
      const kind = store.db.readSource?.kind ?? 'sqlite';
      const threads = cpuVerifyWorkers();
      const byRecord = { workers: 0, ranges: false };
      // One untimed pass first: the first reader of the log pays for the page cache and the JIT.
      await new AuditLog(store.db, { verify: byRecord }).verify();
      await new AuditLog(store.db, { verify: { workers: 0 } }).verify();
      const inPlace = await seconds(() => new AuditLog(store.db, { verify: byRecord }).verify());
      const inRanges = await seconds(() => new AuditLog(store.db, { verify: { workers: 0 } }).verify());
      const { seconds: s, out } = await seconds(() => store.audit.verify());
      // Last: the worker threads end after the verification answers (their teardown is not waited for), and would
      // share the CPUs with whatever ran next.
      const onWorkers = await seconds(() =>
        // Two ranges a thread at least, so that the workers run whatever the log's length.
        new AuditLog(store.db, {
          verify: { workers: threads, rangeSize: Math.ceil(verifyRecords / (2 * threads)) },
        }).verify(),
      );
      if (!out.ok || !inPlace.out.ok || !inRanges.out.ok || !onWorkers.out.ok)
        throw new Error('benchmark log failed verification');
      const byDefault = verifyWorkers(out.verified, {}, kind);
      results.push(
        {
          suite: name,
          backend: backend.name,
          metric: 'full verification, seconds per 100,000 records',
          value: (s * 100_000) / out.verified,
          note: `${out.verified} records verified in ${s.toFixed(2)} s, ${byDefault ? `${byDefault} worker threads` : 'on the calling thread'} (the default here)`,
        },
        {
          suite: name,
          backend: backend.name,
          metric: 'full verification record by record on the calling thread (baseline), records/s',
          value: out.verified / inPlace.seconds,
        },
        {
          suite: name,
          backend: backend.name,
          metric: 'full verification in ranges on the calling thread, records/s',
          value: out.verified / inRanges.seconds,
          ratio: inPlace.seconds / inRanges.seconds,
          note:
            kind === 'sqlite' ? 'the database builds each preimage' : 'PostgreSQL: record by record here too',
        },
        {
          suite: name,
          backend: backend.name,
          metric: `full verification on ${threads} worker threads, records/s`,
          value: out.verified / onWorkers.seconds,
          ratio: inPlace.seconds / onWorkers.seconds,
        },
        {
          suite: name,
          backend: backend.name,
          metric: 'full verification, records/s',
          value: out.verified / s,
          ratio: inPlace.seconds / s,
        },
      );
    } finally {
      await cleanup();
    }
  }
  return results;
}
