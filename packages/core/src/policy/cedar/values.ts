import { UserError } from '../../errors.js';
import { parseDecimal, parseIp, type DecimalValue, type IpValue } from './extensions.js';

/**
 * Runtime values of the evaluator. Long is a `bigint` so 64-bit overflow is detected exactly; the other kinds are
 * small classes so `instanceof` dispatch stays cheap on the request path.
 */
export type Value = boolean | bigint | string | EntityValue | SetValue | RecordValue | DecimalValue | IpValue;

/** The smallest and largest Cedar `Long`. */
export const LONG_MIN = -(2n ** 63n);
export const LONG_MAX = 2n ** 63n - 1n;

/** Raised while evaluating a policy condition; the policy then does not apply and is reported in `errors`. */
export class CedarEvalError extends Error {}

/** An entity reference value. `key` identifies it (type + id) for maps and equality. */
export class EntityValue {
  readonly key: string;
  constructor(
    readonly type: string,
    readonly id: string,
  ) {
    this.key = `${type}::${JSON.stringify(id)}`;
  }
}

/** A set value: elements without duplicates, plus their keys for O(1) membership. */
export class SetValue {
  readonly items: Value[];
  readonly keys: Set<string>;
  constructor(values: Value[]) {
    this.items = [];
    this.keys = new Set();
    for (const v of values) {
      const k = valueKey(v);
      if (!this.keys.has(k)) {
        this.keys.add(k);
        this.items.push(v);
      }
    }
  }
}

/** A record value. */
export class RecordValue {
  constructor(readonly attrs: Map<string, Value>) {}
}

const keyCache = new WeakMap<object, string>();

/** A canonical string for a value: two values are Cedar-equal exactly when their keys are equal. */
export function valueKey(v: Value): string {
  switch (typeof v) {
    case 'boolean':
      return v ? 'b1' : 'b0';
    case 'bigint':
      return `l${v}`;
    case 'string':
      return `s${JSON.stringify(v)}`;
    default:
      break;
  }
  if (v instanceof EntityValue) return `e${v.key}`;
  const cached = keyCache.get(v);
  if (cached !== undefined) return cached;
  let k: string;
  if (v instanceof SetValue) k = `S[${[...v.keys].sort().join(',')}]`;
  else if (v instanceof RecordValue) {
    const parts = [...v.attrs.entries()].map(([name, x]) => `${JSON.stringify(name)}:${valueKey(x)}`).sort();
    k = `R{${parts.join(',')}}`;
  } else if (v.kind === 'decimal') k = `d${v.scaled}`;
  else k = `i${v.v6 ? 6 : 4}:${v.addr}/${v.prefix}`;
  keyCache.set(v, k);
  return k;
}

/** Cedar `==`: never errors; values of different types are unequal. */
export function valueEquals(a: Value, b: Value): boolean {
  if (a === b) return true;
  const ta = typeof a;
  if (ta !== 'object' || typeof b !== 'object') return false;
  if (a instanceof EntityValue) return b instanceof EntityValue && a.key === b.key;
  return valueKey(a) === valueKey(b);
}

/** The Cedar type name of a value, for error messages. */
export function typeName(v: Value): string {
  switch (typeof v) {
    case 'boolean':
      return 'bool';
    case 'bigint':
      return 'long';
    case 'string':
      return 'string';
    default:
      break;
  }
  if (v instanceof EntityValue) return `(entity of type \`${v.type}\`)`;
  if (v instanceof SetValue) return 'set';
  if (v instanceof RecordValue) return 'record';
  return v.kind === 'decimal' ? 'decimal' : 'ipaddr';
}

/** Reads an entity uid in either `{ type, id }` or `{ __entity: { type, id } }` form. */
export function decodeUid(raw: unknown, field: string): EntityValue {
  if (raw !== null && typeof raw === 'object') {
    const obj = raw as Record<string, unknown>;
    const inner = '__entity' in obj ? obj['__entity'] : obj;
    if (inner !== null && typeof inner === 'object') {
      const { type, id } = inner as Record<string, unknown>;
      if (typeof type === 'string' && typeof id === 'string') return new EntityValue(type, id);
    }
  }
  throw new UserError('expected an entity uid { type, id }', { field });
}

/**
 * Converts a value in Cedar's JSON value encoding to a runtime value. Throws `UserError` naming `field` for input
 * cedar would also reject (fractional or unsafe numbers, null, malformed or unknown extension values).
 */
export function decodeValue(raw: unknown, field: string): Value {
  switch (typeof raw) {
    case 'boolean':
    case 'string':
      return raw;
    case 'bigint':
      if (raw < LONG_MIN || raw > LONG_MAX) throw new UserError('integer out of 64-bit range', { field });
      return raw;
    case 'number':
      // Beyond 2^53 a JS number has already lost digits, so the value the caller meant is unknowable.
      if (!Number.isSafeInteger(raw))
        throw new UserError(`expected an integer within ±2^53, got ${raw}`, { field });
      return BigInt(raw);
    case 'object': {
      if (raw === null) throw new UserError('null is not a Cedar value', { field });
      if (Array.isArray(raw)) return new SetValue(raw.map((x, i) => decodeValue(x, `${field}[${i}]`)));
      const obj = raw as Record<string, unknown>;
      const keys = Object.keys(obj);
      if (keys.length === 1 && keys[0] === '__entity') return decodeUid(obj, field);
      if (keys.length === 1 && keys[0] === '__extn') return decodeExtension(obj['__extn'], field);
      const attrs = new Map<string, Value>();
      for (const k of keys) attrs.set(k, decodeValue(obj[k], `${field}.${k}`));
      return new RecordValue(attrs);
    }
    default:
      throw new UserError(`a ${typeof raw} is not a Cedar value`, { field });
  }
}

function decodeExtension(raw: unknown, field: string): Value {
  if (raw !== null && typeof raw === 'object') {
    const { fn, arg, args } = raw as Record<string, unknown>;
    const only =
      arg !== undefined ? arg : Array.isArray(args) && args.length === 1 ? (args[0] as unknown) : undefined;
    if (typeof only === 'string') {
      const parsed = fn === 'decimal' ? parseDecimal(only) : fn === 'ip' ? parseIp(only) : undefined;
      if (parsed === undefined)
        throw new UserError(`unsupported extension function '${String(fn)}'`, { field });
      if (typeof parsed === 'string') throw new UserError(parsed, { field });
      return parsed;
    }
  }
  throw new UserError('expected { __extn: { fn, arg } } with a string argument', { field });
}
