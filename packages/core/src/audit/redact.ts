/** Field names whose values are secrets wherever they appear in an audit payload. */
const SECRET_KEY =
  /(pass(word|phrase)?|secret|token|api[-_]?key|authorization|credential|private[-_]?key|cookie|session[-_]?key)/i;
/** Values that look like credentials even under an innocent key. */
const SECRET_VALUE = [
  /\baos_[A-Za-z0-9_-]{20,}/g, // our own API tokens
  /\beyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}/g, // JWTs
  /\bBearer\s+[A-Za-z0-9._~+/-]{8,}=*/gi,
  /\b(sk|pk|rk)[-_](live|test)?[-_]?[A-Za-z0-9]{16,}/g, // common SaaS keys
];

/**
 * One test for "might hold a credential": every pattern above, case-insensitive (so it never misses what they
 * match). Most strings hold none, and then one test replaces four.
 */
const MAYBE_SECRET_VALUE = new RegExp(SECRET_VALUE.map((re) => `(?:${re.source})`).join('|'), 'i');

/** The marker that replaces a redacted value. */
export const REDACTED = '[REDACTED]';

/**
 * Returns a deep copy of `value` with secrets replaced by {@link REDACTED}: values under secret-looking keys, and
 * credential-shaped substrings anywhere. Runs before a payload is hashed, so the log never holds a secret.
 * Keys in `keep` are never redacted (e.g. `tokenId`, which names a token without revealing it).
 */
export function redactSecrets(value: unknown, keep: ReadonlySet<string> = KEEP): unknown {
  if (typeof value === 'string') {
    if (!MAYBE_SECRET_VALUE.test(value)) return value;
    let out = value;
    for (const re of SECRET_VALUE) out = out.replace(re, REDACTED);
    return out;
  }
  if (Array.isArray(value)) return value.map((v) => redactSecrets(v, keep));
  if (value && typeof value === 'object') {
    const out: Record<string, unknown> = {};
    for (const k of Object.keys(value)) {
      const v = (value as Record<string, unknown>)[k];
      out[k] =
        !keep.has(k) && SECRET_KEY.test(k) && v !== null && typeof v !== 'boolean'
          ? REDACTED
          : redactSecrets(v, keep);
    }
    return out;
  }
  return value;
}

const KEEP: ReadonlySet<string> = new Set(['tokenId', 'tokenName', 'tokens', 'tokenCount']);
