import { createHash } from 'node:crypto';
import { UserError } from '../errors.js';

/**
 * Deepest nesting canonical JSON holds. Fronts refuse much shallower bodies first (`server.bodyMaxDepth`); this is the
 * engine's own guard, so a value from any other path fails as bad input instead of overflowing the stack.
 */
export const CANONICAL_JSON_MAX_DEPTH = 256;

/**
 * Canonical JSON (RFC 8785 / JCS): object keys sorted by UTF-16 code units, no whitespace, numbers in ECMAScript's
 * shortest form. Two equal values always give the same bytes, so hashes over them are stable across nodes.
 * `undefined` object members are dropped (as JSON.stringify does); non-finite numbers and other non-JSON values throw.
 *
 * @example canonicalJson({ b: 1, a: [true, 'x'] }) // '{"a":[true,"x"],"b":1}'
 */
export function canonicalJson(value: unknown, filter?: CanonicalFilter): string {
  return write(value, 0, filter);
}

/**
 * What a canonical writer changes on its way through a value, so that a transform and the canonical pass are one
 * walk with no copy in between (audit redaction: audit/redact.ts).
 */
export interface CanonicalFilter {
  /** The string to write in place of `s` (a value, not a key). */
  string(s: string): string;
  /** The JSON to write for member `key` in place of its value's (even when that is `undefined`), or undefined. */
  member(key: string, value: unknown): string | undefined;
}

/** A string JSON.stringify writes as it is, in quotes: no quote, backslash, control character or surrogate. */
// eslint-disable-next-line no-control-regex -- the control characters are exactly what JSON must escape
const PLAIN_STRING = /^[^"\\\u0000-\u001f\ud800-\udfff]*$/;

/** JSON.stringify of a string, without its machinery for the common string that needs no escape. */
function quote(s: string): string {
  return PLAIN_STRING.test(s) ? `"${s}"` : JSON.stringify(s);
}

/**
 * Object keys as JSON: keys repeat from value to value (an audit payload's field names). Only short keys are
 * remembered, so what callers' values can make this keep stays small (at most 10,000 keys of 64 characters).
 */
const quotedKeys = new Map<string, string>();
const QUOTED_KEYS_REMEMBERED = 10_000;
const LONGEST_REMEMBERED_KEY = 64;

function quoteKey(key: string): string {
  if (key.length > LONGEST_REMEMBERED_KEY) return quote(key);
  let quoted = quotedKeys.get(key);
  if (quoted === undefined) {
    quoted = quote(key);
    if (quotedKeys.size >= QUOTED_KEYS_REMEMBERED) quotedKeys.clear();
    quotedKeys.set(key, quoted);
  }
  return quoted;
}

function write(value: unknown, depth: number, filter: CanonicalFilter | undefined): string {
  if (value === null) return 'null';
  switch (typeof value) {
    case 'string':
      return quote(filter ? filter.string(value) : value);
    case 'boolean':
      return value ? 'true' : 'false';
    case 'number':
      if (!Number.isFinite(value)) throw new TypeError('canonical JSON cannot hold a non-finite number');
      // ECMAScript's Number::toString, as JSON.stringify writes a finite number (-0 included: "0").
      return String(value);
    case 'object': {
      if (depth >= CANONICAL_JSON_MAX_DEPTH)
        throw new UserError(`JSON nests deeper than ${CANONICAL_JSON_MAX_DEPTH} levels`, {
          code: 'too_deep',
        });
      // Loops and concatenation rather than map/filter/join: every audit append canonicalises its payload.
      if (Array.isArray(value)) {
        let out = '[';
        for (let i = 0; i < value.length; i++) {
          const v: unknown = value[i];
          out += (i === 0 ? '' : ',') + write(v === undefined ? null : v, depth + 1, filter);
        }
        return `${out}]`;
      }
      const obj = value as Record<string, unknown>;
      if (typeof (obj as { toJSON?: unknown }).toJSON === 'function') {
        return write((obj as { toJSON: () => unknown }).toJSON(), depth, filter);
      }
      const keys = Object.keys(obj);
      if (keys.length > 1) keys.sort();
      let out = '{';
      for (const k of keys) {
        const v = obj[k];
        const replaced = filter?.member(k, v);
        if (replaced === undefined && v === undefined) continue;
        out += `${out.length === 1 ? '' : ','}${quoteKey(k)}:${replaced ?? write(v, depth + 1, filter)}`;
      }
      return `${out}}`;
    }
    default:
      throw new TypeError(`canonical JSON cannot hold a ${typeof value}`);
  }
}

/** SHA-256 of a string or bytes, as lower-case hex. */
export function sha256Hex(data: string | Uint8Array): string {
  return createHash('sha256').update(data).digest('hex');
}

/** SHA-256 of the canonical JSON of a value, as lower-case hex. */
export function hashJson(value: unknown): string {
  return sha256Hex(canonicalJson(value));
}
