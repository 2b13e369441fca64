import { CedarEntityStore } from './cedar/index.js';
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
  const request = cedarRequestOf(d, risk, production);
  return { request, entities: cedarEntitiesOf(d) };
}

/** The entities of a decision: the agent in its role, the action in its effect, the tool in its connector. */
function cedarEntitiesOf(d: DecisionInput): CedarEntity[] {
  const { agent, tool } = d;
  return [
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
}

/** The request of a decision (principal, action, resource and context), without its entities. */
export function cedarRequestOf(d: DecisionInput, risk: number, production: boolean): CedarRequest {
  const { agent, tool } = d;
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
    principal: { type: 'Agent', id: agent.id },
    action: { type: 'Action', id: tool.name },
    resource: { type: 'Tool', id: tool.name },
    context,
  };
}

/** Entity stores by the agent and tool facts they are built from; past this many the cache starts over. */
const MAX_STORES = 1024;
const stores = new Map<string, CedarEntityStore>();

/**
 * The same facts, always the same store: the key of the agent and tool fields the entities are made of, or
 * undefined when one of them is not a plain string, safe integer, boolean or list of strings (such input is built
 * afresh every time, so it fails exactly as it would uncached).
 */
function storeKey(d: DecisionInput): string | undefined {
  const { agent, tool } = d;
  const m = tool.metadata;
  const facts: unknown[] = [agent.id, agent.role, agent.owner, tool.name, tool.connector, m.effect, m.risk];
  let key = '';
  // Length-prefixed, so no value can be mistaken for another however it is spelled.
  for (const f of facts) {
    if (typeof f !== 'string') return undefined;
    key += `${f.length}:${f}`;
  }
  for (const f of [m.destructive, m.idempotent, m.untrustedOutput] as unknown[]) {
    if (typeof f !== 'boolean') return undefined;
    key += f ? 't' : 'f';
  }
  if (!Number.isSafeInteger(agent.tier) || !Array.isArray(agent.environments)) return undefined;
  key += `${agent.tier};`;
  for (const e of agent.environments as unknown[]) {
    if (typeof e !== 'string') return undefined;
    key += `${e.length}:${e}`;
  }
  return key;
}

/**
 * The decoded entities of a decision (see {@link buildCedarRequest}), shared by every decision about the same agent
 * and tool facts: a store is immutable once built, so decoding and ancestry are paid once, not per decision.
 * Throws `UserError` for facts Cedar cannot hold, as `CedarEntityStore` does.
 */
export function cedarEntityStoreFor(d: DecisionInput): CedarEntityStore {
  const key = storeKey(d);
  const known = key === undefined ? undefined : stores.get(key);
  if (known) return known;
  const store = new CedarEntityStore(cedarEntitiesOf(d));
  if (key !== undefined) {
    if (stores.size >= MAX_STORES) stores.clear();
    stores.set(key, store);
  }
  return store;
}
