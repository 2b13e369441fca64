import { canonicalJson, sha256Hex } from '../crypto/canonical-json.js';

/** An action's input in canonical JSON (RFC 8785) and its SHA-256: computed once per call, used everywhere. */
export interface CanonicalInput {
  /** The bytes stored as `input_json` and shown to approvers as the canonical arguments. */
  json: string;
  /** SHA-256 of `json` (hex): the `input_hash` column and the answer cache key. */
  hash: string;
}

/** Canonicalises and hashes an action's input, once. */
export function canonicalInput(input: Record<string, unknown>): CanonicalInput {
  const json = canonicalJson(input);
  return { json, hash: sha256Hex(json) };
}

/** What an idempotency key binds: a replay with the same key must name the same call. */
export interface RequestIdentity {
  tool: string;
  input: CanonicalInput;
  environment: string;
  reversalOf: string | null;
}

/**
 * The request hash an idempotency key is checked against: `hashJson({ tool, input, environment, reversalOf })`,
 * with the already canonical input spliced in (keys in RFC 8785 order), so the input is not canonicalised again.
 */
export function requestHashOf(r: RequestIdentity): string {
  return sha256Hex(
    `{"environment":${canonicalJson(r.environment)},"input":${r.input.json},` +
      `"reversalOf":${canonicalJson(r.reversalOf)},"tool":${canonicalJson(r.tool)}}`,
  );
}
