import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { canonicalJson } from '../crypto/canonical-json.js';
import { recordHash, recordHashOfCanonical } from './chain.js';

const text = fc.string({ unit: 'grapheme', maxLength: 20 });
const record = fc.record({
  seq: fc.integer({ min: 1, max: Number.MAX_SAFE_INTEGER }),
  ts: fc.date({ noInvalidDate: true }).map((d) => d.toISOString()),
  actor: text,
  type: text,
  subject: fc.option(text, { nil: null }),
  payload: fc.dictionary(text, fc.jsonValue()),
  prevHash: fc.stringMatching(/^[0-9a-f]{64}$/),
});

describe('recordHashOfCanonical', () => {
  it('hashes the same bytes as recordHash for any record', () => {
    fc.assert(
      fc.property(record, (r) => {
        expect(recordHashOfCanonical(r, canonicalJson(r.payload))).toBe(recordHash(r));
      }),
      { numRuns: 500 },
    );
  });

  it('changes when any field changes', () => {
    const r = {
      seq: 7,
      ts: '2026-01-01T00:00:00.000Z',
      actor: 'system',
      type: 't',
      subject: null,
      prevHash: '0'.repeat(64),
    };
    const base = recordHashOfCanonical(r, '{}');
    expect(recordHashOfCanonical({ ...r, subject: 'x' }, '{}')).not.toBe(base);
    expect(recordHashOfCanonical({ ...r, seq: 8 }, '{}')).not.toBe(base);
    expect(recordHashOfCanonical(r, '{"a":1}')).not.toBe(base);
  });
});
