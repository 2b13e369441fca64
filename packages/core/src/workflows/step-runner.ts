import { stepSpanRef } from '../observability/run-spans.js';
import { ConflictError, UserError } from '../errors.js';
import type { Agent, AgentRegistry } from '../identity/agents.js';
import type { ActionService } from '../pipeline/action-service.js';
import type { CrashPoint } from '../pipeline/crash-points.js';
import type { ActionView } from '../pipeline/types.js';
import { parseDurationSec } from '../config/duration.js';
import { runBudgets } from './definition.js';
import { compileExpression } from './expressions.js';
import type { StepDefinition, WorkflowDefinition } from './definition.js';
import { expressionScope } from './history.js';
import type { RunState, StepState, WorkflowEvent, WorkflowFailure } from './history.js';
import { interventionDenial, interventionPause } from './intervention.js';
import type { InterventionGate } from './intervention.js';
import { flagUnknownOutcome } from './unknown-outcome.js';

/** What a rule handler is given. */
export interface RuleTask {
  runId: string;
  stepId: string;
  attempt: number;
  /** The agent the task was routed to. */
  agent: Agent;
  /** The step's mapped input (for a review: the reviewed step's output). */
  input: unknown;
  /** The run input, finished steps' outputs and the run's shared context (as recorded in the history). */
  scope: { input: unknown; steps: Record<string, unknown>; context: Record<string, unknown> };
  /** The critic's last objection, when this is a rerun after a rejected review. */
  critique?: string;
}

/**
 * A deterministic in-process rule agent. Its answer is the step's output; a review's critic answers
 * `{ accept: boolean, critique?: string }`. It must have no side effects: effects go through action steps.
 */
export type RuleHandler = (task: RuleTask) => unknown;

/** Named crash points the workflow engine passes, for crash tests: any of {@link CRASH_POINTS}. */
export type WorkflowCrashPoint = CrashPoint;

/** The step a runner works on, as the engine hands it over. */
export interface StepParams {
  runId: string;
  def: WorkflowDefinition;
  stepId: string;
  st: RunState;
  nowMs: number;
}

/** Everything a step needs from the engine. */
export interface StepRunnerDeps {
  agents: AgentRegistry;
  actions: ActionService;
  rules: ReadonlyMap<string, RuleHandler>;
  crash: (point: WorkflowCrashPoint) => void;
  /** When set, work whose agent is paused or stopped by a kill switch pauses the step instead of failing it. */
  intervention?: InterventionGate;
}

/** Idempotency key of a step attempt's pipeline action: the same attempt never repeats its effect. */
export function stepActionKey(runId: string, stepId: string, attempt: number): string {
  return `wf:${runId}:${stepId}:${attempt}`;
}

/**
 * Idempotency key of a step's compensation action. `retry` counts the compensation's earlier submissions that were
 * given up (denied by an intervention, or redone by a human after an unknown outcome): each new submission gets a
 * new key, since the earlier ones stay recorded under theirs.
 */
export function compensationKey(runId: string, stepId: string, retry = 0): string {
  return `wf:${runId}:${stepId}:compensate${retry ? `:retry${retry}` : ''}`;
}

/** Evaluates a JSONata expression; a failure is a {@link UserError} naming `field`. */
export async function evaluate(expr: string, data: unknown, field: string): Promise<unknown> {
  try {
    return (await compileExpression(expr).evaluate(data)) as unknown;
  } catch (err) {
    throw new UserError(`expression failed: ${(err as Error).message}`, { field });
  }
}

/** A serializable step failure. */
export function failure(code: string, message: string, retryable: boolean): WorkflowFailure {
  return { code, message, retryable };
}

/** Turns a failure into the step's event, scheduling a retry with exponential backoff when attempts remain. */
export function failStep(
  step: StepDefinition,
  stepId: string,
  s: StepState,
  error: WorkflowFailure,
  nowMs: number,
  actionId?: string,
): WorkflowEvent {
  const max = step.retry?.maxAttempts ?? 1;
  const base = parseDurationSec(step.retry?.backoff ?? '1s', `steps.${stepId}.retry.backoff`) * 1000;
  // Attempts an intervention gave back, or a human had redone after an unknown outcome, do not use up the retries.
  const used = s.attempt - (s.freeAttempts ?? 0);
  const retryAtMs = error.retryable && used < max ? nowMs + base * 2 ** (used - 1) : undefined;
  return {
    type: 'step_failed',
    stepId,
    attempt: s.attempt,
    error,
    ...(actionId ? { actionId } : {}),
    ...(retryAtMs !== undefined ? { retryAtMs } : {}),
  };
}

/** The events an action's status means for the step that submitted it; none while it is still undecided. */
export function actionOutcome(
  view: ActionView,
  stepId: string,
  attempt: number,
): WorkflowEvent | WorkflowFailure | null {
  switch (view.status) {
    case 'succeeded': {
      const r = view.result;
      return {
        type: 'step_completed',
        stepId,
        attempt,
        output: r?.structuredContent ?? r?.content ?? null,
        actionId: view.id,
      };
    }
    case 'pending_approval':
    case 'executing':
      return null;
    case 'failed':
      return failure('action_failed', view.error?.message ?? `action ${view.id} failed`, true);
    case 'unknown_outcome':
      // The call may have reached the upstream: never retried.
      return failure('unknown_outcome', `action ${view.id} has an unknown outcome; not retried`, false);
    default:
      return failure(`action_${view.status}`, `action ${view.id} was ${view.status}`, false);
  }
}

/** Executes the steps of a run: each call does one step's next piece of work and answers the events it caused. */
export class StepRunner {
  constructor(private readonly d: StepRunnerDeps) {}

  /** The agent a task or review of `role` is routed to: the first active agent of the role, by id. */
  async route(role: string, field: string, free?: readonly Agent[]): Promise<Agent> {
    // With the intervention gate, an active agent a kill switch stops gets no work either (`free`: the gate's
    // answer of the check just made).
    const agents = free
      ? free.filter((a) => a.status === 'active')
      : this.d.intervention
        ? (await this.d.intervention.role(role)).free.filter((a) => a.status === 'active')
        : (await this.d.agents.list({ role, status: 'active' })).sort((a, b) => a.id.localeCompare(b.id));
    const agent = agents[0];
    if (!agent) throw new UserError(`no active agent has role '${role}'`, { field });
    // A copy: the gate keeps its agents for later checks, and rule handlers and workers are not ours. (Replays
    // route to recorded agents, which may carry only some fields.)
    const environments: unknown = agent.environments;
    return Array.isArray(environments)
      ? { ...agent, environments: [...(environments as string[])] }
      : { ...agent };
  }

  /** Whether a pending step's `when` lets it run. */
  async shouldRun(step: StepDefinition, stepId: string, st: RunState): Promise<boolean> {
    if (!step.when) return true;
    return !!(await evaluate(step.when, expressionScope(st), `steps.${stepId}.when`));
  }

  /** Submits (or, on resume, replays) an action step's pipeline action and maps its status. */
  async action(p: StepParams): Promise<WorkflowEvent[]> {
    const step = p.def.steps[p.stepId] as Extract<StepDefinition, { kind: 'action' }>;
    const s = p.st.steps[p.stepId] as StepState;
    // The attempt started with the breaker of its tool open: it calls the declared fallback instead.
    const fb = s.fallback && step.fallback ? step.fallback : undefined;
    const at = fb ? `steps.${p.stepId}.fallback` : `steps.${p.stepId}`;
    let view: ActionView;
    try {
      const input = await evaluate(fb?.input ?? step.input, expressionScope(p.st), `${at}.input`);
      // One check of the gate gives the agent and whether it is held (the pipeline reads the agent again).
      const id = fb?.as ?? step.as;
      const work = await this.d.intervention?.agentWork(id);
      const agent = work?.agent ?? (await this.d.agents.require(id, `${at}.as`));
      if (work?.hold) return interventionPause(p.stepId, s, work.hold, p.nowMs);
      view = await this.d.actions.submit(
        agent,
        {
          tool: fb?.tool ?? step.tool,
          input: (input ?? {}) as Record<string, unknown>,
          idempotencyKey: stepActionKey(p.runId, p.stepId, s.attempt),
          sessionId: `wf:${p.runId}`,
          ...(step.reason ? { reason: step.reason } : {}),
        },
        {
          budgets: runBudgets(p.def, p.runId),
          system: true,
          traceParent: stepSpanRef(p.runId, p.stepId, s.attempt),
        },
      );
    } catch (err) {
      // Still executing on another node (or on a dead one, until recovery flags it): look again later.
      if (err instanceof ConflictError && err.field === 'idempotencyKey') return [];
      if (err instanceof UserError)
        return [failStep(step, p.stepId, s, failure(err.code, err.message, false), p.nowMs)];
      throw err;
    }
    this.d.crash('workflow.after-action-submit');
    // An intervention engaged after the check above: the pipeline denied the action. Pause rather than fail; the
    // attempt is given back, and the step starts again under a new key once the hold is lifted.
    const denied = this.d.intervention ? interventionDenial(view) : undefined;
    if (denied) return interventionPause(p.stepId, s, denied, p.nowMs, { restart: true });
    return this.mapAction(view, p.def, p.stepId, s, p.nowMs);
  }

  /** Looks at the action a waiting step submitted; fails the step once its timeout has passed. */
  async pollAction(p: {
    def: WorkflowDefinition;
    stepId: string;
    st: RunState;
    nowMs: number;
  }): Promise<WorkflowEvent[]> {
    const step = p.def.steps[p.stepId] as StepDefinition;
    const s = p.st.steps[p.stepId] as StepState;
    const view = s.actionId ? await this.d.actions.get(s.actionId) : undefined;
    if (!view)
      return [failStep(step, p.stepId, s, failure('action_missing', 'action not found', false), p.nowMs)];
    return this.mapAction(view, p.def, p.stepId, s, p.nowMs);
  }

  private mapAction(
    view: ActionView,
    def: WorkflowDefinition,
    stepId: string,
    s: StepState,
    nowMs: number,
  ): WorkflowEvent[] {
    const step = def.steps[stepId] as StepDefinition;
    // The call may have reached the upstream: never retried, never failed silently; the owner decides.
    if (view.status === 'unknown_outcome')
      return s.unknownOutcome
        ? []
        : [flagUnknownOutcome({ def, stepId, attempt: s.attempt, actionId: view.id })];
    const out = actionOutcome(view, stepId, s.attempt);
    if (out === null) {
      if (s.deadlineMs !== undefined && nowMs > s.deadlineMs)
        return [
          failStep(
            step,
            stepId,
            s,
            failure('timeout', `step timed out waiting for ${view.id}`, false),
            nowMs,
            view.id,
          ),
        ];
      return s.status === 'waiting'
        ? []
        : [{ type: 'step_waiting', stepId, attempt: s.attempt, actionId: view.id }];
    }
    if ('type' in out) return [out];
    return [failStep(step, stepId, s, out, nowMs, view.id)];
  }

  /** The agent a rule step is routed to (by role) and the rule handler it runs. */
  private async ruleAgent(
    step: { role: string; rule?: string | undefined },
    stepId: string,
    free?: readonly Agent[],
  ) {
    const agent = await this.route(step.role, `steps.${stepId}.role`, free);
    const handler = step.rule === undefined ? undefined : this.d.rules.get(step.rule);
    if (!handler)
      throw new UserError(`unknown rule handler '${step.rule ?? ''}'`, { field: `steps.${stepId}.rule` });
    return { agent, handler };
  }

  /** Runs a task step's rule handler as the routed agent. */
  async task(p: StepParams): Promise<WorkflowEvent[]> {
    const step = p.def.steps[p.stepId] as Extract<StepDefinition, { kind: 'task' }>;
    const s = p.st.steps[p.stepId] as StepState;
    const scope = expressionScope(p.st);
    const work = await this.d.intervention?.roleWork(step.role);
    if (work?.hold) return interventionPause(p.stepId, s, work.hold, p.nowMs);
    try {
      const { agent, handler } = await this.ruleAgent(step, p.stepId, work?.free);
      const input = step.input ? await evaluate(step.input, scope, `steps.${p.stepId}.input`) : scope.input;
      const output = (await handler({
        runId: p.runId,
        stepId: p.stepId,
        attempt: s.attempt,
        agent,
        input,
        scope,
        ...(s.critique !== undefined ? { critique: s.critique } : {}),
      })) as unknown;
      return [{ type: 'step_completed', stepId: p.stepId, attempt: s.attempt, output: output ?? null }];
    } catch (err) {
      const retryable = !(err instanceof UserError);
      return [
        failStep(step, p.stepId, s, failure('task_failed', (err as Error).message, retryable), p.nowMs),
      ];
    }
  }

  /** Runs a review's critic on the reviewed step's output; a rejection reruns that step, up to `maxRounds`. */
  async review(p: StepParams): Promise<WorkflowEvent[]> {
    const step = p.def.steps[p.stepId] as Extract<StepDefinition, { kind: 'review' }>;
    const s = p.st.steps[p.stepId] as StepState;
    const scope = expressionScope(p.st);
    const work = await this.d.intervention?.roleWork(step.role);
    if (work?.hold) return interventionPause(p.stepId, s, work.hold, p.nowMs);
    let verdict: { accept?: unknown; critique?: unknown };
    try {
      const { agent, handler } = await this.ruleAgent(step, p.stepId, work?.free);
      verdict = ((await handler({
        runId: p.runId,
        stepId: p.stepId,
        attempt: s.attempt,
        agent,
        input: scope.steps[step.step] ?? null,
        scope,
      })) ?? {}) as typeof verdict;
    } catch (err) {
      const retryable = !(err instanceof UserError);
      return [
        failStep(step, p.stepId, s, failure('review_failed', (err as Error).message, retryable), p.nowMs),
      ];
    }
    const critique = typeof verdict.critique === 'string' ? verdict.critique : 'rejected';
    if (verdict.accept === true) {
      return [
        {
          type: 'step_completed',
          stepId: p.stepId,
          attempt: s.attempt,
          output: { accepted: true, rounds: s.rounds },
        },
      ];
    }
    if (s.rounds + 1 > step.maxRounds) {
      const msg = `critic rejected '${step.step}' ${s.rounds + 1} times (last: ${critique}); escalated to the owner ${p.def.owner}`;
      return [
        { type: 'step_escalated', stepId: p.stepId, attempt: s.attempt, to: p.def.owner, reason: msg },
        {
          type: 'step_failed',
          stepId: p.stepId,
          attempt: s.attempt,
          error: failure('review_rejected', msg, false),
        },
      ];
    }
    return [{ type: 'review_rejected', stepId: p.stepId, target: step.step, round: s.rounds + 1, critique }];
  }

  /** Runs (or replays) a completed step's compensation through the pipeline; none while it awaits approval. */
  async compensate(p: {
    runId: string;
    def: WorkflowDefinition;
    stepId: string;
    st: RunState;
  }): Promise<WorkflowEvent[]> {
    const step = p.def.steps[p.stepId] as Extract<StepDefinition, { kind: 'action' }>;
    const c = step.compensate;
    if (!c) return [];
    const s = p.st.steps[p.stepId] as StepState;
    let view: ActionView;
    try {
      const input = await evaluate(
        c.input,
        { ...expressionScope(p.st), output: s.output ?? null },
        `steps.${p.stepId}.compensate.input`,
      );
      const agent = await this.d.agents.require(c.as ?? step.as, `steps.${p.stepId}.compensate.as`);
      const held = await this.d.intervention?.agent(agent.id);
      if (held) return interventionPause(p.stepId, s, held, Date.now());
      view = await this.d.actions.submit(
        agent,
        {
          tool: c.tool,
          input: (input ?? {}) as Record<string, unknown>,
          idempotencyKey: compensationKey(
            p.runId,
            p.stepId,
            (s.compensationRestarts ?? 0) + (s.compensationRetries ?? 0),
          ),
          sessionId: `wf:${p.runId}`,
          reason: `compensates step ${p.stepId} of run ${p.runId}`,
        },
        { system: true, traceParent: stepSpanRef(p.runId, p.stepId, s.attempt) },
      );
      this.d.crash('workflow.after-compensation-submit');
    } catch (err) {
      if (err instanceof ConflictError && err.field === 'idempotencyKey') return [];
      if (err instanceof UserError)
        return [
          { type: 'compensation_done', stepId: p.stepId, actionId: '', status: `invalid: ${err.message}` },
        ];
      throw err;
    }
    if (view.status === 'pending_approval' || view.status === 'executing') return [];
    // A switch engaged after the check: the saga must not lose this compensation; pause and submit it again later.
    const denied = this.d.intervention ? interventionDenial(view) : undefined;
    if (denied)
      return interventionPause(p.stepId, s, denied, Date.now(), { restart: true, compensation: true });
    if (view.status === 'unknown_outcome')
      return [
        flagUnknownOutcome({
          def: p.def,
          stepId: p.stepId,
          attempt: s.attempt,
          actionId: view.id,
          compensation: true,
        }),
      ];
    return [{ type: 'compensation_done', stepId: p.stepId, actionId: view.id, status: view.status }];
  }
}
