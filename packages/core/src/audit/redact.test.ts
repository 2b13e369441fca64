import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { canonicalJson } from '../crypto/canonical-json.js';
import { REDACTED, redactSecrets, redactedCanonicalJson } from './redact.js';

describe('redactSecrets', () => {
  it.each([
    ['our API tokens', `key aos_${'a'.repeat(24)} here`, `key ${REDACTED} here`],
    ['JWTs', 'eyJhbGciOiJI.eyJzdWIiOiIx.c2lnbmF0dXJl', REDACTED],
    [
      'bearer credentials, in any case',
      'Authorization: bEaReR abcdefghijklmnop',
      `Authorization: ${REDACTED}`,
    ],
    ['SaaS keys', `sk_live_${'x'.repeat(20)}`, REDACTED],
    [
      'several kinds in one string',
      `Bearer abcdefghijkl and aos_${'b'.repeat(22)}`,
      `${REDACTED} and ${REDACTED}`,
    ],
  ])('redacts %s inside strings', (_kind, input, output) => {
    expect(redactSecrets({ note: input })).toEqual({ note: output });
    expect(redactSecrets([input])).toEqual([output]);
  });

  it.each([
    ['a plain string', 'refund order 42'],
    ['a token-like prefix of the wrong case, where case matters', `AOS_${'a'.repeat(24)}`],
    ['a short bearer value', 'Bearer abc'],
  ])('leaves %s as it is', (_kind, input) => {
    expect(redactSecrets({ note: input })).toEqual({ note: input });
  });

  it('redacts values under secret-looking keys, keeps named exceptions and does not touch the input', () => {
    const input = { password: 'hunter2', nested: { apiKey: 'k', tokenId: 'tok_1', ok: true }, secret: null };
    expect(redactSecrets(input)).toEqual({
      password: REDACTED,
      nested: { apiKey: REDACTED, tokenId: 'tok_1', ok: true },
      secret: null,
    });
    expect(input.password).toBe('hunter2');
  });
});

describe('redactedCanonicalJson', () => {
  // Keys and strings drawn partly from what redaction acts on, so both branches are taken often.
  const key = fc.oneof(
    fc.constantFrom(
      'password',
      'apiKey',
      'Authorization',
      'tokenId',
      'tokens',
      'sessionKey',
      'note',
      'a',
      'B',
    ),
    fc.string({ maxLength: 8 }).filter((k) => k !== '__proto__'),
  );
  const text = fc.oneof(
    fc.constantFrom(`aos_${'z'.repeat(24)}`, 'Bearer abcdefghijkl', `x sk_test_${'9'.repeat(16)} y`, 'plain'),
    fc.string({ maxLength: 12 }),
  );
  const { value } = fc.letrec((tie) => ({
    value: fc.oneof(
      { depthSize: 'small' },
      fc.constant(null),
      fc.boolean(),
      fc.double({ noNaN: true, noDefaultInfinity: true }),
      fc.integer(),
      text,
      fc.array(fc.oneof(tie('value'), fc.constant(undefined)), { maxLength: 4 }),
      fc.dictionary(key, fc.oneof(tie('value'), fc.constant(undefined)), { maxKeys: 5 }),
    ),
  }));

  it('writes exactly the canonical JSON of the redacted copy, for any JSON value', () => {
    fc.assert(
      fc.property(value, (v) => {
        expect(redactedCanonicalJson(v)).toBe(canonicalJson(redactSecrets(v)));
        expect(redactedCanonicalJson(v, new Set(['password']))).toBe(
          canonicalJson(redactSecrets(v, new Set(['password']))),
        );
      }),
      { numRuns: 2000 },
    );
  });

  it('redacts what toJSON answers and keeps an own __proto__ member, which a copy would lose', () => {
    const when = new Date('2026-12-02T12:00:00.000Z');
    expect(redactedCanonicalJson({ at: when, secret: when })).toBe(
      `{"at":"2026-12-02T12:00:00.000Z","secret":"${REDACTED}"}`,
    );
    expect(redactedCanonicalJson({ note: { toJSON: () => `Bearer ${'q'.repeat(12)}` } })).toBe(
      `{"note":"${REDACTED}"}`,
    );
    expect(redactedCanonicalJson(JSON.parse('{"__proto__":{"password":"p"},"b":1}'))).toBe(
      `{"__proto__":{"password":"${REDACTED}"},"b":1}`,
    );
  });

  it('treats keys longer than those it remembers the same way', () => {
    const long = `${'x'.repeat(80)}_password`;
    const quoted = `${'q'.repeat(70)}"\n`;
    const value = { [long]: 's3cret', [quoted]: 1, [`${'k'.repeat(90)}`]: 'plain' };
    for (let i = 0; i < 2; i++)
      expect(redactedCanonicalJson(value)).toBe(canonicalJson(redactSecrets(value)));
    expect(redactedCanonicalJson(value)).toContain(`${JSON.stringify(long)}:"${REDACTED}"`);
    expect(redactedCanonicalJson(value)).toContain(`${JSON.stringify(quoted)}:1`);
  });

  it('refuses what canonical JSON refuses, naming the reason', () => {
    let deep: unknown = 1;
    for (let i = 0; i < 300; i++) deep = [deep];
    expect(() => redactedCanonicalJson(deep)).toThrow(/nests deeper than 256/);
    expect(() => redactedCanonicalJson({ n: Infinity })).toThrow(/non-finite/);
    expect(() => redactedCanonicalJson({ f: () => 1 })).toThrow(/cannot hold a function/);
  });
});
