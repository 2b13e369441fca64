import type { Agent } from '../identity/agents.js';
import type { KillSwitches } from '../intervention/kill-switches.js';
import type { Store } from '../store/open-store.js';
import type { RegisteredTool, ToolRegistry } from './tool-registry.js';

/** The parts of the engine the tool catalog reads. */
export interface ToolCatalogDeps {
  store: Pick<Store, 'db' | 'agents'>;
  tools: ToolRegistry;
  killSwitches: KillSwitches;
}

/**
 * Why this agent may not act at all right now (paused, revoked, a kill switch), or undefined when it may. Read
 * from the store on every request, so a switch engaged on any node is seen on every node.
 */
export async function blockedReason(deps: ToolCatalogDeps, agent: Agent): Promise<string | undefined> {
  const current = (await deps.store.agents.get(agent.id)) ?? agent;
  if (current.status !== 'active') return `agent ${current.id} is ${current.status}`;
  const sw = await deps.killSwitches.engagedFor(deps.store.db, current);
  if (sw) return `kill switch ${sw.scope} is engaged${sw.reason ? `: ${sw.reason}` : ''}`;
  return undefined;
}

/**
 * The registry tools this agent could call at all: active (not quarantined, as stored now) and, for a tier-0
 * agent, reads only. Policy may still deny or hold a listed tool for particular inputs; that is decided per call.
 */
export async function callableTools(deps: ToolCatalogDeps, agent: Agent): Promise<RegisteredTool[]> {
  const out: RegisteredTool[] = [];
  for (const tool of deps.tools.list()) {
    if (tool.status !== 'active') continue;
    if (agent.tier === 0 && tool.metadata.effect === 'write') continue;
    const current = await deps.tools.currentStatus(deps.store.db, tool.name);
    if (!current || current.status !== 'active' || current.approvedHash !== tool.definitionHash) continue;
    out.push(tool);
  }
  return out.sort((a, b) => a.name.localeCompare(b.name));
}
