import { canonicalJson, hashJson, sha256Hex } from '../crypto/canonical-json.js';
import { contentHash, linkHash, linkHashSql, sha256As } from './chain-v2.js';
import { leafHash, nodeHash } from './merkle.js';

/** The hash that stands before the first record. */
export const GENESIS_HASH = '0'.repeat(64);

/**
 * Chain format versions. 1: the hash covers the canonical JSON of every field. 2 (what appends write): the hash
 * links the previous hash to a content hash computed once, outside the transaction — see {@link contentHash} and
 * {@link linkHash}. A log may hold both, in any order (nodes of a rolling upgrade still append version 1).
 */
export type AuditFormatVersion = 1 | 2;

/** The format new records are written in. */
export const AUDIT_FORMAT_VERSION: AuditFormatVersion = 2;

/** One record of the audit log, as stored and exported. */
export interface AuditRecord {
  /** 1-based position in the log; contiguous. */
  seq: number;
  /** ISO-8601 time of the append. */
  ts: string;
  /** Who caused the event: `agent:<id>`, `human:<id>`, `operator:<name>`, `system`. */
  actor: string;
  /** Dotted event type, e.g. `agent.created`. */
  type: string;
  /** The main thing the event is about (`agent:<id>`, `action:<id>`), for lookups. */
  subject: string | null;
  /** Event details, secrets already redacted. */
  payload: unknown;
  /** Hash of the previous record (64 zeros for the first). */
  prevHash: string;
  /** How `hash` is computed ({@link AuditFormatVersion}). Records exported before versions existed are 1. */
  version: AuditFormatVersion;
  /** SHA-256 over the record: version 1, of the canonical JSON of every field above; version 2, {@link linkHash}. */
  hash: string;
}

/** The fields a record's content hash covers (version 2): everything but its position in the chain. */
export interface AuditContent {
  ts: string;
  actor: string;
  type: string;
  subject: string | null;
}

// Version 2's content and link hashes live in plain JavaScript, shared with the verification worker.
export { contentHash, linkHash, linkHashSql };

/**
 * Computes a record's hash from its content, by its format version (1 when absent): any change to any field, or to
 * its position, changes it.
 */
export function recordHash(r: Omit<AuditRecord, 'hash' | 'version'> & { version?: number }): string {
  if (r.version === 2) return linkHash(r.seq, r.prevHash, contentHash(r, canonicalJson(r.payload)));
  return hashJson({
    v: 1,
    seq: r.seq,
    ts: r.ts,
    actor: r.actor,
    type: r.type,
    subject: r.subject,
    payload: r.payload,
    prevHash: r.prevHash,
  });
}

/**
 * Version 1 {@link recordHash} of a record whose payload is already in canonical JSON (`payloadJson`): the very
 * same bytes are hashed, spliced in key order, so the payload is canonicalised once for both the hash and the
 * stored column instead of twice.
 */
export function recordHashOfCanonical(
  r: Omit<AuditRecord, 'hash' | 'payload' | 'version'>,
  payloadJson: string,
): string {
  // Keys in RFC 8785 order (UTF-16 code units): actor, payload, prevHash, seq, subject, ts, type, v.
  return sha256Hex(
    `{"actor":${canonicalJson(r.actor)},"payload":${payloadJson},"prevHash":${canonicalJson(r.prevHash)},` +
      `"seq":${canonicalJson(r.seq)},"subject":${canonicalJson(r.subject)},"ts":${canonicalJson(r.ts)},` +
      `"type":${canonicalJson(r.type)},"v":1}`,
  );
}

/** A row of the `audit_log` table as the database returns it (BIGINT columns may come back as strings). */
export interface AuditRow {
  seq: number | string;
  ts: string;
  actor: string;
  type: string;
  subject: string | null;
  /** Canonical JSON, as written by the append. */
  payload: string;
  prev_hash: string;
  hash: string;
  version: number | string;
}

// Digests as latin1 strings (one character a byte; Node's name for that encoding here is 'binary'): crypto.hash
// answers those several times faster than a Buffer, which it allocates per call.
const sha256Latin1 = (data: Uint8Array): string => sha256As(data, 'binary');

/**
 * Merkle root over a growing list of leaves in O(log n) memory: keeps the roots of the perfect subtrees that make
 * up the tree (one per set bit of the size), which is exactly RFC 9162's MTH decomposition.
 */
export class MerkleAccumulator {
  private readonly sizes: number[] = [];
  /** Subtree roots, as latin1 strings of their 32 bytes. */
  private readonly hashes: string[] = [];
  private count = 0;
  // Reused hash inputs, so a push allocates only the digests: 0x00 || leaf, and 0x01 || left || right.
  private readonly leafInput = Buffer.alloc(33, 0);
  private readonly nodeInput = Buffer.alloc(65, 1);

  get size(): number {
    return this.count;
  }

  /** Adds a record hash (hex) as the next leaf. */
  push(recordHashHex: string): void {
    let node: string;
    if (recordHashHex.length === 64 && this.leafInput.write(recordHashHex, 1, 32, 'hex') === 32) {
      node = sha256Latin1(this.leafInput);
    } else {
      node = leafHash(Buffer.from(recordHashHex, 'hex')).toString('latin1');
    }
    let size = 1;
    while (this.sizes.length > 0 && this.sizes[this.sizes.length - 1] === size) {
      this.sizes.pop();
      this.nodeInput.write(this.hashes.pop() as string, 1, 32, 'latin1');
      this.nodeInput.write(node, 33, 32, 'latin1');
      node = sha256Latin1(this.nodeInput);
      size *= 2;
    }
    this.sizes.push(size);
    this.hashes.push(node);
    this.count++;
  }

  /** The Merkle root (hex) of the leaves pushed so far. */
  root(): string {
    if (this.hashes.length === 0) return leafHashOfNothing;
    let acc: Buffer = Buffer.from(this.hashes[this.hashes.length - 1] as string, 'latin1');
    for (let i = this.hashes.length - 2; i >= 0; i--)
      acc = nodeHash(Buffer.from(this.hashes[i] as string, 'latin1'), acc);
    return acc.toString('hex');
  }
}

// SHA-256 of the empty string: RFC 9162's hash of the empty tree.
const leafHashOfNothing = 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855';

/** What is wrong with the first bad record. */
export interface ChainProblem {
  seq: number;
  reason: string;
}

/** Options of {@link ChainVerifier}. */
export interface ChainVerifierOptions {
  merkleLeaves?: number;
}

/**
 * Checks records one by one, in log order: contiguous sequence numbers from 1, each linked to the previous hash,
 * each hash recomputed from content by the record's format version. Feeds a Merkle accumulator so checkpoints can
 * be compared on the way.
 */
export class ChainVerifier {
  private expectedSeq = 1;
  private prevHash = GENESIS_HASH;
  readonly merkle = new MerkleAccumulator();
  /** The first problem found; verification stops there. */
  problem: ChainProblem | undefined;
  private readonly merkleLeaves: number;

  /**
   * `merkleLeaves`: feed the Merkle accumulator the first this many records only (default: all) — a verification
   * that compares roots at known sizes needs no leaf past the largest, and skips half its hashing there.
   */
  constructor(options: ChainVerifierOptions = {}) {
    this.merkleLeaves = options.merkleLeaves ?? Infinity;
  }

  /** Checks the next record; answers false (and sets `problem`) at the first bad one. */
  push(r: AuditRecord): boolean {
    if (this.problem) return false;
    // Bundles exported before records carried a version hold version 1 records.
    const version = (r as { version?: unknown }).version ?? 1;
    let computed: string | undefined;
    if (version === 2) {
      let payloadJson: string | undefined;
      try {
        payloadJson = canonicalJson(r.payload);
      } catch {
        // not JSON: cannot match its hash
      }
      computed =
        payloadJson === undefined ? undefined : linkHash(r.seq, r.prevHash, contentHash(r, payloadJson));
    } else if (version === 1) computed = recordHash(r);
    return this.accept(r.seq, r.prevHash, r.hash, version, computed);
  }

  /**
   * {@link push} for a row as stored: a version 2 record's content is hashed from the stored payload text as it
   * is, with no parse; a version 1 record is tried the same way first and re-canonicalised only if that fails.
   */
  pushRow(row: AuditRow): boolean {
    if (this.problem) return false;
    const seq = Number(row.seq);
    const version = Number(row.version);
    let computed: string | undefined;
    if (version === 2) computed = linkHash(seq, row.prev_hash, contentHash(row, row.payload));
    else if (version === 1) {
      const r = {
        seq,
        ts: row.ts,
        actor: row.actor,
        type: row.type,
        subject: row.subject,
        prevHash: row.prev_hash,
      };
      computed = recordHashOfCanonical(r, row.payload);
      if (computed !== row.hash) {
        let payload: unknown;
        try {
          payload = JSON.parse(row.payload);
        } catch {
          payload = row.payload; // a tampered, non-JSON payload still fails its hash
        }
        computed = recordHash({ ...r, payload });
      }
    }
    return this.accept(seq, row.prev_hash, row.hash, version, computed);
  }

  /**
   * Takes records `from`..`to` as checked elsewhere, by a verification worker (parallel-verify.ts): they must
   * start where the chain stands, their first prev_hash the last record's hash. Answers false and changes
   * nothing when they do not (the caller then checks them one by one, to name the problem). `hashes` (their
   * hashes, concatenated hex) feeds the Merkle accumulator, needed for records up to `merkleLeaves` only; `each`
   * is called after each record fed to it.
   */
  acceptChecked(
    range: { from: number; to: number; firstPrev?: string; lastHash?: string; hashes?: string },
    each?: () => void,
  ): boolean {
    const { from, to, firstPrev, lastHash, hashes = '' } = range;
    if (this.problem || from !== this.expectedSeq || firstPrev !== this.prevHash || lastHash === undefined)
      return false;
    const leaves = Math.min(to, this.merkleLeaves);
    if (leaves >= from && hashes.length < (leaves - from + 1) * 64) return false;
    for (let seq = from; seq <= leaves; seq++) {
      const at = (seq - from) * 64;
      this.merkle.push(hashes.slice(at, at + 64));
      this.expectedSeq = seq + 1;
      each?.();
    }
    this.expectedSeq = to + 1;
    this.prevHash = lastHash;
    return true;
  }

  /** The checks in order — position, link, version, hash — given the hash recomputed from content. */
  private accept(
    seq: number,
    prevHash: string,
    hash: string,
    version: unknown,
    computed: string | undefined,
  ): boolean {
    if (seq !== this.expectedSeq) {
      this.problem =
        seq > this.expectedSeq
          ? {
              seq: this.expectedSeq,
              reason: `record ${this.expectedSeq} is missing (next found is ${seq})`,
            }
          : { seq, reason: `record ${seq} is out of order (expected ${this.expectedSeq})` };
      return false;
    }
    if (prevHash !== this.prevHash) {
      this.problem = {
        seq,
        reason: `record ${seq} does not link to record ${seq - 1} (prev_hash differs)`,
      };
      return false;
    }
    if (version !== 1 && version !== 2) {
      this.problem = { seq, reason: `record ${seq} has an unknown format version (${String(version)})` };
      return false;
    }
    if (computed !== hash) {
      this.problem = {
        seq,
        reason: `record ${seq} was altered (its content does not match its hash)`,
      };
      return false;
    }
    if (seq <= this.merkleLeaves) this.merkle.push(hash);
    this.prevHash = hash;
    this.expectedSeq++;
    return true;
  }

  /** How many records passed. */
  get verified(): number {
    return this.expectedSeq - 1;
  }
}
