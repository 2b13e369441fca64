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
export function canonicalJson(value: unknown): string {
  return write(value, 0);
}

function write(value: unknown, depth: number): string {
  if (value === null) return 'null';
  switch (typeof value) {
    case 'string':
      return JSON.stringify(value);
    case 'boolean':
      return value ? 'true' : 'false';
    case 'number':
      if (!Number.isFinite(value)) throw new TypeError('canonical JSON cannot hold a non-finite number');
      return JSON.stringify(value);
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
          out += (i === 0 ? '' : ',') + write(v === undefined ? null : v, depth + 1);
        }
        return `${out}]`;
      }
      const obj = value as Record<string, unknown>;
      if (typeof (obj as { toJSON?: unknown }).toJSON === 'function') {
        return write((obj as { toJSON: () => unknown }).toJSON(), depth);
      }
      const keys = Object.keys(obj);
      if (keys.length > 1) keys.sort();
      let out = '{';
      for (const k of keys) {
        const v = obj[k];
        if (v === undefined) continue;
        out += `${out.length === 1 ? '' : ','}${JSON.stringify(k)}:${write(v, depth + 1)}`;
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
