import { UserError } from '../../errors.js';
import { compilePolicy, type CompiledPolicy, type EvalEnv } from './compile.js';
import { CedarEntityStore } from './entity-store.js';
import { CedarEvalError, decodeUid, decodeValue, RecordValue } from './values.js';
import type { CedarEntity, CedarPolicySet, CedarRequest, CedarResponse } from './types.js';

const compiledSets = new WeakMap<CedarPolicySet, CompiledPolicy[]>();

/** Remembers the closures built at load time so requests never recompile. */
export function rememberCompiled(set: CedarPolicySet, compiled: CompiledPolicy[]): void {
  compiledSets.set(set, compiled);
}

function compiledFor(set: CedarPolicySet): CompiledPolicy[] {
  let compiled = compiledSets.get(set);
  if (!compiled) {
    // A set that did not come from loadCedarPolicies (e.g. rebuilt from storage): compile it once now.
    compiled = set.policies.map((p) => compilePolicy(p.id, p.est));
    compiledSets.set(set, compiled);
  }
  return compiled;
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
  for (const p of compiledFor(set)) {
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
