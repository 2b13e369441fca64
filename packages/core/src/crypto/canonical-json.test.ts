import { describe, expect, it } from 'vitest';
import { UserError } from '../errors.js';
import { CANONICAL_JSON_MAX_DEPTH, canonicalJson } from './canonical-json.js';

const nest = (depth: number): unknown => {
  let v: unknown = 1;
  for (let i = 0; i < depth; i++) v = i % 2 ? [v] : { a: v };
  return v;
};

describe('canonicalJson', () => {
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
