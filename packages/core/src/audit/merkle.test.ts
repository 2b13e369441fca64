import crypto from 'node:crypto';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { MerkleAccumulator } from './chain.js';
import {
  consistencyProof,
  inclusionProof,
  leafHash,
  merkleRoot,
  nodeHash,
  rootFromLeafHashes,
  verifyConsistency,
  verifyInclusion,
} from './merkle.js';

const leaves = (n: number) =>
  Array.from({ length: n }, (_, i) => crypto.createHash('sha256').update(`leaf ${i}`).digest());

/** RFC 9162's recursive definition, written as the RFC states it, to check the iterative one against. */
function mth(data: Buffer[]): Buffer {
  if (data.length === 0) return crypto.createHash('sha256').digest();
  if (data.length === 1) return leafHash(data[0] as Buffer);
  let k = 1;
  while (k * 2 < data.length) k *= 2;
  return nodeHash(mth(data.slice(0, k)), mth(data.slice(k)));
}

describe('Merkle tree (RFC 9162)', () => {
  it('matches the recursive definition for every size up to 70', () => {
    for (let n = 0; n <= 70; n++)
      expect(merkleRoot(leaves(n)).toString('hex')).toBe(mth(leaves(n)).toString('hex'));
  });

  it('accumulates the same root in O(log n) memory', () => {
    const acc = new MerkleAccumulator();
    const data = leaves(100);
    data.forEach((d, i) => {
      acc.push(d.toString('hex'));
      expect(acc.root()).toBe(mth(data.slice(0, i + 1)).toString('hex'));
    });
  });

  it('proves and verifies inclusion of every leaf, and rejects a wrong leaf or root', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 80 }), fc.nat(), (n, r) => {
        const hashed = leaves(n).map(leafHash);
        const index = r % n;
        const root = rootFromLeafHashes(hashed);
        const proof = inclusionProof(hashed, index);
        expect(verifyInclusion({ leafHash: hashed[index] as Buffer, index, treeSize: n, proof, root })).toBe(
          true,
        );
        const wrongLeaf = leafHash(Buffer.from('nope'));
        expect(verifyInclusion({ leafHash: wrongLeaf, index, treeSize: n, proof, root })).toBe(false);
        if (n > 1) {
          expect(
            verifyInclusion({
              leafHash: hashed[index] as Buffer,
              index: (index + 1) % n,
              treeSize: n,
              proof,
              root,
            }),
          ).toBe(false);
        }
      }),
      { numRuns: 300 },
    );
  });

  it('proves and verifies consistency between any two sizes, and rejects forged roots', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 80 }), fc.nat(), (n, r) => {
        const hashed = leaves(n).map(leafHash);
        const m = (r % n) + 1;
        const oldRoot = rootFromLeafHashes(hashed.slice(0, m));
        const newRoot = rootFromLeafHashes(hashed);
        const proof = consistencyProof(hashed, m);
        expect(verifyConsistency({ oldSize: m, newSize: n, oldRoot, newRoot, proof })).toBe(true);
        const forged = leafHash(Buffer.from('forged'));
        if (m < n) {
          expect(verifyConsistency({ oldSize: m, newSize: n, oldRoot: forged, newRoot, proof })).toBe(false);
          expect(verifyConsistency({ oldSize: m, newSize: n, oldRoot, newRoot: forged, proof })).toBe(false);
        }
      }),
      { numRuns: 300 },
    );
  });
});
