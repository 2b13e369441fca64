// @ts-check
// A worker thread of the parallel audit verification (parallel-verify.ts): checks ranges of version 2 records of
// an SQLite audit log on a read-only connection of its own. For each range it reports only that every record in
// it is in place, links to the one before and matches its hash, plus the range's first prev_hash and last hash,
// which the main thread links across ranges. Anything else (a gap, a bad link or hash, a version 1 record) makes it
// answer `ok: false`, and the main thread checks that range itself, record by record, to name the first problem.
import { parentPort, workerData } from 'node:worker_threads';
import Database from 'better-sqlite3';
import { contentHash, linkHash } from './chain-v2.js';

const port = /** @type {import('node:worker_threads').MessagePort} */ (parentPort);
const db = new Database(workerData.file, { readonly: true, fileMustExist: true });
const rows = db
  .prepare(
    'SELECT seq, ts, actor, type, subject, payload, prev_hash, hash, version FROM audit_log WHERE seq >= ? AND seq <= ? ORDER BY seq',
  )
  .raw(true);

/**
 * @param {number} from
 * @param {number} to
 * @param {boolean} leaves  answer the record hashes too (for the Merkle root), concatenated
 */
function check(from, to, leaves) {
  let expected = from;
  let firstPrev = '';
  let last = '';
  /** @type {string[]} */
  const hashes = [];
  for (const row of rows.iterate(from, to)) {
    const [seq, ts, actor, type, subject, payload, prevHash, hash, version] = /** @type {any[]} */ (row);
    if (Number(seq) !== expected || version !== 2) return { ok: false };
    if (expected === from) firstPrev = prevHash;
    else if (prevHash !== last) return { ok: false };
    if (linkHash(expected, prevHash, contentHash({ ts, actor, type, subject }, payload)) !== hash)
      return { ok: false };
    if (leaves) hashes.push(hash);
    last = hash;
    expected++;
  }
  if (expected !== to + 1) return { ok: false };
  return { ok: true, firstPrev, lastHash: last, hashes: leaves ? hashes.join('') : '' };
}

port.on('message', (/** @type {{ id: number; from: number; to: number; leaves: boolean }} */ m) => {
  if (m.id < 0) {
    db.close();
    port.close();
    return;
  }
  let answer;
  try {
    answer = check(m.from, m.to, m.leaves);
  } catch (err) {
    answer = { ok: false, error: String(/** @type {Error} */ (err).message ?? err) };
  }
  port.postMessage({ id: m.id, from: m.from, to: m.to, ...answer });
});
