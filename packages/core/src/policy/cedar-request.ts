import type { CedarEntity, CedarRequest, CedarValue } from './cedar/index.js';
import type { DecisionInput } from './decide.js';
import { inputRecordType, toCedarInput } from './input-types.js';

/**
 * Turns JSON into Cedar values by how the values look, for a tool that declares no input schema (a decision replayed
 * from an audit record, a test): integers stay Longs, other numbers become `decimal` when Cedar can
 * hold them (four decimal places) and strings otherwise, nulls are dropped, arrays become sets, objects records.
 * Keys starting with `__` are renamed (`__x` → `_x__x`) so agent input can never smuggle in an entity reference or an
 * extension value.
 */
export function toCedarValue(v: unknown): CedarValue | undefined {
  if (v === null || v === undefined) return undefined;
  if (typeof v === 'string' || typeof v === 'boolean') return v;
  if (typeof v === 'number') {
    if (Number.isSafeInteger(v)) return v;
    if (Number.isFinite(v) && Math.abs(v) < 922337203685477 && Number(v.toFixed(4)) === v) {
      return { __extn: { fn: 'decimal', arg: v.toFixed(4).replace(/0+$/, '').replace(/\.$/, '.0') } };
    }
    return String(v);
  }
  if (Array.isArray(v)) return v.map(toCedarValue).filter((x): x is CedarValue => x !== undefined);
  if (typeof v === 'object') {
    const out: Record<string, CedarValue> = {};
    for (const [k, val] of Object.entries(v as Record<string, unknown>)) {
      const c = toCedarValue(val);
      if (c !== undefined) out[k.startsWith('__') ? `_x${k}` : k] = c;
    }
    return out;
  }
  return undefined;
}

/**
 * The Cedar request and entities for one decision:
 * - principal `Agent::"<id>"` (attributes id, role, tier, owner, environments) in `Role::"<role>"`;
 * - action `Action::"<tool>"` in `Action::"read"` or `Action::"write"` (so `action in Action::"write"` works);
 * - resource `Tool::"<tool>"` (attributes name, connector, effect, risk, destructive, idempotent, untrustedOutput)
 *   in `Connector::"<connector>"`;
 * - context: input (converted by the tool's declared `inputSchema` when it has one: see `toCedarInput`), environment, production, reason, confidence (0-100), risk (0-100) and session
 *   (tools already called, readUntrusted, calls).
 */
export function buildCedarRequest(
  d: DecisionInput,
  risk: number,
  production: boolean,
): { request: CedarRequest; entities: CedarEntity[] } {
  const { agent, tool } = d;
  const entities: CedarEntity[] = [
    {
      uid: { type: 'Agent', id: agent.id },
      attrs: {
        id: agent.id,
        role: agent.role,
        tier: agent.tier,
        owner: agent.owner,
        environments: [...agent.environments],
      },
      parents: [{ type: 'Role', id: agent.role }],
    },
    { uid: { type: 'Role', id: agent.role }, attrs: {}, parents: [] },
    {
      uid: { type: 'Action', id: tool.name },
      attrs: {},
      parents: [{ type: 'Action', id: tool.metadata.effect }],
    },
    { uid: { type: 'Action', id: tool.metadata.effect }, attrs: {}, parents: [] },
    {
      uid: { type: 'Tool', id: tool.name },
      attrs: {
        name: tool.name,
        connector: tool.connector,
        effect: tool.metadata.effect,
        risk: tool.metadata.risk,
        destructive: tool.metadata.destructive,
        idempotent: tool.metadata.idempotent,
        untrustedOutput: tool.metadata.untrustedOutput,
      },
      parents: [{ type: 'Connector', id: tool.connector }],
    },
    { uid: { type: 'Connector', id: tool.connector }, attrs: {}, parents: [] },
  ];
  const context: Record<string, CedarValue> = {
    input:
      (d.tool.inputSchema
        ? toCedarInput(d.input, inputRecordType(d.tool.inputSchema))
        : toCedarValue(d.input)) ?? {},
    environment: d.environment,
    production,
    reason: d.reason ?? '',
    confidence: d.confidence === undefined ? 100 : Math.round(d.confidence * 100),
    risk,
    session: {
      tools: [...new Set(d.session.tools)],
      readUntrusted: d.session.readUntrusted,
      calls: d.session.calls,
    },
  };
  return {
    request: {
      principal: { type: 'Agent', id: agent.id },
      action: { type: 'Action', id: tool.name },
      resource: { type: 'Tool', id: tool.name },
      context,
    },
    entities,
  };
}
