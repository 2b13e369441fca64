import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { UserError } from '../errors.js';
import { CANONICAL_JSON_MAX_DEPTH, canonicalJson } from './canonical-json.js';

const nest = (depth: number): unknown => {
  let v: unknown = 1;
  for (let i = 0; i < depth; i++) v = i % 2 ? [v] : { a: v };
  return v;
};

/** RFC 8785 written the plain way: the reference the optimised writer must match byte for byte. */
function reference(value: unknown): string {
  if (value === null || typeof value !== 'object') return JSON.stringify(value);
  if (Array.isArray(value)) return `[${value.map((v) => reference(v === undefined ? null : v)).join(',')}]`;
  const obj = value as Record<string, unknown>;
  const keys = Object.keys(obj)
    .filter((k) => obj[k] !== undefined)
    .sort();
  return `{${keys.map((k) => `${JSON.stringify(k)}:${reference(obj[k])}`).join(',')}}`;
}

describe('canonicalJson', () => {
  it('writes the same bytes as the plain RFC 8785 writer for any JSON value, with undefined members', () => {
    const value = fc.letrec((tie) => ({
      node: fc.oneof(
        { depthSize: 'small' },
        fc.constantFrom(null, true, false, 0, -0, 1e21, 1.5e-7, -123.456),
        fc.double({ noNaN: true, noDefaultInfinity: true }),
        fc.string({ unit: 'binary' }),
        fc.array(fc.option(tie('node'), { nil: undefined })),
        fc.dictionary(fc.string({ unit: 'binary' }), fc.option(tie('node'), { nil: undefined })),
      ),
    })).node;
    fc.assert(
      fc.property(value, (v) => {
        expect(canonicalJson(v)).toBe(reference(v));
      }),
      { numRuns: 1000 },
    );
  });

  it('sorts keys and drops undefined members', () => {
    expect(canonicalJson({ b: 1, a: [true, 'x'], c: undefined })).toBe('{"a":[true,"x"],"b":1}');
  });

  it('refuses 10,000-deep nesting with a UserError, not a RangeError', () => {
    let thrown: unknown;
    try {
      canonicalJson(nest(10_000));
    } catch (err) {
      thrown = err;
    }
    expect(thrown).toBeInstanceOf(UserError);
    expect((thrown as Error).message).toMatch(/deeper than/);
  });

  it('holds nesting up to its limit', () => {
    expect(() => canonicalJson(nest(CANONICAL_JSON_MAX_DEPTH))).not.toThrow();
  });
});
