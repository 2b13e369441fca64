import type { Tool } from '@modelcontextprotocol/sdk/types.js';
import type { Agent, Engine, RegisteredTool } from '@autonomy-os/core';

/**
 * Why this agent may not act at all right now (paused, revoked, a kill switch), or undefined when it may. Read
 * from the store on every request, so a switch engaged on any node hides the tools on every node.
 */
export async function blockedReason(engine: Engine, agent: Agent): Promise<string | undefined> {
  const current = (await engine.store.agents.get(agent.id)) ?? agent;
  if (current.status !== 'active') return `agent ${current.id} is ${current.status}`;
  const sw = await engine.killSwitches.engagedFor(engine.store.db, current);
  if (sw) return `kill switch ${sw.scope} is engaged${sw.reason ? `: ${sw.reason}` : ''}`;
  return undefined;
}

/**
 * The registry tools this agent could call at all: active (not quarantined, as stored now) and, for a tier-0
 * agent, reads only. Policy may still deny or hold a listed tool for particular inputs; that is decided per call.
 */
export async function callableTools(engine: Engine, agent: Agent): Promise<RegisteredTool[]> {
  const out: RegisteredTool[] = [];
  for (const tool of engine.tools.list()) {
    if (tool.status !== 'active') continue;
    if (agent.tier === 0 && tool.metadata.effect === 'write') continue;
    const current = await engine.tools.currentStatus(engine.store.db, tool.name);
    if (!current || current.status !== 'active' || current.approvedHash !== tool.definitionHash) continue;
    out.push(tool);
  }
  return out.sort((a, b) => a.name.localeCompare(b.name));
}

/** A registry tool as MCP lists it: the pinned definition under its namespaced `<connector>.<tool>` name. */
export function toMcpTool(tool: RegisteredTool): Tool {
  const d = tool.definition;
  const schema = d.inputSchema && typeof d.inputSchema === 'object' ? d.inputSchema : {};
  return {
    name: tool.name,
    ...(d.title ? { title: d.title } : {}),
    ...(d.description ? { description: d.description } : {}),
    inputSchema: { ...schema, type: 'object' } as Tool['inputSchema'],
    ...(d.outputSchema
      ? { outputSchema: { ...d.outputSchema, type: 'object' } as Tool['outputSchema'] }
      : {}),
    ...(d.annotations ? { annotations: d.annotations } : {}),
  };
}
