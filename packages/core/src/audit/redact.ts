import { canonicalJson } from '../crypto/canonical-json.js';
import type { CanonicalFilter } from '../crypto/canonical-json.js';

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
/**
 * The shortest string any of {@link SECRET_VALUE} matches: `Bearer`, one space and 8 characters. A shorter string
 * holds no credential, and skips the test (payloads are mostly short strings).
 */
const SHORTEST_SECRET_VALUE = 15;

/**
 * Whether each key seen is secret-looking: keys repeat from payload to payload, the test is a long alternation.
 * Only short keys are remembered, so what a caller's payloads can make this keep stays small.
 */
const secretKeys = new Map<string, boolean>();
const SECRET_KEYS_REMEMBERED = 10_000;
const LONGEST_REMEMBERED_KEY = 64;

function isSecretKey(key: string): boolean {
  if (key.length > LONGEST_REMEMBERED_KEY) return SECRET_KEY.test(key);
  let secret = secretKeys.get(key);
  if (secret === undefined) {
    secret = SECRET_KEY.test(key);
    if (secretKeys.size >= SECRET_KEYS_REMEMBERED) secretKeys.clear();
    secretKeys.set(key, secret);
  }
  return secret;
}

/** The marker that replaces a redacted value. */
export const REDACTED = '[REDACTED]';

/**
 * Returns a deep copy of `value` with secrets replaced by {@link REDACTED}: values under secret-looking keys, and
 * credential-shaped substrings anywhere. Runs before a payload is hashed, so the log never holds a secret.
 * Keys in `keep` are never redacted (e.g. `tokenId`, which names a token without revealing it).
 */
export function redactSecrets(value: unknown, keep: ReadonlySet<string> = KEEP): unknown {
  if (typeof value === 'string') return redactString(value);
  if (Array.isArray(value)) return value.map((v) => redactSecrets(v, keep));
  if (value && typeof value === 'object') {
    const out: Record<string, unknown> = {};
    for (const k of Object.keys(value)) {
      const v = (value as Record<string, unknown>)[k];
      out[k] = isSecretMember(k, v, keep) ? REDACTED : redactSecrets(v, keep);
    }
    return out;
  }
  return value;
}

/**
 * The canonical JSON (crypto/canonical-json.ts) of `value` with secrets redacted as {@link redactSecrets} does,
 * in one walk and with no copy: what an audit record stores and hashes. For JSON values it is exactly
 * `canonicalJson(redactSecrets(value))`; where a value is not plain JSON it is more faithful to it — an object's
 * `toJSON()` (a `Date`) is written, then redacted, instead of an empty copy, and an own `__proto__` member is kept.
 */
export function redactedCanonicalJson(value: unknown, keep: ReadonlySet<string> = KEEP): string {
  return redactToCanonicalJson(value, keep).json;
}

/** {@link redactedCanonicalJson}, and whether anything was redacted (when not, the text is the value's own). */
export function redactToCanonicalJson(
  value: unknown,
  keep: ReadonlySet<string> = KEEP,
): { json: string; redacted: boolean } {
  const filter = new RedactionFilter(keep);
  const json = canonicalJson(value, filter);
  return { json, redacted: filter.redacted };
}

function redactString(value: string): string {
  if (value.length < SHORTEST_SECRET_VALUE || !MAYBE_SECRET_VALUE.test(value)) return value;
  let out = value;
  for (const re of SECRET_VALUE) out = out.replace(re, REDACTED);
  return out;
}

/** A member whose value is replaced whole: a secret-looking key, unless kept, holding anything but null or a flag. */
function isSecretMember(key: string, value: unknown, keep: ReadonlySet<string>): boolean {
  return value !== null && typeof value !== 'boolean' && !keep.has(key) && isSecretKey(key);
}

const REDACTED_JSON = JSON.stringify(REDACTED);

/** Redaction as the canonical writer's filter, noting whether it changed anything. */
class RedactionFilter implements CanonicalFilter {
  redacted = false;

  constructor(private readonly keep: ReadonlySet<string>) {}

  string(s: string): string {
    const out = redactString(s);
    if (out !== s) this.redacted = true;
    return out;
  }

  member(key: string, value: unknown): string | undefined {
    if (!isSecretMember(key, value, this.keep)) return undefined;
    this.redacted = true;
    return REDACTED_JSON;
  }
}

const KEEP: ReadonlySet<string> = new Set(['tokenId', 'tokenName', 'tokens', 'tokenCount']);
