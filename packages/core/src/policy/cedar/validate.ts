import * as cedar from '@cedar-policy/cedar-wasm/nodejs';
import { UserError } from '../../errors.js';
import type { CedarPolicySet } from './types.js';

/** One validation finding. */
export interface CedarValidationIssue {
  policyId: string;
  message: string;
}

/**
 * Type-checks a policy set against a Cedar schema (JSON schema object or Cedar schema text) with cedar-wasm's strict
 * validator. Returns one issue per problem; an empty list means the set is valid. Throws `UserError` (field `schema`)
 * when the schema itself cannot be parsed.
 */
export function validateCedarPolicies(set: CedarPolicySet, schemaJson: unknown): CedarValidationIssue[] {
  const staticPolicies: Record<string, cedar.PolicyJson> = {};
  for (const p of set.policies) staticPolicies[p.id] = p.est as cedar.PolicyJson;
  const answer = cedar.validate({
    schema: schemaJson as cedar.Schema,
    policies: { staticPolicies },
    validationSettings: { mode: 'strict' },
  });
  if (answer.type === 'failure') {
    throw new UserError(answer.errors.map((e) => e.message).join('; '), { field: 'schema' });
  }
  return answer.validationErrors.map((e) => ({
    policyId: e.policyId,
    message: e.error.help ? `${e.error.message} (${e.error.help})` : e.error.message,
  }));
}
