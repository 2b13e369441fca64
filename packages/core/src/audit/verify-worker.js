// @ts-check
// A worker thread of the parallel audit verification (parallel-verify.ts): checks ranges of version 2 records of
// an audit log on a read-only connection of its own (SQLite file or PostgreSQL). For each range it reports only
// that every record in it is in place, links to the one before and matches its hash, plus the range's first
// prev_hash and last hash, which the main thread links across ranges. Anything else (a gap, a bad link or hash, a
// version 1 record) makes it answer `ok: false`, and the main thread checks that range itself, record by record,
// to name the first problem.
import { parentPort, workerData } from 'node:worker_threads';
import { contentPreimageSql, linkHash, sha256As } from './chain-v2.js';

/**
 * A record as the worker reads it: seq, its content hash's preimage built by the database (contentPreimageSql),
 * prev_hash and hash. Only version 2 records are read, so a version 1 record is a gap, which fails its range.
 * @param {'sqlite' | 'postgres'} dialect
 * @param {string} from  placeholder of the first seq
 * @param {string} to  placeholder of the last
 */
const select = (dialect, from, to) =>
  `SELECT seq, ${contentPreimageSql(dialect)}, prev_hash, hash FROM audit_log ` +
  `WHERE seq >= ${from} AND seq <= ${to} AND version = 2 ORDER BY seq`;
/** Rows SQLite hands over at a time: `all()` of a few thousand decodes faster than `iterate()` row by row. */
const CHUNK = 5000;
const port = /** @type {import('node:worker_threads').MessagePort} */ (parentPort);
const source = /** @type {import('../store/db.js').ReadSource} */ (workerData.source);

/** @type {(from: number, to: number) => AsyncIterable<unknown[][]>} the rows from..to as arrays, in seq order, in chunks */
let rowsOf;
/** @type {() => Promise<void>} */
let close;
if (source.kind === 'sqlite') {
  const { default: Database } = await import('better-sqlite3');
  const db = new Database(source.file, { readonly: true, fileMustExist: true });
  const stmt = db.prepare(select('sqlite', '?', '?')).raw(true);
  rowsOf = async function* (from, to) {
    for (let first = from; first <= to; first += CHUNK)
      yield /** @type {unknown[][]} */ (stmt.all(first, Math.min(to, first + CHUNK - 1)));
  };
  close = async () => void db.close();
} else {
  const { default: pg } = await import('pg');
  const client = new pg.Client(source.client);
  await client.connect();
  // A read-only transaction per range would add round trips for nothing: each range is one statement.
  await client.query('SET default_transaction_read_only = on');
  const text = select('postgres', '$1', '$2');
  rowsOf = async function* (from, to) {
    yield (await client.query({ text, values: [from, to], rowMode: 'array' })).rows;
  };
  // Ended, not dropped: the server then logs no unexpected end of a client connection.
  close = () => client.end();
}

/**
 * A range being checked: the next seq expected, the range's first prev_hash, the last hash seen, and the hashes
 * kept for the Merkle root when asked for.
 * @typedef {{ from: number; expected: number; firstPrev: string; last: string; hashes: string[] | undefined }} Range
 */

/**
 * Checks one chunk of a range's rows, in order; false at the first that is out of place, links to anything but the
 * record before or does not match its hash. A plain loop in a function of its own: inside the async `check` the
 * same loop ran some 15% slower.
 * @param {unknown[][]} rows
 * @param {Range} range
 * @returns {boolean}
 */
function checkRows(rows, range) {
  for (let i = 0; i < rows.length; i++) {
    const [seq, preimage, prevHash, hash] = /** @type {[number | string, string, string, string]} */ (
      rows[i]
    );
    if (Number(seq) !== range.expected) return false;
    if (range.expected === range.from) range.firstPrev = prevHash;
    else if (prevHash !== range.last) return false;
    if (linkHash(range.expected, prevHash, sha256As(preimage, 'hex')) !== hash) return false;
    range.hashes?.push(hash);
    range.last = hash;
    range.expected++;
  }
  return true;
}

/**
 * @param {number} from
 * @param {number} to
 * @param {boolean} leaves  answer the record hashes too (for the Merkle root), concatenated
 */
async function check(from, to, leaves) {
  /** @type {Range} */
  const range = { from, expected: from, firstPrev: '', last: '', hashes: leaves ? [] : undefined };
  for await (const rows of rowsOf(from, to)) if (!checkRows(rows, range)) return { ok: false };
  if (range.expected !== to + 1) return { ok: false };
  return { ok: true, firstPrev: range.firstPrev, lastHash: range.last, hashes: range.hashes?.join('') ?? '' };
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
