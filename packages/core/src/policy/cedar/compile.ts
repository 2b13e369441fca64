import { UserError } from '../../errors.js';
import { ipInRange, parseDecimal, parseIp } from './extensions.js';
import {
  ARITH,
  asBool,
  asDecimal,
  asEntity,
  asIp,
  asLong,
  asSet,
  asString,
  checkLong,
  COMPARE,
  DECIMAL_CMP,
  evalIn,
  getAttr,
  hasAttr,
  IP_TESTS,
  likeMatch,
  WILDCARD,
  type EvalEnv,
  type PatternElem,
} from './operators.js';
import type { EntityValue } from './values.js';
import {
  CedarEvalError,
  decodeUid,
  decodeValue,
  RecordValue,
  SetValue,
  valueEquals,
  valueKey,
  type Value,
} from './values.js';

export type { EvalEnv } from './operators.js';

type Fn = (env: EvalEnv) => Value;

/** A policy turned into a closure: returns whether it is satisfied, throws {@link CedarEvalError} on error. */
export interface CompiledPolicy {
  id: string;
  effect: 'permit' | 'forbid';
  satisfied: (env: EvalEnv) => boolean;
  /**
   * What each scope requires of the request, for the set's index (see {@link ScopeNeed}); a scope left out is
   * unconstrained. A request that meets none of a scope's needs cannot satisfy the policy, so the index skips it;
   * scope checks never error, so skipping changes no error either.
   */
  scopes: { principal?: ScopeNeed; action?: ScopeNeed; resource?: ScopeNeed };
  /**
   * `satisfied` for a request known to meet every scope need: the scope checks a need decides exactly (see
   * {@link ScopeNeed}) are left out, the rest (and the conditions) still run. Only for requests the index admitted.
   */
  satisfiedGivenNeeds: (env: EvalEnv) => boolean;
  /**
   * When the policy's first condition is a `when` whose leftmost conjunct is `principal.<attr> == <literal>` (a
   * string, long or boolean; either side): that attribute and literal. A principal that has the attribute with any
   * other value makes the conjunct false without error, and `&&` stops there, so the set's index may skip the
   * policy; a principal without the attribute (an error) or with that value is evaluated.
   */
  principalEquals?: { attr: string; value: Value };
}

/**
 * A necessary condition a scope puts on the request's variable: that it is, or descends from, one of `entities`
 * (`== E`, `in E`, `in [A, B]`, `is T in E`), or that its type is `type` (`is T`). Necessary, not sufficient:
 * `== E` is also listed under E, and the policy's own closure still decides.
 */
export type ScopeNeed = ({ entities: readonly string[] } | { type: string }) & {
  /** Meeting the need is the whole scope check (`in E`, `in [A, B]`, `is T`), so it need not run again. */
  exact: boolean;
};

type Json = Record<string, unknown>;

class Compiler {
  constructor(private readonly policyId: string) {}

  refuse(construct: string): never {
    throw new UserError(`policy uses ${construct}, which this evaluator does not support`, {
      field: `policy ${this.policyId}`,
    });
  }

  obj(x: unknown, what: string): Json {
    if (x === null || typeof x !== 'object' || Array.isArray(x)) this.refuse(`a malformed ${what}`);
    return x as Json;
  }

  literal(raw: unknown): Value {
    checkLiteralInts(raw, (n) =>
      this.refuse(`the integer literal ${n} (outside ±2^53, not exactly representable)`),
    );
    try {
      return decodeValue(raw, `policy ${this.policyId}`);
    } catch (e) {
      if (e instanceof UserError) this.refuse(`the literal ${JSON.stringify(raw)}`);
      throw e;
    }
  }

  uid(raw: unknown): EntityValue {
    try {
      return decodeUid(raw, `policy ${this.policyId}`);
    } catch {
      return this.refuse(`a malformed entity reference`);
    }
  }

  scope(raw: unknown, v: 'principal' | 'action' | 'resource'): ((env: EvalEnv) => boolean) | undefined {
    const c = this.obj(raw, `${v} scope`);
    const get = (env: EvalEnv): EntityValue => env[v];
    if ('slot' in c) this.refuse(`a template slot in the ${v} scope`);
    switch (c['op']) {
      case 'All':
        return undefined;
      case '==': {
        const key = this.uid(c['entity']).key;
        return (env) => get(env).key === key;
      }
      case 'in': {
        if ('entities' in c) {
          if (v !== 'action' || !Array.isArray(c['entities'])) this.refuse(`a malformed ${v} scope`);
          const keys = (c['entities'] as unknown[]).map((e) => this.uid(e).key);
          return (env) => keys.some((k) => env.store.isIn(get(env), k));
        }
        const key = this.uid(c['entity']).key;
        return (env) => env.store.isIn(get(env), key);
      }
      case 'is': {
        if (v === 'action') this.refuse('`is` in the action scope');
        const type = c['entity_type'];
        if (typeof type !== 'string') this.refuse(`a malformed ${v} scope`);
        if (c['in'] === undefined) return (env) => get(env).type === type;
        const inner = this.obj(c['in'], `${v} scope`);
        if ('slot' in inner) this.refuse(`a template slot in the ${v} scope`);
        const key = this.uid(inner['entity']).key;
        return (env) => get(env).type === type && env.store.isIn(get(env), key);
      }
      default:
        return this.refuse(`the ${v} scope operator ${JSON.stringify(c['op'])}`);
    }
  }

  binary(body: unknown, op: string): [Fn, Fn] {
    const b = this.obj(body, `\`${op}\` expression`);
    return [this.expr(b['left']), this.expr(b['right'])];
  }

  args(body: unknown, name: string, n: number): Fn[] {
    if (!Array.isArray(body)) this.refuse(`a malformed call to \`${name}\``);
    const list = body as unknown[];
    // e.g. the variadic `isInRange` of RFC 99 is refused rather than guessed at.
    if (list.length !== n) this.refuse(`\`${name}\` with ${list.length} arguments`);
    return list.map((a) => this.expr(a));
  }

  expr(raw: unknown): Fn {
    const e = this.obj(raw, 'expression');
    const keys = Object.keys(e);
    if (keys.length !== 1) this.refuse(`an expression with keys ${JSON.stringify(keys)}`);
    const op = keys[0] as string;
    const body = e[op];
    switch (op) {
      case 'Value': {
        const v = this.literal(body);
        return () => v;
      }
      case 'Var':
        switch (body) {
          case 'principal':
            return (env) => env.principal;
          case 'action':
            return (env) => env.action;
          case 'resource':
            return (env) => env.resource;
          case 'context':
            return (env) => env.context;
          default:
            return this.refuse(`the variable ${JSON.stringify(body)}`);
        }
      case 'Slot':
        return this.refuse('a template slot');
      case '!': {
        const a = this.expr(this.obj(body, '`!`')['arg']);
        return (env) => !asBool(a(env));
      }
      case 'neg': {
        const a = this.expr(this.obj(body, '`-`')['arg']);
        return (env) => checkLong(-asLong(a(env)), 'negation');
      }
      case '==': {
        const [l, r] = this.binary(body, op);
        return (env) => valueEquals(l(env), r(env));
      }
      case '!=': {
        const [l, r] = this.binary(body, op);
        return (env) => !valueEquals(l(env), r(env));
      }
      case '<':
      case '<=':
      case '>':
      case '>=': {
        const [l, r] = this.binary(body, op);
        const cmp = COMPARE[op];
        return (env) => {
          const a = l(env);
          const b = r(env);
          return cmp(asLong(a), asLong(b));
        };
      }
      case '+':
      case '-':
      case '*': {
        const [l, r] = this.binary(body, op);
        const f = ARITH[op];
        return (env) => {
          const a = l(env);
          const b = r(env);
          return checkLong(f(asLong(a), asLong(b)), op);
        };
      }
      case '&&': {
        const [l, r] = this.binary(body, op);
        return (env) => asBool(l(env)) && asBool(r(env));
      }
      case '||': {
        const [l, r] = this.binary(body, op);
        return (env) => asBool(l(env)) || asBool(r(env));
      }
      case 'in': {
        const [l, r] = this.binary(body, op);
        return (env) => evalIn(env, l(env), r(env));
      }
      case 'contains': {
        const [l, r] = this.binary(body, op);
        return (env) => {
          const s = l(env);
          const x = r(env);
          return asSet(s).keys.has(valueKey(x));
        };
      }
      case 'containsAll':
      case 'containsAny': {
        const [l, r] = this.binary(body, op);
        const all = op === 'containsAll';
        return (env) => {
          const a = l(env);
          const b = r(env);
          const sa = asSet(a);
          const sb = asSet(b);
          return all ? [...sb.keys].every((k) => sa.keys.has(k)) : [...sb.keys].some((k) => sa.keys.has(k));
        };
      }
      case 'isEmpty': {
        const a = this.expr(this.obj(body, '`isEmpty`')['arg']);
        return (env) => asSet(a(env)).items.length === 0;
      }
      case 'hasTag':
      case 'getTag': {
        const [l, r] = this.binary(body, op);
        const get = op === 'getTag';
        return (env) => {
          const ev = l(env);
          const kv = r(env);
          const ent = asEntity(ev);
          const tag = asString(kv);
          const tags = env.store.tags(ent);
          if (!get) return tags?.has(tag) ?? false;
          if (!tags) throw new CedarEvalError(`entity \`${ent.key}\` does not exist`);
          const v = tags.get(tag);
          if (v === undefined) throw new CedarEvalError(`\`${ent.key}\` does not have the tag \`${tag}\``);
          return v;
        };
      }
      case '.': {
        const b = this.obj(body, '`.`');
        const l = this.expr(b['left']);
        const attr = b['attr'];
        if (typeof attr !== 'string') this.refuse('a malformed attribute access');
        return (env) => getAttr(env, l(env), attr);
      }
      case 'has': {
        const b = this.obj(body, '`has`');
        const l = this.expr(b['left']);
        const path = typeof b['attr'] === 'string' ? [b['attr']] : b['attr'];
        if (!Array.isArray(path) || path.length === 0 || !path.every((p) => typeof p === 'string')) {
          this.refuse('a malformed `has`');
        }
        const attrs = path as string[];
        // `e has a.b` means `e has a && e.a has b`.
        return (env) => {
          let v = l(env);
          for (let i = 0; i < attrs.length; i++) {
            const a = attrs[i] as string;
            if (!hasAttr(env, v, a)) return false;
            if (i + 1 < attrs.length) v = getAttr(env, v, a);
          }
          return true;
        };
      }
      case 'like': {
        const b = this.obj(body, '`like`');
        const l = this.expr(b['left']);
        const pattern = this.pattern(b['pattern']);
        return (env) => likeMatch(Array.from(asString(l(env))), pattern);
      }
      case 'is': {
        const b = this.obj(body, '`is`');
        const l = this.expr(b['left']);
        const type = b['entity_type'];
        if (typeof type !== 'string') this.refuse('a malformed `is`');
        if (b['in'] === undefined) return (env) => asEntity(l(env)).type === type;
        const r = this.expr(b['in']);
        // `e is T in x` means `e is T && e in x`, so `x` is only evaluated when the type matches.
        return (env) => {
          const ent = asEntity(l(env));
          return ent.type === type && evalIn(env, ent, r(env));
        };
      }
      case 'if-then-else': {
        const b = this.obj(body, '`if`');
        const c = this.expr(b['if']);
        const t = this.expr(b['then']);
        const f = this.expr(b['else']);
        return (env) => (asBool(c(env)) ? t(env) : f(env));
      }
      case 'Set': {
        if (!Array.isArray(body)) this.refuse('a malformed set literal');
        const items = (body as unknown[]).map((x) => this.expr(x));
        return (env) => new SetValue(items.map((f) => f(env)));
      }
      case 'Record': {
        const fields = Object.entries(this.obj(body, 'record literal')).map(
          ([k, x]) => [k, this.expr(x)] as const,
        );
        return (env) => new RecordValue(new Map(fields.map(([k, f]) => [k, f(env)])));
      }
      default:
        return this.extension(op, body);
    }
  }

  extension(name: string, body: unknown): Fn {
    switch (name) {
      case 'decimal':
      case 'ip': {
        const [a] = this.args(body, name, 1) as [Fn];
        const parse = name === 'decimal' ? parseDecimal : parseIp;
        return (env) => {
          const r = parse(asString(a(env)));
          if (typeof r === 'string') throw new CedarEvalError(`error while evaluating \`${name}\`: ${r}`);
          return r;
        };
      }
      case 'lessThan':
      case 'lessThanOrEqual':
      case 'greaterThan':
      case 'greaterThanOrEqual': {
        const [l, r] = this.args(body, name, 2) as [Fn, Fn];
        const cmp = COMPARE[DECIMAL_CMP[name]];
        return (env) => {
          const a = l(env);
          const b = r(env);
          return cmp(asDecimal(a).scaled, asDecimal(b).scaled);
        };
      }
      case 'isIpv4':
      case 'isIpv6':
      case 'isLoopback':
      case 'isMulticast': {
        const [a] = this.args(body, name, 1) as [Fn];
        const test = IP_TESTS[name];
        return (env) => test(asIp(a(env)));
      }
      case 'isInRange': {
        const [l, r] = this.args(body, name, 2) as [Fn, Fn];
        return (env) => {
          const a = l(env);
          const b = r(env);
          return ipInRange(asIp(a), asIp(b));
        };
      }
      default:
        return this.refuse(`the function or operator \`${name}\``);
    }
  }

  pattern(raw: unknown): PatternElem[] {
    if (!Array.isArray(raw)) this.refuse('a malformed `like` pattern');
    return (raw as unknown[]).map((p) => {
      if (p === 'Wildcard') return WILDCARD;
      const lit = this.obj(p, '`like` pattern')['Literal'];
      if (typeof lit !== 'string') this.refuse('a malformed `like` pattern');
      return Array.from(lit);
    });
  }
}

function checkLiteralInts(raw: unknown, refuse: (n: number) => never): void {
  if (typeof raw === 'number') {
    if (!Number.isSafeInteger(raw)) refuse(raw);
  } else if (Array.isArray(raw)) raw.forEach((x) => checkLiteralInts(x, refuse));
  else if (raw !== null && typeof raw === 'object')
    Object.values(raw).forEach((x) => checkLiteralInts(x, refuse));
}

/**
 * Compiles one policy's EST into a closure, once. Throws `UserError` naming the policy and the construct for anything
 * the evaluator does not implement (template slots, unknown functions such as `datetime`, malformed JSON).
 */
export function compilePolicy(id: string, est: unknown): CompiledPolicy {
  const c: Compiler = new Compiler(id);
  const p = c.obj(est, 'policy');
  const effect = p['effect'];
  if (effect !== 'permit' && effect !== 'forbid') c.refuse(`the effect ${JSON.stringify(effect)}`);
  const parts: ((env: EvalEnv) => boolean)[] = [];
  // The same checks without the scopes the index decides exactly.
  const rest: ((env: EvalEnv) => boolean)[] = [];
  const scopes: CompiledPolicy['scopes'] = {};
  for (const v of ['principal', 'action', 'resource'] as const) {
    const s = c.scope(p[v], v);
    if (!s) continue;
    parts.push(s);
    const need = scopeNeed(p[v]) as ScopeNeed;
    scopes[v] = need;
    if (!need.exact) rest.push(s);
  }
  const conditions = p['conditions'] ?? [];
  if (!Array.isArray(conditions)) c.refuse('malformed conditions');
  for (const raw of conditions as unknown[]) {
    const cond = c.obj(raw, 'condition');
    const body = c.expr(cond['body']);
    let check: (env: EvalEnv) => boolean;
    if (cond['kind'] === 'when') check = (env) => asBool(body(env));
    else if (cond['kind'] === 'unless') check = (env) => !asBool(body(env));
    else c.refuse(`the condition kind ${JSON.stringify(cond['kind'])}`);
    parts.push(check);
    rest.push(check);
  }
  const all = (list: ((env: EvalEnv) => boolean)[]) => (env: EvalEnv) => {
    for (const part of list) if (!part(env)) return false;
    return true;
  };
  const principalEquals = leadingPrincipalEquals(c, conditions as unknown[]);
  return {
    id,
    effect,
    satisfied: all(parts),
    scopes,
    satisfiedGivenNeeds: all(rest),
    ...(principalEquals ? { principalEquals } : {}),
  };
}

/** See {@link CompiledPolicy.principalEquals}: the first condition's leading `principal.<attr> == <literal>`. */
function leadingPrincipalEquals(c: Compiler, conditions: unknown[]): CompiledPolicy['principalEquals'] {
  const first = conditions[0] as Json | undefined;
  if (first?.['kind'] !== 'when') return undefined;
  let body = first['body'] as Json | undefined;
  // The leftmost conjunct of `a && b && c` (parsed as `(a && b) && c`), evaluated first.
  while (body && typeof body === 'object' && '&&' in body)
    body = (body['&&'] as Json | undefined)?.['left'] as Json;
  const eq = body?.['=='] as Json | undefined;
  if (!eq) return undefined;
  const attrOf = (x: unknown): string | undefined => {
    const dot = (x as Json | undefined)?.['.'] as Json | undefined;
    const v = (dot?.['left'] as Json | undefined)?.['Var'];
    return v === 'principal' && typeof dot?.['attr'] === 'string' ? dot['attr'] : undefined;
  };
  const literalOf = (x: unknown): Value | undefined => {
    if (!x || typeof x !== 'object' || !('Value' in x)) return undefined;
    const raw = (x as Json)['Value'];
    if (typeof raw !== 'string' && typeof raw !== 'boolean' && typeof raw !== 'number') return undefined;
    const value = c.literal(raw);
    return typeof value === 'string' || typeof value === 'boolean' || typeof value === 'bigint'
      ? value
      : undefined;
  };
  for (const [a, b] of [
    [eq['left'], eq['right']],
    [eq['right'], eq['left']],
  ]) {
    const attr = attrOf(a);
    const value = attr === undefined ? undefined : literalOf(b);
    if (attr !== undefined && value !== undefined) return { attr, value };
  }
  return undefined;
}

/** What an (already validated) scope needs of the request, or undefined when it is `All`. */
function scopeNeed(raw: unknown): ScopeNeed | undefined {
  const c = raw as Json;
  const key = (u: unknown) => decodeUid(u, 'scope').key;
  switch (c['op']) {
    case '==':
      return { entities: [key(c['entity'])], exact: false };
    case 'in':
      return {
        entities: 'entities' in c ? (c['entities'] as unknown[]).map(key) : [key(c['entity'])],
        exact: true,
      };
    case 'is':
      // `is T in E` needs E (an entity key narrows more than a type); `is T` alone needs the type.
      return c['in'] === undefined
        ? { type: c['entity_type'] as string, exact: true }
        : { entities: [key((c['in'] as Json)['entity'])], exact: false };
    default:
      return undefined;
  }
}
