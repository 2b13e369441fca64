// @ts-check
// Checking a range of version 2 audit records fast, on a read-only connection of its own: what each verification
// worker thread does (verify-worker.js), and what the calling thread does itself on SQLite when there are no
// workers (parallel-verify.ts). Plain JavaScript, so that a worker thread runs it from the TypeScript sources
// (tests) and from dist alike. A range passes only when every record in it is in place, links to the one before
// and matches its hash; anything else (a gap, a bad link or hash, a version 1 record) fails the whole range, which
// the caller then checks record by record (ChainVerifier) to name the first problem.
import { setImmediate } from 'node:timers';
import { contentPreimageSql, linkHash, sha256As } from './chain-v2.js';

/**
 * A record as it is read: seq, its content hash's preimage built by the database (contentPreimageSql), prev_hash
 * and hash. Only version 2 records are read, so a version 1 record is a gap, which fails its range.
 * @param {'sqlite' | 'postgres'} dialect
 * @param {string} from  placeholder of the first seq
 * @param {string} to  placeholder of the last
 */
const select = (dialect, from, to) =>
  `SELECT seq, ${contentPreimageSql(dialect)}, prev_hash, hash FROM audit_log ` +
  `WHERE seq >= ${from} AND seq <= ${to} AND version = 2 ORDER BY seq`;

/** How much of the database file a range reader maps (SQLite's `mmap_size`). */
const MMAP_BYTES = 256 * 1024 * 1024;

/** Rows SQLite hands over at a time: `all()` of a few thousand decodes faster than `iterate()` row by row. */
const CHUNK = 5000;

/**
 * Reads ranges of records as arrays, in seq order, in chunks.
 * @typedef {{ rowsOf(from: number, to: number): AsyncIterable<unknown[][]>; close(): Promise<void> }} RangeReader
 */

/**
 * Opens a read-only connection to the log at `source`.
 * @param {import('../store/db.js').ReadSource} source
 * @returns {Promise<RangeReader>}
 */
export async function openRangeReader(source) {
  if (source.kind === 'sqlite') {
    const { default: Database } = await import('better-sqlite3');
    const db = new Database(source.file, { readonly: true, fileMustExist: true });
    try {
      // The file mapped rather than read page by page into a cold cache (a connection per verification): 5-7% faster
      // here. Address space only; a read-only connection never writes through the mapping.
      db.pragma(`mmap_size = ${MMAP_BYTES}`);
      const stmt = db.prepare(select('sqlite', '?', '?')).raw(true);
      return {
        async *rowsOf(from, to) {
          for (let first = from; first <= to; first += CHUNK) {
            // A turn of the event loop between chunks (some 10 ms of work each): better-sqlite3 reads
            // synchronously, so a server checking in place still answers its requests meanwhile.
            await new Promise((resolve) => setImmediate(resolve));
            yield /** @type {unknown[][]} */ (stmt.all(first, Math.min(to, first + CHUNK - 1)));
          }
        },
        close: async () => void db.close(),
      };
    } catch (err) {
      db.close();
      throw err;
    }
  }
  const { default: pg } = await import('pg');
  const client = new pg.Client(source.client);
  await client.connect();
  // A read-only transaction per range would add round trips for nothing: each range is one statement.
  await client.query('SET default_transaction_read_only = on');
  const text = select('postgres', '$1', '$2');
  return {
    async *rowsOf(from, to) {
      yield (await client.query({ text, values: [from, to], rowMode: 'array' })).rows;
    },
    // Ended, not dropped: the server then logs no unexpected end of a client connection.
    close: () => client.end(),
  };
}

/**
 * A range being checked: the next seq expected, the range's first prev_hash, the last hash seen, and the hashes
 * kept for the Merkle root when asked for.
 * @typedef {{ from: number; expected: number; firstPrev: string; last: string; hashes: string[] | undefined }} Range
 */

/**
 * Checks one chunk of a range's rows, in order; false at the first that is out of place, links to anything but the
 * record before or does not match its hash. A plain loop in a function of its own: inside the async `checkRange`
 * the same loop ran some 15% slower.
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
 * Checks records `from`..`to`. Answers `ok` with the range's first prev_hash and last hash (which the caller links
 * across ranges) and, when `leaves`, the records' hashes concatenated (for the Merkle root).
 * @param {RangeReader} reader
 * @param {number} from
 * @param {number} to
 * @param {boolean} leaves
 * @returns {Promise<{ ok: false } | { ok: true; firstPrev: string; lastHash: string; hashes: string }>}
 */
export async function checkRange(reader, from, to, leaves) {
  /** @type {Range} */
  const range = { from, expected: from, firstPrev: '', last: '', hashes: leaves ? [] : undefined };
  for await (const rows of reader.rowsOf(from, to)) if (!checkRows(rows, range)) return { ok: false };
  if (range.expected !== to + 1) return { ok: false };
  return { ok: true, firstPrev: range.firstPrev, lastHash: range.last, hashes: range.hashes?.join('') ?? '' };
}
