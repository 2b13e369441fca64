import { UserError } from '../../errors.js';
import { compilePolicy, type CompiledPolicy, type EvalEnv } from './compile.js';
import { CedarEntityStore } from './entity-store.js';
import { CedarEvalError, decodeUid, decodeValue, RecordValue } from './values.js';
import type { CedarEntity, CedarPolicySet, CedarRequest, CedarResponse } from './types.js';

/**
 * A policy set compiled for requests: the closures, and an index from action key to the policies whose action scope
 * names it, so a request evaluates only the policies that can match its action (plus those with any action).
 */
interface CompiledSet {
  policies: CompiledPolicy[];
  /** Positions (in set order) of the policies with an unconstrained action scope. */
  anyAction: number[];
  /** Action key → positions of the policies whose action scope names that key. */
  byAction: Map<string, number[]>;
}

const compiledSets = new WeakMap<CedarPolicySet, CompiledSet>();

function indexCompiled(policies: CompiledPolicy[]): CompiledSet {
  const anyAction: number[] = [];
  const byAction = new Map<string, number[]>();
  policies.forEach((p, i) => {
    if (!p.actionKeys) {
      anyAction.push(i);
      return;
    }
    for (const key of new Set(p.actionKeys)) {
      const list = byAction.get(key);
      if (list) list.push(i);
      else byAction.set(key, [i]);
    }
  });
  return { policies, anyAction, byAction };
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

/**
 * The policies that can match a request's action, in set order: those with any action, and those whose action scope
 * names the action or one of its ancestors (Cedar's `in` is reflexive and transitive).
 */
function candidates(set: CompiledSet, actionKey: string, store: CedarEntityStore): CompiledPolicy[] {
  if (set.byAction.size === 0) return set.policies;
  const lists: number[][] = [set.anyAction];
  const own = set.byAction.get(actionKey);
  if (own) lists.push(own);
  for (const ancestor of store.ancestorKeys(actionKey)) {
    const list = set.byAction.get(ancestor);
    if (list) lists.push(list);
  }
  if (lists.length === 1) return set.anyAction.map((i) => set.policies[i] as CompiledPolicy);
  // Set order keeps `determining` and `errors` in the order a full scan gives; a policy named twice runs once.
  const positions = [...new Set(lists.flat())].sort((a, b) => a - b);
  return positions.map((i) => set.policies[i] as CompiledPolicy);
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
): CedarResponse {
  const store = entities instanceof CedarEntityStore ? entities : new CedarEntityStore(entities);
  const context = decodeValue(request.context ?? {}, 'context');
  if (!(context instanceof RecordValue))
    throw new UserError('context must be a record', { field: 'context' });
  const env: EvalEnv = {
    principal: decodeUid(request.principal, 'principal'),
    action: decodeUid(request.action, 'action'),
    resource: decodeUid(request.resource, 'resource'),
    context,
    store,
  };
  const permits: string[] = [];
  const forbids: string[] = [];
  const errors: CedarResponse['errors'] = [];
  for (const p of candidates(compiledFor(set), env.action.key, store)) {
    let ok: boolean;
    try {
      ok = p.satisfied(env);
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
