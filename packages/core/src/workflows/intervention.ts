import type { Agent, AgentRegistry } from '../identity/agents.js';
import type { KillSwitches } from '../intervention/kill-switches.js';
import type { ActionView } from '../pipeline/types.js';
import type { Db } from '../store/db.js';
import type { StepDefinition } from './definition.js';
import type { StepState, WorkflowEvent } from './history.js';

/** What the intervention gate reads: agents' statuses and the kill switches, on every node the same store. */
export interface InterventionGateDeps {
  db: Db;
  agents: AgentRegistry;
  killSwitches?: KillSwitches;
}

/** The agents of a role that may work now (`free`), and those an intervention holds (paused or switched off). */
export interface RoleAvailability {
  free: Agent[];
  held: Agent[];
}

/**
 * Whether an intervention (an agent paused, a kill switch: global, per role or per agent) holds the work a step is
 * about to do. A held step pauses instead of failing: it records one `step_paused` with `reason: 'intervention'`,
 * uses no attempt, and goes on once the hold is lifted. A revoked or unknown agent is not held: revocation is final,
 * so those steps keep failing as before.
 */
export class InterventionGate {
  constructor(private readonly d: InterventionGateDeps) {}

  /** Why the agent is held (e.g. `agent poster is paused`), or undefined when it may act (or is revoked/unknown). */
  async agent(id: string): Promise<string | undefined> {
    const agent = await this.d.agents.get(id);
    if (!agent || agent.status === 'revoked') return undefined;
    return this.holdOf(agent);
  }

  /** The role's agents that may work now, and those held, each sorted by id. Revoked agents are in neither. */
  async role(role: string, exclude: readonly string[] = []): Promise<RoleAvailability> {
    const out: RoleAvailability = { free: [], held: [] };
    const agents = (await this.d.agents.list({ role }))
      .filter((a) => a.status !== 'revoked' && !exclude.includes(a.id))
      .sort((a, b) => a.id.localeCompare(b.id));
    for (const a of agents) ((await this.holdOf(a)) ? out.held : out.free).push(a);
    return out;
  }

  /**
   * Why `need` agents of the role cannot be had now although they exist: fewer than `need` are free and enough are
   * held. Undefined when enough are free, or when even without the intervention there would not be enough (that
   * fails as before).
   */
  async roleHold(role: string, need = 1, exclude: readonly string[] = []): Promise<string | undefined> {
    const { free, held } = await this.role(role, exclude);
    if (free.length >= need || free.length + held.length < need) return undefined;
    const first = held[0] as Agent;
    if (held.length === 1) return this.holdOf(first);
    return `no free agent of role ${role}: ${held.map((a) => a.id).join(', ')} are paused or stopped by a kill switch`;
  }

  /**
   * What holds a ready step before it starts: the acting agent of an action (its fallback's when the attempt
   * calls the fallback) or of a parallel step's action items, or the role of rule `task`/`review`/`consensus`
   * steps and of a parallel step's task items. Worker task steps, approvals, waits and sub-runs are not held here
   * (a held agent claims no task; the other kinds do no agent's work).
   */
  async step(step: StepDefinition, opts: { fallback?: boolean } = {}): Promise<string | undefined> {
    switch (step.kind) {
      case 'action':
        return this.agent(opts.fallback && step.fallback ? (step.fallback.as ?? step.as) : step.as);
      case 'task':
        return step.rule === undefined ? undefined : this.roleHold(step.role);
      case 'review':
        return this.roleHold(step.role);
      case 'consensus':
        return this.roleHold(step.role, step.agents);
      case 'parallel':
        return step.do.kind === 'action' ? this.agent(step.do.as) : this.roleHold(step.do.role);
      default:
        return undefined;
    }
  }

  private async holdOf(agent: Agent): Promise<string | undefined> {
    if (agent.status === 'paused') return `agent ${agent.id} is paused`;
    const sw = await this.d.killSwitches?.engagedFor(this.d.db, agent);
    if (!sw) return undefined;
    return sw.scope === 'global'
      ? `kill switch global is engaged (stops agent ${agent.id})`
      : `kill switch ${sw.scope} is engaged (stops agent ${agent.id})`;
  }
}

/**
 * The `step_paused` event for a step an intervention holds, or none when the step is already paused for the same
 * reason (one event per hold, not one per tick). `restart`: the pipeline denied the attempt's action (see
 * {@link interventionDenial}); `compensation`: it was the step's compensation that was denied; `index`: the
 * parallel item whose action was denied.
 */
export function interventionPause(
  stepId: string,
  s: StepState,
  detail: string,
  nowMs: number,
  opts: { restart?: boolean; compensation?: boolean; index?: number } = {},
): WorkflowEvent[] {
  if (!opts.restart && s.pausedReason === 'intervention' && s.pausedDetail === detail) return [];
  return [
    {
      type: 'step_paused',
      stepId,
      reason: 'intervention',
      detail,
      atMs: nowMs,
      ...(opts.restart ? { restart: true } : {}),
      ...(opts.compensation ? { compensation: true } : {}),
      ...(opts.index !== undefined ? { index: opts.index } : {}),
    },
  ];
}

/**
 * Whether the pipeline denied an action because its agent was paused or a kill switch stopped it (the guard's
 * decision ids `builtin:agent-paused` and `killswitch:<scope>`): an intervention engaged between the engine's
 * check and the pipeline's decision, which pauses the step rather than failing it. A revoked agent's denial is not.
 */
export function interventionDenial(view: ActionView): string | undefined {
  if (view.status !== 'denied') return undefined;
  const id = view.decision.policies.find((p) => p === 'builtin:agent-paused' || p.startsWith('killswitch:'));
  if (!id) return undefined;
  return id === 'builtin:agent-paused'
    ? `agent ${view.agentId} is paused`
    : `kill switch ${id.slice('killswitch:'.length)} is engaged (stops agent ${view.agentId})`;
}
