import type { ToolAnnotations, ToolMetadata } from './types.js';

/**
 * Governance metadata from MCP annotations, with configuration winning field by field.
 *
 * Defaults follow the MCP spec: a tool is a write unless `readOnlyHint` is true; a write is destructive unless
 * `destructiveHint` is false; a write is idempotent only when `idempotentHint` says so, a read is idempotent unless
 * `idempotentHint` is false; output is untrusted unless `openWorldHint` is false. Risk defaults to `low` for reads,
 * `medium` for non-destructive writes and `high` for destructive writes. Defaults are derived from the overridden
 * fields, so overriding `effect: 'write'` on a tool that claims to be read-only also makes it destructive and high
 * risk unless those are overridden too.
 *
 * @example metadataFromAnnotations({ readOnlyHint: true }) // { effect: 'read', risk: 'low', … }
 * @example metadataFromAnnotations(undefined, { risk: 'high' }) // a destructive write, high risk
 */
export function metadataFromAnnotations(
  annotations: ToolAnnotations | undefined,
  override: Partial<ToolMetadata> = {},
): ToolMetadata {
  const hints = annotations ?? {};
  const effect = override.effect ?? (hints.readOnlyHint === true ? 'read' : 'write');
  const destructive = override.destructive ?? (effect === 'write' && hints.destructiveHint !== false);
  const idempotent =
    override.idempotent ??
    (effect === 'read' ? hints.idempotentHint !== false : hints.idempotentHint === true);
  const untrustedOutput = override.untrustedOutput ?? hints.openWorldHint !== false;
  const risk = override.risk ?? (effect === 'read' ? 'low' : destructive ? 'high' : 'medium');
  return { effect, destructive, idempotent, untrustedOutput, risk };
}
