import type { Agent, AgentRegistry } from '../identity/agents.js';
import { stoppingSwitch } from '../intervention/kill-switches.js';
import type { KillSwitch, KillSwitches } from '../intervention/kill-switches.js';
import { SecurityViews } from '../intervention/security-view.js';
import type { SecurityView } from '../intervention/security-view.js';
import type { ActionView } from '../pipeline/types.js';
import type { Db } from '../store/db.js';
import type { StepDefinition } from './definition.js';
import type { StepState, WorkflowEvent } from './history.js';

/** What the intervention gate reads: agents' statuses and the kill switches, on every node the same store. */
export interface InterventionGateDeps {
  db: Db;
  agents: AgentRegistry;
  killSwitches?: KillSwitches;
  /** The node's security views, shared with authentication and the pipeline; default: views of the gate's own. */
  views?: SecurityViews;
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
 *
 * Each check reads the store's security epoch (one row), or takes the one its caller has just read with other
 * queries (a step start reads it with the run's context); the database bumps it itself on every change to an
 * agent (created, paused, resumed, revoked, re-tiered) and to a kill switch, whichever node made it (migrations 13
 * and 15). While it is unchanged the agents, role lists and engaged switches read before are used again (a
 * {@link SecurityViews} view), so a check costs that one read whatever the size of the role, and a change is still
 * seen by the next check everywhere. The pipeline still checks the agent and the switches inside every decision's
 * transaction; this gate is what holds rule steps, and keeps held actions from being submitted.
 */
export class InterventionGate {
  private readonly views: SecurityViews;

  constructor(d: InterventionGateDeps) {
    this.views = d.views ?? new SecurityViews(d);
  }

  /** Why the agent is held (e.g. `agent poster is paused`), or undefined when it may act (or is revoked/unknown). */
  async agent(id: string): Promise<string | undefined> {
    return (await this.agentWork(id)).hold;
  }

  /**
   * {@link agent}'s answer and the agent it read (undefined when unknown), from one check. `epoch`: the security
   * epoch the caller has just read outside a transaction (with other queries), instead of reading it here.
   */
  async agentWork(
    id: string,
    epoch?: number,
  ): Promise<{ hold: string | undefined; agent: Agent | undefined }> {
    const v = await this.view(epoch);
    const agent = await this.views.agent(v, id);
    if (!agent || agent.status === 'revoked') return { hold: undefined, agent };
    return { hold: this.holdOf(agent, await this.views.switches(v)), agent };
  }

  /** The role's agents that may work now, and those held, each sorted by id. Revoked agents are in neither. */
  async role(role: string, exclude: readonly string[] = []): Promise<RoleAvailability> {
    return (await this.availability(role, exclude)).out;
  }

  private view(epoch: number | undefined): Promise<SecurityView> | SecurityView {
    return epoch === undefined ? this.views.current() : this.views.of(epoch);
  }

  private async availability(
    role: string,
    exclude: readonly string[],
    epoch?: number,
  ): Promise<{ out: RoleAvailability; switches: KillSwitch[] }> {
    const v = await this.view(epoch);
    const [all, switches] = await Promise.all([this.views.role(v, role), this.views.switches(v)]);
    const out: RoleAvailability = { free: [], held: [] };
    for (const a of all) {
      if (a.status === 'revoked' || exclude.includes(a.id)) continue;
      (this.holdOf(a, switches) ? out.held : out.free).push(a);
    }
    return { out, switches };
  }

  /**
   * Why `need` agents of the role cannot be had now although they exist: fewer than `need` are free and enough are
   * held. Undefined when enough are free, or when even without the intervention there would not be enough (that
   * fails as before).
   */
  async roleHold(role: string, need = 1, exclude: readonly string[] = []): Promise<string | undefined> {
    return (await this.roleWork(role, need, exclude)).hold;
  }

  /** {@link roleHold}'s answer and the role's free agents, from one check (a rule step routes to `free`). */
  async roleWork(
    role: string,
    need = 1,
    exclude: readonly string[] = [],
    epoch?: number,
  ): Promise<{ hold: string | undefined; free: Agent[] }> {
    const {
      out: { free, held },
      switches,
    } = await this.availability(role, exclude, epoch);
    if (free.length >= need || free.length + held.length < need) return { hold: undefined, free };
    const first = held[0] as Agent;
    const hold =
      held.length === 1
        ? this.holdOf(first, switches)
        : `no free agent of role ${role}: ${held.map((a) => a.id).join(', ')} are paused or stopped by a kill switch`;
    return { hold, free };
  }

  /**
   * What holds a ready step before it starts: the acting agent of an action (its fallback's when the attempt
   * calls the fallback) or of a parallel step's action items, or the role of rule `task`/`review`/`consensus`
   * steps and of a parallel step's task items. Worker task steps, approvals, waits and sub-runs are not held here
   * (a held agent claims no task; the other kinds do no agent's work). `epoch`: as in {@link agentWork}.
   */
  async step(
    step: StepDefinition,
    opts: { fallback?: boolean; epoch?: number } = {},
  ): Promise<string | undefined> {
    const agent = async (id: string) => (await this.agentWork(id, opts.epoch)).hold;
    const role = async (name: string, need = 1) => (await this.roleWork(name, need, [], opts.epoch)).hold;
    switch (step.kind) {
      case 'action':
        return agent(opts.fallback && step.fallback ? (step.fallback.as ?? step.as) : step.as);
      case 'task':
        return step.rule === undefined ? undefined : role(step.role);
      case 'review':
        return role(step.role);
      case 'consensus':
        return role(step.role, step.agents);
      case 'parallel':
        return step.do.kind === 'action' ? agent(step.do.as) : role(step.do.role);
      default:
        return undefined;
    }
  }

  private holdOf(agent: Agent, switches: readonly KillSwitch[]): string | undefined {
    if (agent.status === 'paused') return `agent ${agent.id} is paused`;
    const sw = stoppingSwitch(switches, agent);
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
