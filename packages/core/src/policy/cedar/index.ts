/**
 * Cedar policies for Autonomy OS. cedar-wasm parses and validates policy text at load time; requests are decided by
 * a TypeScript evaluator that follows Cedar's semantics (checked against cedar-wasm by a differential test), because
 * cedar-wasm on the request path is slow (~125 µs per decision) and crashed Node 20 under load.
 *
 * Anything exported here is public API.
 */
export { loadCedarPolicies } from './load.js';
export type { CedarSource } from './load.js';
export { isAuthorized, prepareCedarRequest, PreparedCedarRequest } from './authorize.js';
export { CedarEntityStore, createCedarEntityStore } from './entity-store.js';
export { validateCedarPolicies } from './validate.js';
export type { CedarValidationIssue } from './validate.js';
export type {
  CedarEntity,
  CedarPolicy,
  CedarPolicyError,
  CedarPolicySet,
  CedarRequest,
  CedarResponse,
  CedarValue,
  EntityUid,
} from './types.js';
