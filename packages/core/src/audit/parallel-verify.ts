import os from 'node:os';
import { Worker } from 'node:worker_threads';
import type { ReadSource } from '../store/db.js';
import { checkRange, openRangeReader } from './range-check.js';

/** One range of records as a verification worker found it (see verify-worker.js). */
export interface CheckedRange {
  from: number;
  to: number;
  /** Every record in the range is in place, links to the one before and matches its hash (version 2). */
  ok: boolean;
  /** The first record's prev_hash, which must be the hash of the record before the range. */
  firstPrev?: string;
  lastHash?: string;
  /** The records' hashes concatenated (hex), when asked for. */
  hashes?: string;
}

/** How an audit log is verified on worker threads. */
export interface ParallelVerifyOptions {
  /**
   * Worker threads; 0 verifies on the calling thread only. Default: on SQLite the available CPUs, at most 4; on
   * PostgreSQL 0 — with the database on the same 2-core machine, workers were slower than the calling thread
   * (docs/performance.md), so they are for a node with cores to spare, set here.
   */
  workers?: number;
  /** Records a worker checks at a time. Default 50,000; logs shorter than three ranges are checked in place. */
  rangeSize?: number;
  /**
   * Check in ranges first — on the workers, or with none on SQLite on the calling thread, a read-only connection
   * of its own where the database builds each record's preimage (range-check.js) — and record by record only
   * where a range fails. Default true. false: record by record throughout (PostgreSQL always checks in place so:
   * there the database building the preimages was slower, docs/performance.md), the reference the range checks
   * are tested against.
   */
  ranges?: boolean;
  /** Called with each range a worker answered, in log order: progress, and what tests watch. */
  onRange?: (range: CheckedRange) => void;
}

/**
 * Records a worker checks at a time, by default. Starting the worker threads and their connections costs some
 * 35-45 ms here, what the calling thread takes for 15,000-20,000 records checked in ranges in place: with three
 * ranges as the least, logs under 150,000 records are checked in place (on 2 cores, 100,000 records: 445-465k/s in
 * place against 410-430k/s on two workers; 150,000: 390-430k against 450-500k; 500,000: 470k against 680-700k).
 */
export const DEFAULT_VERIFY_RANGE = 50_000;

/** Most verification threads: one a CPU, at most 4 (SQLite's default; the bench measures this many). */
export function cpuVerifyWorkers(): number {
  return Math.min(4, os.availableParallelism());
}

/**
 * Checks records 1..`total` of the SQLite database at `source` on the calling thread in ranges, as a worker would,
 * and yields them in log order: about 1.7x the record-by-record check, since the database builds each record's
 * preimage and nothing is decoded into objects. The read-only connection is closed when the caller stops.
 */
export async function* checkRangesInPlace(
  source: ReadSource,
  total: number,
  leavesUpTo: number,
  rangeSize = DEFAULT_VERIFY_RANGE,
): AsyncGenerator<CheckedRange> {
  const reader = await openRangeReader(source);
  try {
    for (let from = 1; from <= total; from += rangeSize) {
      const to = Math.min(total, from + rangeSize - 1);
      yield { from, to, ...(await checkRange(reader, from, to, from <= leavesUpTo)) };
    }
  } finally {
    await reader.close();
  }
}

/** The fewest ranges a log has for workers to check it: below, their start costs more than they save. */
export const WORKER_RANGES = 3;

/** The worker threads a verification of `total` records would use (0: check them in place). */
export function verifyWorkers(
  total: number,
  options: ParallelVerifyOptions = {},
  kind: ReadSource['kind'] = 'sqlite',
): number {
  const rangeSize = options.rangeSize ?? DEFAULT_VERIFY_RANGE;
  const workers = options.workers ?? (kind === 'sqlite' ? cpuVerifyWorkers() : 0);
  if (workers <= 0 || total < WORKER_RANGES * rangeSize) return 0;
  return Math.min(workers, Math.ceil(total / rangeSize));
}

/**
 * Checks records 1..`total` of the database at `source` in ranges on `workers` threads, each with a read-only
 * connection of its own, and yields the ranges in log order. The hashes of records up to `leavesUpTo` come back
 * too, for the caller's Merkle accumulator. At most two ranges a worker are in flight, so memory stays bounded
 * however long the log. A worker that fails (it could not open the file, say) throws here; the threads stop
 * when the caller stops iterating.
 */
export async function* checkRangesOnWorkers(
  source: ReadSource,
  total: number,
  leavesUpTo: number,
  workers: number,
  rangeSize = DEFAULT_VERIFY_RANGE,
): AsyncGenerator<CheckedRange> {
  const url = new URL('./verify-worker.js', import.meta.url);
  const threads: Worker[] = [];
  const waiting = new Map<number, { resolve: (r: CheckedRange) => void; reject: (e: Error) => void }>();
  // Once a worker has failed, every range in flight and every range sent after fails too (a range sent to a
  // thread that is gone would never be answered).
  let failure: Error | undefined;
  const failAll = (err: Error) => {
    failure ??= err;
    for (const w of waiting.values()) w.reject(failure);
    waiting.clear();
  };
  const lost = () => failAll(new Error('audit verification worker exited'));
  try {
    for (let i = 0; i < workers; i++) {
      const worker = new Worker(url, { workerData: { source } });
      worker.on('message', (r: CheckedRange & { id: number }) => {
        const w = waiting.get(r.id);
        waiting.delete(r.id);
        w?.resolve(r);
      });
      worker.on('error', (err) => failAll(err));
      worker.on('exit', lost);
      threads.push(worker);
    }
    const ranges = Math.ceil(total / rangeSize);
    const answers: Promise<CheckedRange>[] = [];
    const dispatch = (id: number) => {
      const from = id * rangeSize + 1;
      const to = Math.min(total, from + rangeSize - 1);
      answers[id] = failure
        ? Promise.reject(failure)
        : new Promise<CheckedRange>((resolve, reject) => waiting.set(id, { resolve, reject }));
      // Marked handled here: a rejection is seen when its turn to be yielded comes.
      answers[id].catch(() => undefined);
      if (!failure)
        (threads[id % workers] as Worker).postMessage({ id, from, to, leaves: from <= leavesUpTo });
    };
    let sent = 0;
    for (let next = 0; next < ranges; next++) {
      while (sent < ranges && sent < next + 2 * workers) dispatch(sent++);
      const answer = await (answers[next] as Promise<CheckedRange>);
      delete answers[next];
      yield answer;
    }
  } finally {
    // Each worker closes its connection and ends; one that has not within a second is stopped. Waited for (a
    // thread's teardown takes 15-25 ms here, some 5% of verifying the 150,000 records workers start at): a
    // verification that returned with threads still holding the file would leave work running past its caller, who
    // may close the store or end the process next, with a thread mid-teardown in a native module.
    for (const w of threads) w.off('exit', lost);
    await Promise.all(threads.map(stopped));
  }
}

/** Asks a verification worker to close its connection and end; answers once it has (or, after a second, was stopped). */
function stopped(worker: Worker): Promise<void> {
  if (worker.threadId < 0) return Promise.resolve(); // it has ended already
  return new Promise<void>((resolve) => {
    const timer = setTimeout(() => void worker.terminate(), 1000);
    worker.once('exit', () => {
      clearTimeout(timer);
      resolve();
    });
    worker.postMessage({ id: -1 });
  });
}
