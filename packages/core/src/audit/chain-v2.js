// @ts-check
// Chain format 2's two hashes, in plain JavaScript so that the verification worker (verify-worker.js) runs the
// very same code from the TypeScript sources (tests) and from dist alike: a worker thread cannot load .ts files.
// chain.ts re-exports both; see the format's description there.
import crypto from 'node:crypto';

// crypto.hash (Node ≥ 20.12) hashes in one call without a Hash object; older Node 20 falls back.
const oneShot = /** @type {{ hash?: typeof crypto.hash }} */ (crypto).hash;

/**
 * SHA-256 of `data` (a string as UTF-8, or bytes) in the output encoding `encoding`, in one call where Node has one.
 * @type {(data: string | Uint8Array, encoding: 'hex' | 'binary') => string}
 */
export const sha256As = oneShot
  ? (data, encoding) => oneShot('sha256', data, encoding)
  : (data, encoding) => crypto.createHash('sha256').update(data).digest(encoding);

/**
 * SHA-256 of a string (UTF-8), as lower-case hex: the hot path of appends and verification.
 * @type {(data: string) => string}
 */
const sha256 = (data) => sha256As(data, 'hex');

/**
 * Version 2 content hash: SHA-256 (hex) of the UTF-8 bytes of {@link contentPreimage}.
 * @param {{ ts: string; actor: string; type: string; subject: string | null }} c
 * @param {string} payloadJson
 * @returns {string}
 */
export function contentHash(c, payloadJson) {
  return sha256(contentPreimage(c, payloadJson));
}

/**
 * What a version 2 content hash hashes: `aos-audit-content/2\n<actor>\n<type>\n<subject>\n<ts>\n<payload>` where
 * actor, type, subject (or `null`) and ts are JSON literals (JSON.stringify, which RFC 8785 uses for strings — they
 * never hold a raw newline, so the fields split unambiguously) and payload is its RFC 8785 canonical JSON, exactly
 * as stored in the `payload` column — so verification hashes the stored text without parsing it.
 * @param {{ ts: string; actor: string; type: string; subject: string | null }} c
 * @param {string} payloadJson
 * @returns {string}
 */
export function contentPreimage(c, payloadJson) {
  return (
    `aos-audit-content/2\n${JSON.stringify(c.actor)}\n${JSON.stringify(c.type)}\n` +
    `${c.subject === null ? 'null' : JSON.stringify(c.subject)}\n${JSON.stringify(c.ts)}\n${payloadJson}`
  );
}

/**
 * {@link contentPreimage} of an `audit_log` row as an SQL expression, built by the database: what a range check
 * (range-check.js, on a worker or the calling thread) reads instead of the five columns, which saves decoding them
 * and quoting four in JavaScript (about 40% of a record's cost). SQLite's `json_quote` and PostgreSQL's `to_json`
 * write a string as JSON.stringify does, except SQLite for a lone surrogate, which an append never stores (it
 * stores U+FFFD) but someone editing the file could: there the preimage differs, the hash does not match, and the
 * range is checked again record by record, where the columns are hashed as read. A difference can only fail a range, never pass one: two JSON encoders that differ still
 * decode to the string each was given.
 * @param {'sqlite' | 'postgres'} dialect
 * @returns {string}
 */
export function contentPreimageSql(dialect) {
  const nl = dialect === 'sqlite' ? 'char(10)' : 'chr(10)';
  /** @type {(column: string) => string} */
  const quote = dialect === 'sqlite' ? (c) => `json_quote(${c})` : (c) => `to_json(${c})::text`;
  // to_json(NULL) is NULL (json_quote(NULL) is already 'null').
  const subject = dialect === 'sqlite' ? quote('subject') : `coalesce(${quote('subject')}, 'null')`;
  return [`'aos-audit-content/2'`, quote('actor'), quote('type'), subject, quote('ts'), 'payload'].join(
    ` || ${nl} || `,
  );
}

/**
 * Version 2 record hash: SHA-256 (hex) of the ASCII bytes `aos-audit/2\n<seq>\n<prevHash>\n<contentHash>` (seq in
 * decimal, hashes in lower-case hex). Cheap enough to compute inside the transaction, once the head is known.
 * @param {number} seq
 * @param {string} prevHash
 * @param {string} contentHashHex
 * @returns {string}
 */
export function linkHash(seq, prevHash, contentHashHex) {
  return sha256(`aos-audit/2\n${seq}\n${prevHash}\n${contentHashHex}`);
}

/**
 * {@link linkHash} as a PostgreSQL expression of three SQL expressions (seq, previous hash, content hash): what a
 * statement that commits by itself checks each link the database made against, inside the statement.
 * @param {string} seq
 * @param {string} prevHash
 * @param {string} contentHashHex
 * @returns {string}
 */
export function linkHashSql(seq, prevHash, contentHashHex) {
  return `encode(sha256(convert_to('aos-audit/2' || chr(10) || (${seq})::text || chr(10) || (${prevHash}) || chr(10) || (${contentHashHex}), 'UTF8')), 'hex')`;
}
