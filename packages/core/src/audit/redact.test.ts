import { describe, expect, it } from 'vitest';
import { REDACTED, redactSecrets } from './redact.js';

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
