import type { z } from 'zod';
import { UserError } from './errors.js';

/**
 * Parses input with a zod schema; the first problem becomes a {@link UserError} that names the field
 * (dotted path), so every front reports bad input the same way.
 */
export function parseInput<S extends z.ZodType>(schema: S, input: unknown, prefix?: string): z.infer<S> {
  const result = schema.safeParse(input);
  if (result.success) return result.data;
  const issue = result.error.issues[0];
  const pathParts = [...(prefix ? [prefix] : []), ...(issue?.path ?? []).map(String)];
  // An unknown key is named itself (`isAdmin: is not a known field`), not the object that holds it.
  if (issue?.code === 'unrecognized_keys') {
    const [key] = issue.keys;
    throw new UserError('is not a known field', { field: [...pathParts, key].join('.') });
  }
  const field = pathParts.length ? pathParts.join('.') : 'input';
  throw new UserError(issue?.message ?? 'invalid', { field });
}

/** How deep and which keys a JSON value from outside may have. */
export interface JsonShapeOptions {
  /** Most containers (objects and arrays) nested in one another; the value itself counts as one. */
  maxDepth: number;
  /** Where the value sits, for the field an error names (`config`, `body`); default: its own top-level keys. */
  prefix?: string;
}

/** Keys JSON may carry as data but JavaScript treats as the prototype: refused, never dropped silently. */
const RESERVED_KEYS = new Set(['__proto__']);

interface Frame {
  value: unknown;
  depth: number;
  key: string;
  parent: Frame | undefined;
}

function pathOf(frame: Frame): string[] {
  const parts: string[] = [];
  for (let f: Frame | undefined = frame; f?.parent; f = f.parent) parts.unshift(f.key);
  return parts;
}

/**
 * Checks a parsed JSON (or YAML) value before anything walks it recursively: at most `maxDepth` levels of nesting,
 * and no `__proto__` key. Iterative, so any depth is safe to check. Errors are {@link UserError}s naming the field:
 * the full path of a reserved key (`input.__proto__`), and for depth the top-level field it sits in (`input`), or
 * `prefix` when given.
 *
 * @example checkJsonShape(JSON.parse(body), { maxDepth: 64 })
 */
export function checkJsonShape(value: unknown, options: JsonShapeOptions): void {
  const stack: Frame[] = [{ value, depth: 1, key: '', parent: undefined }];
  const { prefix } = options;
  // Bounded: each container is pushed once, and the value is a finite tree (parsed JSON has no cycles).
  while (stack.length) {
    const frame = stack.pop() as Frame;
    const v = frame.value;
    if (typeof v !== 'object' || v === null) continue;
    if (frame.depth > options.maxDepth) {
      const top = pathOf(frame)[0];
      throw new UserError(`nests deeper than ${options.maxDepth} levels`, {
        field: prefix ?? top ?? 'body',
      });
    }
    const entries: [string, unknown][] = Array.isArray(v)
      ? v.map((item, i) => [String(i), item])
      : Object.keys(v).map((k) => [k, (v as Record<string, unknown>)[k]]);
    for (const [key, item] of entries) {
      if (!Array.isArray(v) && RESERVED_KEYS.has(key)) {
        const parts = [...(prefix ? [prefix] : []), ...pathOf(frame), key];
        throw new UserError('is a reserved key', { field: parts.join('.') });
      }
      if (typeof item === 'object' && item !== null)
        stack.push({ value: item, depth: frame.depth + 1, key, parent: frame });
    }
  }
}
