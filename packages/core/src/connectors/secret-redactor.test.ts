import { describe, expect, it } from 'vitest';
import { SecretRedactor } from './secret-redactor.js';

const KEY = 'sk_live_9f8e7d6c5b4a3210';

describe('SecretRedactor', () => {
  const redactor = () => {
    const r = new SecretRedactor();
    r.add(KEY);
    return r;
  };

  it.each([
    ['the exact value', `token ${KEY} refused`],
    ['the value upper-cased', `TOKEN ${KEY.toUpperCase()} REFUSED`],
    ['the value in mixed case', `token ${KEY.slice(0, 10).toUpperCase()}${KEY.slice(10)}`],
    ['a prefix of the value', `token ${KEY.slice(0, 12)}… refused`],
    ['an upper-cased prefix', `token ${KEY.slice(0, 9).toUpperCase()} refused`],
    ['the URL-encoded value', `q=${encodeURIComponent(KEY)}`],
    ['the base64 value', Buffer.from(KEY).toString('base64')],
  ])('scrubs %s', (_n, text) => {
    const r = redactor();
    expect(r.leaks(text)).toBe(true);
    const out = r.redact(text);
    expect(out).toContain('[redacted]');
    expect(out.toLowerCase()).not.toContain(KEY.slice(0, 8).toLowerCase());
  });

  it('leaves a fragment shorter than the minimum prefix, and ordinary text, alone', () => {
    const r = redactor();
    const text = `sk_live key missing; id ${KEY.slice(0, 7)}`;
    expect(r.leaks(text)).toBe(false);
    expect(r.redact(text)).toBe(text);
  });

  it('scrubs a short secret only whole', () => {
    const r = new SecretRedactor();
    r.add('hunter2');
    expect(r.redact('pw HUNTER2 and hunter')).toBe('pw [redacted] and hunter');
  });

  it('keeps text whose lower-casing changes length intact around a match', () => {
    const r = redactor();
    expect(r.redact(`İİ ${KEY} İ`)).toBe('İİ [redacted] İ');
  });
});
