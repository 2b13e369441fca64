// @ts-check
// A worker thread of the parallel audit verification (parallel-verify.ts): checks ranges of version 2 records of
// an audit log on a read-only connection of its own (SQLite file or PostgreSQL). For each range it reports only
// that every record in it is in place, links to the one before and matches its hash, plus the range's first
// prev_hash and last hash, which the main thread links across ranges. Anything else (a gap, a bad link or hash, a
// version 1 record) makes it answer `ok: false`, and the main thread checks that range itself, record by record,
// to name the first problem.
import { parentPort, workerData } from 'node:worker_threads';
import { contentHash, linkHash } from './chain-v2.js';

const COLUMNS = 'seq, ts, actor, type, subject, payload, prev_hash, hash, version';
const port = /** @type {import('node:worker_threads').MessagePort} */ (parentPort);
const source = /** @type {import('../store/db.js').ReadSource} */ (workerData.source);

/** @type {(from: number, to: number) => Promise<Iterable<unknown[]>>} the rows from..to as arrays, in seq order */
let rowsOf;
/** @type {() => Promise<void>} */
let close;
if (source.kind === 'sqlite') {
  const { default: Database } = await import('better-sqlite3');
  const db = new Database(source.file, { readonly: true, fileMustExist: true });
  const stmt = db
    .prepare(`SELECT ${COLUMNS} FROM audit_log WHERE seq >= ? AND seq <= ? ORDER BY seq`)
    .raw(true);
  rowsOf = async (from, to) => /** @type {Iterable<unknown[]>} */ (stmt.iterate(from, to));
  close = async () => void db.close();
} else {
  const { default: pg } = await import('pg');
  const client = new pg.Client(source.client);
  await client.connect();
  // A read-only transaction per range would add round trips for nothing: each range is one statement.
  await client.query('SET default_transaction_read_only = on');
  rowsOf = async (from, to) =>
    (
      await client.query({
        text: `SELECT ${COLUMNS} FROM audit_log WHERE seq >= $1 AND seq <= $2 ORDER BY seq`,
        values: [from, to],
        rowMode: 'array',
      })
    ).rows;
  // Ended, not dropped: the server then logs no unexpected end of a client connection.
  close = () => client.end();
}

/**
 * @param {number} from
 * @param {number} to
 * @param {boolean} leaves  answer the record hashes too (for the Merkle root), concatenated
 */
async function check(from, to, leaves) {
  let expected = from;
  let firstPrev = '';
  let last = '';
  /** @type {string[]} */
  const hashes = [];
  for (const row of await rowsOf(from, to)) {
    const [seq, ts, actor, type, subject, payload, prevHash, hash, version] = /** @type {any[]} */ (row);
    if (Number(seq) !== expected || Number(version) !== 2) return { ok: false };
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

port.on('message', async (/** @type {{ id: number; from: number; to: number; leaves: boolean }} */ m) => {
  if (m.id < 0) {
    // Done: close the connection, and the thread ends with nothing left to do.
    await close().catch(() => undefined);
    port.close();
    return;
  }
  let answer;
  try {
    answer = await check(m.from, m.to, m.leaves);
  } catch {
    // The calling thread checks the range itself and reports what it finds.
    answer = { ok: false };
  }
  port.postMessage({ id: m.id, from: m.from, to: m.to, ...answer });
});
