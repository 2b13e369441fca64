import type { Agent, Engine } from '@autonomy-os/core';
import { BUILTIN_TOOLS, builtinGroup } from './builtin-tools.js';
import type { BuiltinTool } from './builtin-tools.js';

/** Every `role` a step of a workflow definition names (task, review, consensus and nested steps alike). */
function rolesIn(value: unknown, into: Set<string>): Set<string> {
  if (Array.isArray(value)) {
    for (const v of value) rolesIn(v, into);
  } else if (value && typeof value === 'object') {
    const o = value as Record<string, unknown>;
    if (typeof o.kind === 'string' && typeof o.role === 'string') into.add(o.role);
    for (const v of Object.values(o)) rolesIn(v, into);
  }
  return into;
}

/** Whether an agent's role takes workflow tasks: a registered workflow routes a step to it. */
export function isWorker(engine: Engine, agent: Agent): boolean {
  const roles = new Set<string>();
  for (const def of engine.workflows.definitions()) rolesIn(def.steps, roles);
  return roles.has(agent.role);
}

/**
 * The built-ins tools/list offers this agent: the core four always, the task and run tools by `mcp.builtins`
 * (`auto`: to workers only). An agent outside any workflow sees 4, not 14: models choose better among fewer tools
 * and some clients cap the count. While the agent may not act (paused, kill switch) only the `self` tools.
 */
export function offeredBuiltins(engine: Engine, agent: Agent, blocked: string | undefined): BuiltinTool[] {
  const policy = engine.config.mcp.builtins;
  let worker: boolean | undefined;
  const offered = (group: 'tasks' | 'coordination') => {
    const mode = policy[group];
    if (mode !== 'auto') return mode === 'always';
    worker ??= isWorker(engine, agent);
    return worker;
  };
  return [...BUILTIN_TOOLS.values()].filter((b) => {
    if (blocked) return b.kind === 'self';
    const group = builtinGroup(b.definition.name);
    return group === 'core' || offered(group);
  });
}
