// @ts-check
// A worker thread of the parallel audit verification (parallel-verify.ts): checks ranges of version 2 records of
// an audit log (range-check.js) on a read-only connection of its own (SQLite file or PostgreSQL). For each range it
// reports only that every record in it is in place, links to the one before and matches its hash, plus the
// range's first prev_hash and last hash, which the main thread links across ranges. Anything else makes it answer
// `ok: false`, and the main thread checks that range itself, record by record, to name the first problem.
import { parentPort, workerData } from 'node:worker_threads';
import { checkRange, openRangeReader } from './range-check.js';

const port = /** @type {import('node:worker_threads').MessagePort} */ (parentPort);
const reader = await openRangeReader(/** @type {import('../store/db.js').ReadSource} */ (workerData.source));

port.on('message', async (/** @type {{ id: number; from: number; to: number; leaves: boolean }} */ m) => {
  if (m.id < 0) {
    // Done: close the connection, and the thread ends with nothing left to do.
    await reader.close().catch(() => undefined);
    port.close();
    return;
  }
  let answer;
  try {
    answer = await checkRange(reader, m.from, m.to, m.leaves);
  } catch {
    // The calling thread checks the range itself and reports what it finds.
    answer = { ok: false };
  }
  port.postMessage({ id: m.id, from: m.from, to: m.to, ...answer });
});
