/**
 * Public data shapes of the Cedar policy engine. Values use Cedar's JSON value encoding, the same shape cedar-wasm
 * takes, so callers can hand the same request and entities to either.
 */

/** A Cedar entity reference, e.g. `{ type: 'User', id: 'alice' }`. */
export interface EntityUid {
  type: string;
  id: string;
}

/**
 * A Cedar value in JSON form: strings, integers (Cedar `Long`), booleans, arrays (sets), objects (records),
 * `{ __entity: { type, id } }` for entity references and `{ __extn: { fn: 'decimal' | 'ip', arg } }` for extension
 * values.
 */
export type CedarValue =
  | string
  | number
  | boolean
  | CedarValue[]
  | { __entity: EntityUid }
  | { __extn: { fn: string; arg: CedarValue } }
  | { [key: string]: CedarValue };

/** An entity in the store: its attributes, parents (for `in`) and optional tags. */
export interface CedarEntity {
  uid: EntityUid;
  attrs: Record<string, CedarValue>;
  parents: EntityUid[];
  tags?: Record<string, CedarValue>;
}

/** An authorization request. */
export interface CedarRequest {
  principal: EntityUid;
  action: EntityUid;
  resource: EntityUid;
  context: Record<string, CedarValue>;
}

/** One policy whose condition raised an error while evaluating a request; such a policy does not apply. */
export interface CedarPolicyError {
  policyId: string;
  message: string;
}

/** The answer to {@link CedarRequest}, shaped like cedar's own response. */
export interface CedarResponse {
  decision: 'allow' | 'deny';
  /** Satisfied forbids when denied by a forbid, satisfied permits when allowed, empty for the default deny. */
  determining: string[];
  errors: CedarPolicyError[];
}

/** One static policy in Cedar's JSON policy format (EST). */
export interface CedarPolicy {
  id: string;
  effect: 'permit' | 'forbid';
  /** Annotations; an annotation written without a value (`@reviewed`) holds `''`. */
  annotations: Record<string, string>;
  /** The policy in Cedar's JSON policy format, as cedar-wasm's `policyToJson` returns it. */
  est: unknown;
  /** The source file the policy came from. */
  file: string;
}

/** A loaded policy set. */
export interface CedarPolicySet {
  policies: CedarPolicy[];
  /** SHA-256 hex of the canonical JSON of the (id, est, annotations) list sorted by id: stable across file order. */
  hash: string;
}
