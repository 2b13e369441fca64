import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { canonicalJson, hashJson } from '../crypto/canonical-json.js';
import { canonicalInput, requestHashOf } from './canonical-request.js';

const text = fc.string({ unit: 'grapheme', maxLength: 20 });

describe('canonical request', () => {
  it('answers the canonical JSON of the input and its hash', () => {
    fc.assert(
      fc.property(fc.dictionary(text, fc.jsonValue()), (input) => {
        const c = canonicalInput(input);
        expect(c.json).toBe(canonicalJson(input));
        expect(c.hash).toBe(hashJson(input));
      }),
    );
  });

  it('hashes a request to the same value as hashJson of its fields, so stored idempotency hashes still match', () => {
    fc.assert(
      fc.property(
        text,
        fc.dictionary(text, fc.jsonValue()),
        text,
        fc.option(text, { nil: null }),
        (tool, input, environment, reversalOf) => {
          expect(requestHashOf({ tool, input: canonicalInput(input), environment, reversalOf })).toBe(
            hashJson({ tool, input, environment, reversalOf }),
          );
        },
      ),
      { numRuns: 500 },
    );
  });
});
