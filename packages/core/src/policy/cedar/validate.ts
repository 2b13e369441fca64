import * as cedar from '@cedar-policy/cedar-wasm/nodejs';
import { UserError } from '../../errors.js';
import type { CedarPolicySet } from './types.js';

/** One validation finding. */
export interface CedarValidationIssue {
  policyId: string;
  /** The message, with cedar's help appended in parentheses when it gives one. */
  message: string;
  /** Cedar's message without the help. */
  text: string;
  /** Cedar's help on its own, when it gives one. */
  help?: string | undefined;
  /** `error` (the policy can fail to evaluate) or `warning` (it cannot, but is probably not what was meant). */
  severity: 'error' | 'warning';
}

/** Options of {@link validateCedarPolicies}. */
export interface CedarValidationOptions {
  /** Also return cedar's warnings (policies that can never apply, confusable identifiers…). Default false. */
  withWarnings?: boolean;
}

/**
 * Type-checks a policy set against a Cedar schema (JSON schema object or Cedar schema text) with cedar-wasm's strict
 * validator. Returns one issue per problem; an empty list means the set is valid. Throws `UserError` (field `schema`)
 * when the schema itself cannot be parsed.
 */
export function validateCedarPolicies(
  set: CedarPolicySet,
  schemaJson: unknown,
  options: CedarValidationOptions = {},
): CedarValidationIssue[] {
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
  const issue = (e: cedar.ValidationError, severity: CedarValidationIssue['severity']) => ({
    policyId: e.policyId,
    message: e.error.help ? `${e.error.message} (${e.error.help})` : e.error.message,
    text: e.error.message,
    help: e.error.help ?? undefined,
    severity,
  });
  return [
    ...answer.validationErrors.map((e) => issue(e, 'error')),
    ...(options.withWarnings ? answer.validationWarnings.map((e) => issue(e, 'warning')) : []),
  ];
}
