import { canonicalJson, hashJson, sha256Hex } from '../crypto/canonical-json.js';
import { leafHash, nodeHash } from './merkle.js';

/** The hash that stands before the first record. */
export const GENESIS_HASH = '0'.repeat(64);

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
  /** SHA-256 of the canonical JSON of every field above. */
  hash: string;
}

/** Computes a record's hash from its content: any change to any field, or to its position, changes it. */
export function recordHash(r: Omit<AuditRecord, 'hash'>): string {
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
 * {@link recordHash} of a record whose payload is already in canonical JSON (`payloadJson`): the very same bytes
 * are hashed, spliced in key order, so an append canonicalises its payload once for both the hash and the stored
 * column instead of twice.
 */
export function recordHashOfCanonical(r: Omit<AuditRecord, 'hash' | 'payload'>, payloadJson: string): string {
  // Keys in RFC 8785 order (UTF-16 code units): actor, payload, prevHash, seq, subject, ts, type, v.
  return sha256Hex(
    `{"actor":${canonicalJson(r.actor)},"payload":${payloadJson},"prevHash":${canonicalJson(r.prevHash)},` +
      `"seq":${canonicalJson(r.seq)},"subject":${canonicalJson(r.subject)},"ts":${canonicalJson(r.ts)},` +
      `"type":${canonicalJson(r.type)},"v":1}`,
  );
}

/**
 * Merkle root over a growing list of leaves in O(log n) memory: keeps the roots of the perfect subtrees that make
 * up the tree (one per set bit of the size), which is exactly RFC 9162's MTH decomposition.
 */
export class MerkleAccumulator {
  private readonly stack: { size: number; hash: Buffer }[] = [];
  private count = 0;

  get size(): number {
    return this.count;
  }

  /** Adds a record hash (hex) as the next leaf. */
  push(recordHashHex: string): void {
    let node = { size: 1, hash: leafHash(Buffer.from(recordHashHex, 'hex')) };
    let top = this.stack[this.stack.length - 1];
    while (top && top.size === node.size) {
      this.stack.pop();
      node = { size: node.size * 2, hash: nodeHash(top.hash, node.hash) };
      top = this.stack[this.stack.length - 1];
    }
    this.stack.push(node);
    this.count++;
  }

  /** The Merkle root (hex) of the leaves pushed so far. */
  root(): string {
    if (this.stack.length === 0) return leafHashOfNothing;
    let acc = (this.stack[this.stack.length - 1] as { hash: Buffer }).hash;
    for (let i = this.stack.length - 2; i >= 0; i--)
      acc = nodeHash((this.stack[i] as { hash: Buffer }).hash, acc);
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

/**
 * Checks records one by one, in log order: contiguous sequence numbers from 1, each linked to the previous hash,
 * each hash recomputed from content. Feeds a Merkle accumulator so checkpoints can be compared on the way.
 */
export class ChainVerifier {
  private expectedSeq = 1;
  private prevHash = GENESIS_HASH;
  readonly merkle = new MerkleAccumulator();
  /** The first problem found; verification stops there. */
  problem: ChainProblem | undefined;

  /** Checks the next record; answers false (and sets `problem`) at the first bad one. */
  push(r: AuditRecord): boolean {
    if (this.problem) return false;
    if (r.seq !== this.expectedSeq) {
      this.problem =
        r.seq > this.expectedSeq
          ? {
              seq: this.expectedSeq,
              reason: `record ${this.expectedSeq} is missing (next found is ${r.seq})`,
            }
          : { seq: r.seq, reason: `record ${r.seq} is out of order (expected ${this.expectedSeq})` };
      return false;
    }
    if (r.prevHash !== this.prevHash) {
      this.problem = {
        seq: r.seq,
        reason: `record ${r.seq} does not link to record ${r.seq - 1} (prev_hash differs)`,
      };
      return false;
    }
    if (recordHash(r) !== r.hash) {
      this.problem = {
        seq: r.seq,
        reason: `record ${r.seq} was altered (its content does not match its hash)`,
      };
      return false;
    }
    this.merkle.push(r.hash);
    this.prevHash = r.hash;
    this.expectedSeq++;
    return true;
  }

  /** How many records passed. */
  get verified(): number {
    return this.expectedSeq - 1;
  }
}
