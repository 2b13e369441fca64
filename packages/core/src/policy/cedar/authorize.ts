import { UserError } from '../../errors.js';
import { compilePolicy, type CompiledPolicy, type EvalEnv, type ScopeNeed } from './compile.js';
import { CedarEntityStore } from './entity-store.js';
import { CedarEvalError, decodeUid, decodeValue, RecordValue, valueKey, type EntityValue } from './values.js';
import type { CedarEntity, CedarPolicySet, CedarRequest, CedarResponse } from './types.js';

type Scope = 'principal' | 'action' | 'resource';
const SCOPES: readonly Scope[] = ['principal', 'action', 'resource'];

/** What the policies of a set need of one scope variable: every entity key and every type some scope names. */
interface ScopeIndex {
  entities: Set<string>;
  types: Set<string>;
}

/**
 * A policy set compiled for requests: the closures, and an index of what their scopes need (see `ScopeNeed`), so
 * a request evaluates only the policies whose principal, action and resource scopes it can meet.
 */
interface CompiledSet {
  policies: CompiledPolicy[];
  /** Per scope variable; undefined when no policy constrains that variable. */
  index: Partial<Record<Scope, ScopeIndex>>;
  /**
   * Candidate lists by the request's signature: the entity keys and type (among those the set names) each variable
   * is or descends from. Requests with the same signature meet exactly the same scope needs.
   */
  bySignature: Map<string, CandidateList>;
  /** Each policy's place in the set, to put narrowed candidate lists back in set order. */
  position: Map<CompiledPolicy, number>;
}

/** The policies whose scopes a signature meets, and those of them a principal attribute may rule out. */
interface CandidateList {
  /** Every policy the signature meets, in set order. */
  all: CompiledPolicy[];
  /** Of those, the ones without a leading `principal.<attr> == <literal>` (see `principalEquals`), in set order. */
  others: CompiledPolicy[];
  /**
   * The ones with such a conjunct, by attribute, then by the literal's value key; `any` holds them all (in set
   * order) for a principal that lacks the attribute, whose conjunct errors. Undefined when there are none.
   */
  byAttr: Map<string, { byValue: Map<string, CompiledPolicy[]>; any: CompiledPolicy[] }> | undefined;
}

/** Signatures remembered per set; past this the map starts over (a miss costs one scan of the set). */
const MAX_SIGNATURES = 1024;

const compiledSets = new WeakMap<CedarPolicySet, CompiledSet>();

function indexCompiled(policies: CompiledPolicy[]): CompiledSet {
  const index: CompiledSet['index'] = {};
  for (const p of policies) {
    for (const v of SCOPES) {
      const need = p.scopes[v];
      if (!need) continue;
      const ix = (index[v] ??= { entities: new Set(), types: new Set() });
      if ('type' in need) ix.types.add(need.type);
      else for (const k of need.entities) ix.entities.add(k);
    }
  }
  return { policies, index, bySignature: new Map(), position: new Map(policies.map((p, i) => [p, i])) };
}

/** Remembers the closures built at load time so requests never recompile. */
export function rememberCompiled(set: CedarPolicySet, compiled: CompiledPolicy[]): void {
  compiledSets.set(set, indexCompiled(compiled));
}

function compiledFor(set: CedarPolicySet): CompiledSet {
  let compiled = compiledSets.get(set);
  if (!compiled) {
    // A set that did not come from loadCedarPolicies (e.g. rebuilt from storage): compile it once now.
    compiled = indexCompiled(set.policies.map((p) => compilePolicy(p.id, p.est)));
    compiledSets.set(set, compiled);
  }
  return compiled;
}

/** What one request variable offers the index: its type if a scope names it, and the named keys it is or is in. */
interface Offer {
  type: string | undefined;
  entities: string[];
}

function offerOf(ix: ScopeIndex, e: EntityValue, store: CedarEntityStore): Offer {
  const entities: string[] = [];
  // Cedar's `in` is reflexive and transitive: the entity itself and every ancestor.
  if (ix.entities.has(e.key)) entities.push(e.key);
  for (const a of store.ancestorKeys(e.key)) if (ix.entities.has(a)) entities.push(a);
  if (entities.length > 1) entities.sort();
  return { type: ix.types.has(e.type) ? e.type : undefined, entities };
}

function meets(need: ScopeNeed | undefined, offer: Offer | undefined): boolean {
  if (!need) return true;
  if (!offer) return false;
  return 'type' in need ? need.type === offer.type : need.entities.some((k) => offer.entities.includes(k));
}

/**
 * The policies that can match a request, in set order (so `determining` and `errors` come out as a full scan gives
 * them): those each of whose scopes is unconstrained or needs something the request's variable is, is in, or is a
 * type of; less those whose leading `principal.<attr> == <literal>` the principal's attribute makes false.
 */
function candidates(set: CompiledSet, env: EvalEnv): CompiledPolicy[] {
  const offers: Partial<Record<Scope, Offer>> = {};
  let signature = '';
  for (const v of SCOPES) {
    const ix = set.index[v];
    if (!ix) continue;
    const offer = offerOf(ix, env[v], env.store);
    offers[v] = offer;
    // Length-prefixed, so no key or type can be mistaken for another however it is spelled.
    signature += `${v}|${offer.type === undefined ? '-' : `${offer.type.length}:${offer.type}`}`;
    for (const k of offer.entities) signature += `|${k.length}:${k}`;
    signature += ';';
  }
  let list = set.bySignature.get(signature);
  if (!list) {
    list = candidateList(
      signature === ''
        ? set.policies
        : set.policies.filter((p) => SCOPES.every((v) => meets(p.scopes[v], offers[v]))),
    );
    if (set.bySignature.size >= MAX_SIGNATURES) set.bySignature.clear();
    set.bySignature.set(signature, list);
  }
  if (!list.byAttr) return list.all;
  const attrs = env.store.attrs(env.principal)?.attrs;
  const parts: CompiledPolicy[][] = [];
  for (const [attr, group] of list.byAttr) {
    const value = attrs?.get(attr);
    // Without the attribute (or the entity) the conjunct errors: every such policy is evaluated, to report it.
    // A record, set, entity or extension value never equals a string, long or boolean literal (and never errors).
    const chosen =
      value === undefined
        ? group.any
        : typeof value === 'object'
          ? undefined
          : group.byValue.get(valueKey(value));
    if (chosen?.length) parts.push(chosen);
  }
  if (!parts.length) return list.others;
  const position = set.position;
  return [...list.others, ...parts.flat()].sort(
    (a, b) => (position.get(a) as number) - (position.get(b) as number),
  );
}

function candidateList(all: CompiledPolicy[]): CandidateList {
  const others: CompiledPolicy[] = [];
  let byAttr: CandidateList['byAttr'];
  for (const p of all) {
    const eq = p.principalEquals;
    if (!eq) {
      others.push(p);
      continue;
    }
    byAttr ??= new Map();
    let group = byAttr.get(eq.attr);
    if (!group) byAttr.set(eq.attr, (group = { byValue: new Map(), any: [] }));
    group.any.push(p);
    const key = valueKey(eq.value);
    const same = group.byValue.get(key);
    if (same) same.push(p);
    else group.byValue.set(key, [p]);
  }
  return { all, others, byAttr };
}

/**
 * A request decoded once (context, uids and entities), to decide it against several policy sets without decoding it
 * again. Make one with {@link prepareCedarRequest}.
 */
export class PreparedCedarRequest {
  /** @internal */
  readonly env: EvalEnv;

  /** @internal */
  constructor(env: EvalEnv) {
    this.env = env;
  }
}

/**
 * Decodes a request and its entities once for several {@link isAuthorized} calls. Throws `UserError` for malformed
 * requests or entities, as `isAuthorized` would.
 *
 * @example
 * const prepared = prepareCedarRequest(request, entities);
 * if (isAuthorized(permits, prepared).decision === 'allow') isAuthorized(approvals, prepared);
 */
export function prepareCedarRequest(
  request: CedarRequest,
  entities: readonly CedarEntity[] | CedarEntityStore,
): PreparedCedarRequest {
  const store = entities instanceof CedarEntityStore ? entities : new CedarEntityStore(entities);
  const context = decodeValue(request.context ?? {}, 'context');
  if (!(context instanceof RecordValue))
    throw new UserError('context must be a record', { field: 'context' });
  return new PreparedCedarRequest({
    principal: decodeUid(request.principal, 'principal'),
    action: decodeUid(request.action, 'action'),
    resource: decodeUid(request.resource, 'resource'),
    context,
    store,
  });
}

/**
 * Decides a request against a policy set with Cedar's semantics, in plain TypeScript (cedar-wasm is never on this
 * path). A forbid that is satisfied wins; otherwise a satisfied permit allows; otherwise the default is deny. A policy
 * whose condition errors does not apply and is listed in `errors`.
 *
 * Throws `UserError` for malformed requests or entities that cedar would also reject (bad uids, fractional numbers,
 * cycles in the hierarchy, conflicting duplicate entities).
 *
 * @example
 * const set = loadCedarPolicies([{ file: 'base.cedar', text: 'permit(principal, action, resource);' }]);
 * isAuthorized(set, { principal, action, resource, context: {} }, []).decision // 'allow'
 */
export function isAuthorized(
  set: CedarPolicySet,
  request: CedarRequest,
  entities: readonly CedarEntity[] | CedarEntityStore,
): CedarResponse;
export function isAuthorized(set: CedarPolicySet, request: PreparedCedarRequest): CedarResponse;
export function isAuthorized(
  set: CedarPolicySet,
  request: CedarRequest | PreparedCedarRequest,
  entities?: readonly CedarEntity[] | CedarEntityStore,
): CedarResponse {
  const { env } =
    request instanceof PreparedCedarRequest ? request : prepareCedarRequest(request, entities ?? []);
  const permits: string[] = [];
  const forbids: string[] = [];
  const errors: CedarResponse['errors'] = [];
  for (const p of candidates(compiledFor(set), env)) {
    let ok: boolean;
    try {
      // The index has checked every scope need of a candidate, so the scopes it decides exactly need not run again.
      ok = p.satisfiedGivenNeeds(env);
    } catch (e) {
      if (!(e instanceof CedarEvalError)) throw e;
      errors.push({ policyId: p.id, message: e.message });
      continue;
    }
    if (ok) (p.effect === 'forbid' ? forbids : permits).push(p.id);
  }
  if (forbids.length > 0) return { decision: 'deny', determining: forbids, errors };
  if (permits.length > 0) return { decision: 'allow', determining: permits, errors };
  return { decision: 'deny', determining: [], errors };
}
