import { createHash } from 'node:crypto';

/**
 * Merkle tree hashing and proofs as in RFC 9162 (Certificate Transparency 2.0), section 2.1: leaves are hashed with
 * a 0x00 prefix and interior nodes with 0x01, so a leaf can never pass for a node. Leaves here are the 32-byte
 * audit record hashes.
 */

function sha256(...parts: Uint8Array[]): Buffer {
  const h = createHash('sha256');
  for (const p of parts) h.update(p);
  return h.digest();
}

const LEAF = Buffer.from([0]);
const NODE = Buffer.from([1]);

/** RFC 9162 leaf hash: SHA-256(0x00 || data). */
export function leafHash(data: Uint8Array): Buffer {
  return sha256(LEAF, data);
}

/** RFC 9162 interior node hash: SHA-256(0x01 || left || right). */
export function nodeHash(left: Uint8Array, right: Uint8Array): Buffer {
  return sha256(NODE, left, right);
}

/** Largest power of two strictly smaller than n (n ≥ 2). */
function split(n: number): number {
  let k = 1;
  while (k * 2 < n) k *= 2;
  return k;
}

/** Merkle Tree Hash over leaf hashes (already leaf-hashed). The empty tree hashes to SHA-256 of nothing. */
export function rootFromLeafHashes(leaves: readonly Uint8Array[]): Buffer {
  if (leaves.length === 0) return sha256();
  // Iterative form of MTH: combine pairs level by level; an odd node is carried up unchanged, which matches the
  // recursive split at the largest power of two.
  let level: Uint8Array[] = [...leaves];
  while (level.length > 1) {
    const next: Uint8Array[] = [];
    for (let i = 0; i < level.length; i += 2) {
      const l = level[i] as Uint8Array;
      const r = level[i + 1];
      next.push(r === undefined ? l : nodeHash(l, r));
    }
    level = next;
  }
  return Buffer.from(level[0] as Uint8Array);
}

/** Merkle Tree Hash over raw leaf data. */
export function merkleRoot(data: readonly Uint8Array[]): Buffer {
  return rootFromLeafHashes(data.map(leafHash));
}

function subtree(leaves: readonly Uint8Array[], start: number, end: number): Buffer {
  return rootFromLeafHashes(leaves.slice(start, end));
}

/** Inclusion proof (audit path) for leaf `index` in the tree of all `leaves` (leaf hashes). RFC 9162 §2.1.3.1. */
export function inclusionProof(leaves: readonly Uint8Array[], index: number): Buffer[] {
  if (!Number.isInteger(index) || index < 0 || index >= leaves.length)
    throw new RangeError('leaf index out of range');
  const path = (m: number, start: number, end: number): Buffer[] => {
    const n = end - start;
    if (n <= 1) return [];
    const k = split(n);
    if (m < k) return [...path(m, start, start + k), subtree(leaves, start + k, end)];
    return [...path(m - k, start + k, end), subtree(leaves, start, start + k)];
  };
  return path(index, 0, leaves.length);
}

/** Checks an inclusion proof against a root. RFC 9162 §2.1.3.2. */
export function verifyInclusion(params: {
  leafHash: Uint8Array;
  index: number;
  treeSize: number;
  proof: readonly Uint8Array[];
  root: Uint8Array;
}): boolean {
  const { index, treeSize, proof, root } = params;
  if (index >= treeSize || index < 0) return false;
  let fn = index;
  let sn = treeSize - 1;
  let r: Buffer = Buffer.from(params.leafHash);
  for (const p of proof) {
    if (sn === 0) return false;
    if (fn % 2 === 1 || fn === sn) {
      r = nodeHash(p, r);
      if (fn % 2 === 0) {
        while (fn % 2 === 0 && fn !== 0) {
          fn >>= 1;
          sn >>= 1;
        }
      }
    } else {
      r = nodeHash(r, p);
    }
    fn >>= 1;
    sn >>= 1;
  }
  return sn === 0 && r.equals(Buffer.from(root));
}

/** Consistency proof that the tree of the first `oldSize` leaves is a prefix of the tree of all leaves. RFC 9162 §2.1.4.1. */
export function consistencyProof(leaves: readonly Uint8Array[], oldSize: number): Buffer[] {
  const n = leaves.length;
  if (!Number.isInteger(oldSize) || oldSize < 1 || oldSize > n)
    throw new RangeError('old tree size out of range');
  const subproof = (m: number, start: number, end: number, whole: boolean): Buffer[] => {
    const size = end - start;
    if (m === size) return whole ? [] : [subtree(leaves, start, end)];
    const k = split(size);
    if (m <= k) return [...subproof(m, start, start + k, whole), subtree(leaves, start + k, end)];
    return [...subproof(m - k, start + k, end, false), subtree(leaves, start, start + k)];
  };
  return subproof(oldSize, 0, n, true);
}

/** Checks a consistency proof between two roots. RFC 9162 §2.1.4.2. */
export function verifyConsistency(params: {
  oldSize: number;
  newSize: number;
  oldRoot: Uint8Array;
  newRoot: Uint8Array;
  proof: readonly Uint8Array[];
}): boolean {
  const { oldSize, newSize, proof } = params;
  const oldRoot = Buffer.from(params.oldRoot);
  const newRoot = Buffer.from(params.newRoot);
  if (oldSize < 1 || oldSize > newSize) return false;
  if (oldSize === newSize) return proof.length === 0 && oldRoot.equals(newRoot);
  let path = proof.map((p) => Buffer.from(p));
  // If the old size is an exact power of two, the old root is the first node of the path.
  if ((oldSize & (oldSize - 1)) === 0) path = [oldRoot, ...path];
  if (path.length === 0) return false;
  let fn = oldSize - 1;
  let sn = newSize - 1;
  while (fn % 2 === 1) {
    fn >>= 1;
    sn >>= 1;
  }
  let fr = path[0] as Buffer;
  let sr = path[0] as Buffer;
  for (const c of path.slice(1)) {
    if (sn === 0) return false;
    if (fn % 2 === 1 || fn === sn) {
      fr = nodeHash(c, fr);
      sr = nodeHash(c, sr);
      if (fn % 2 === 0) {
        while (fn % 2 === 0 && fn !== 0) {
          fn >>= 1;
          sn >>= 1;
        }
      }
    } else {
      sr = nodeHash(sr, c);
    }
    fn >>= 1;
    sn >>= 1;
  }
  return sn === 0 && fr.equals(oldRoot) && sr.equals(newRoot);
}
