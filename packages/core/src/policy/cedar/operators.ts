/**
 * The runtime half of the evaluator: type checks, attribute access, `in`, `like` and the operator tables that
 * compiled closures call. Every failure throws {@link CedarEvalError}, which makes the policy not apply.
 */
import type { CedarEntityStore } from './entity-store.js';
import { ipIsLoopback, ipIsMulticast } from './extensions.js';
import type { DecimalValue, IpValue } from './extensions.js';
import {
  CedarEvalError,
  EntityValue,
  LONG_MAX,
  LONG_MIN,
  RecordValue,
  SetValue,
  typeName,
  type Value,
} from './values.js';

/** What a compiled policy sees while evaluating one request. */
export interface EvalEnv {
  principal: EntityValue;
  action: EntityValue;
  resource: EntityValue;
  context: RecordValue;
  store: CedarEntityStore;
}

/** Marks a `*` in a compiled `like` pattern. */
export const WILDCARD = Symbol('wildcard');
export type PatternElem = typeof WILDCARD | string[];

export const COMPARE = {
  '<': (a: bigint, b: bigint) => a < b,
  '<=': (a: bigint, b: bigint) => a <= b,
  '>': (a: bigint, b: bigint) => a > b,
  '>=': (a: bigint, b: bigint) => a >= b,
} as const;

export const DECIMAL_CMP = {
  lessThan: '<',
  lessThanOrEqual: '<=',
  greaterThan: '>',
  greaterThanOrEqual: '>=',
} as const;

export const ARITH = {
  '+': (a: bigint, b: bigint) => a + b,
  '-': (a: bigint, b: bigint) => a - b,
  '*': (a: bigint, b: bigint) => a * b,
} as const;

export const IP_TESTS = {
  isIpv4: (ip: IpValue) => !ip.v6,
  isIpv6: (ip: IpValue) => ip.v6,
  isLoopback: ipIsLoopback,
  isMulticast: ipIsMulticast,
} as const;

function typeError(expected: string, v: Value): never {
  throw new CedarEvalError(`type error: expected ${expected}, got ${typeName(v)}`);
}

export function asBool(v: Value): boolean {
  return typeof v === 'boolean' ? v : typeError('bool', v);
}

export function asLong(v: Value): bigint {
  return typeof v === 'bigint' ? v : typeError('long', v);
}

export function asString(v: Value): string {
  return typeof v === 'string' ? v : typeError('string', v);
}

export function asEntity(v: Value): EntityValue {
  return v instanceof EntityValue ? v : typeError('entity', v);
}

export function asSet(v: Value): SetValue {
  return v instanceof SetValue ? v : typeError('set', v);
}

export function asDecimal(v: Value): DecimalValue {
  return typeof v === 'object' && 'kind' in v && v.kind === 'decimal' ? v : typeError('decimal', v);
}

export function asIp(v: Value): IpValue {
  return typeof v === 'object' && 'kind' in v && v.kind === 'ip' ? v : typeError('ipaddr', v);
}

export function checkLong(n: bigint, op: string): bigint {
  if (n < LONG_MIN || n > LONG_MAX) throw new CedarEvalError(`integer overflow while evaluating \`${op}\``);
  return n;
}

export function evalIn(env: EvalEnv, l: Value, r: Value): boolean {
  const ent = asEntity(l);
  if (r instanceof EntityValue) return env.store.isIn(ent, r.key);
  if (!(r instanceof SetValue)) return typeError('set or entity', r);
  // cedar checks every element is an entity before testing membership.
  const targets = r.items.map((x) => asEntity(x));
  return targets.some((t) => env.store.isIn(ent, t.key));
}

export function getAttr(env: EvalEnv, v: Value, attr: string): Value {
  let rec: RecordValue;
  if (v instanceof EntityValue) {
    const attrs = env.store.attrs(v);
    if (!attrs) throw new CedarEvalError(`entity \`${v.key}\` does not exist`);
    rec = attrs;
  } else if (v instanceof RecordValue) rec = v;
  else return typeError('entity or record', v);
  const out = rec.attrs.get(attr);
  if (out === undefined)
    throw new CedarEvalError(`\`${typeName(v)}\` does not have the attribute \`${attr}\``);
  return out;
}

export function hasAttr(env: EvalEnv, v: Value, attr: string): boolean {
  if (v instanceof EntityValue) return env.store.attrs(v)?.attrs.has(attr) ?? false;
  if (v instanceof RecordValue) return v.attrs.has(attr);
  return typeError('entity or record', v);
}

export function likeMatch(s: string[], pattern: PatternElem[]): boolean {
  // Flatten into single-character steps; iterative wildcard matching with backtracking to the last `*`.
  const p: (typeof WILDCARD | string)[] = [];
  for (const el of pattern) {
    if (el === WILDCARD) p.push(WILDCARD);
    else p.push(...el);
  }
  let si = 0;
  let pi = 0;
  let star = -1;
  let mark = 0;
  while (si < s.length) {
    if (pi < p.length && p[pi] !== WILDCARD && p[pi] === s[si]) {
      si++;
      pi++;
    } else if (pi < p.length && p[pi] === WILDCARD) {
      star = pi++;
      mark = si;
    } else if (star >= 0) {
      pi = star + 1;
      si = ++mark;
    } else return false;
  }
  while (pi < p.length && p[pi] === WILDCARD) pi++;
  return pi === p.length;
}
