import { canonicalJson } from '../../crypto/canonical-json.js';
import { ConflictError, UserError } from '../../errors.js';
import type { AgentRegistry } from '../../identity/agents.js';
import type { ActionService } from '../../pipeline/action-service.js';
import type { ActionView } from '../../pipeline/types.js';
import type { StepDefinition, WorkflowDefinition } from '../definition.js';
import { expressionScope } from '../history.js';
import type {
  ItemEvent,
  ItemState,
  RunState,
  StepState,
  WorkflowEvent,
  WorkflowFailure,
} from '../history.js';
import { interventionDenial, interventionPause } from '../intervention.js';
import type { InterventionGate } from '../intervention.js';
import { actionOutcome, evaluate, failStep, failure, stepActionKey } from '../step-runner.js';
import { flagUnknownOutcome } from '../unknown-outcome.js';
import type { RuleHandler, StepParams, WorkflowCrashPoint } from '../step-runner.js';
import type { ParallelItemTemplate } from './kinds-schema.js';
import type { WorkerTaskItems } from './worker-items.js';

type ParallelStep = Extract<StepDefinition, { kind: 'parallel' }>;
type ConsensusStep = Extract<StepDefinition, { kind: 'consensus' }>;

/** One task item: the unit a worker (or an in-process rule handler) does for a parallel or consensus step. */
export interface TaskItem {
  runId: string;
  stepId: string;
  attempt: number;
  index: number;
  role: string;
  /** The in-process rule handler; without one the item is a worker task (see {@link WorkerTaskItems}). */
  rule?: string;
  input: unknown;
  /** Agents that must not take this item (consensus: those that answered the other items). */
  exclude: readonly string[];
  scope: ReturnType<typeof expressionScope>;
  /** `running`: just started (a worker item creates its task); `waiting`: its worker task is out. */
  status: 'running' | 'waiting';
  /** No agent may answer two items of the step (consensus). */
  distinctAgents: boolean;
  /** The run's priority (`priority:` of the workflow), given to worker tasks. */
  priority: number;
  nowMs: number;
  /** The step's deadline (`timeout:`), which bounds how long an item waits for its worker task. */
  deadlineMs?: number;
}

/**
 * Runs one task item and answers its events: `item_completed` (with the agent that answered) or `item_failed`; none
 * while the item is still being worked on (a worker task not yet done).
 */
export type TaskItemRunner = (item: TaskItem) => Promise<ItemEvent[]>;

/** What item steps need from the engine. */
export interface ItemDeps {
  agents: AgentRegistry;
  actions: ActionService;
  rules: ReadonlyMap<string, RuleHandler>;
  crash: (point: WorkflowCrashPoint) => void;
  /** Runs task items that have a `rule:`; default {@link ruleTaskItems} (in-process rule handlers). */
  taskItem?: TaskItemRunner;
  /** Runs task items without `rule:` as worker tasks in the task queue; without it such items fail. */
  workerItems?: Pick<WorkerTaskItems, 'run' | 'cancelOpen'>;
  /** When set, items whose agent (or every agent of whose role) is held pause the step instead of failing. */
  intervention?: InterventionGate;
}

/** The step a kind works on, as the engine hands it over (the step runner's {@link StepParams}). */
export type KindStepParams = StepParams;

/**
 * Idempotency key of a parallel item's pipeline action: `wf:<run>:<step>:<attempt>:<index>` (`:retry<n>` after a
 * human had it tried again following an unknown outcome).
 */
export function itemActionKey(
  runId: string,
  stepId: string,
  attempt: number,
  index: number,
  retry = 0,
): string {
  return `${stepActionKey(runId, stepId, attempt)}:${index}${retry ? `:retry${retry}` : ''}`;
}

/** Idempotency key of a parallel item's compensation action. */
export function itemCompensationKey(runId: string, stepId: string, index: number, retry = 0): string {
  return `wf:${runId}:${stepId}:compensate:${index}${retry ? `:retry${retry}` : ''}`;
}

/** Task items over in-process rule handlers: routed to the first active agent of the role (by id) not excluded. */
export function ruleTaskItems(d: Pick<ItemDeps, 'agents' | 'rules' | 'intervention'>): TaskItemRunner {
  return async (t) => {
    const base = { stepId: t.stepId, attempt: t.attempt, index: t.index };
    const fail = (error: WorkflowFailure, agent?: string): ItemEvent[] => [
      { type: 'item_failed', ...base, error, ...(agent ? { agent } : {}) },
    ];
    const agents = d.intervention
      ? (await d.intervention.role(t.role, t.exclude)).free.filter((a) => a.status === 'active')
      : (await d.agents.list({ role: t.role, status: 'active' }))
          .filter((a) => !t.exclude.includes(a.id))
          .sort((a, b) => a.id.localeCompare(b.id));
    const agent = agents[0];
    if (!agent) return fail(failure('no_agent', `no other active agent has role '${t.role}'`, false));
    const handler = t.rule === undefined ? undefined : d.rules.get(t.rule);
    if (!handler)
      return fail(
        failure(
          'task_failed',
          t.rule === undefined ? 'no task queue for worker task items' : `unknown rule handler '${t.rule}'`,
          false,
        ),
        agent.id,
      );
    try {
      const output = (await handler({
        runId: t.runId,
        stepId: t.stepId,
        attempt: t.attempt,
        agent,
        input: t.input,
        scope: t.scope,
      })) as unknown;
      return [{ type: 'item_completed', ...base, output: output ?? null, agent: agent.id }];
    } catch (err) {
      const retryable = !(err instanceof UserError);
      return fail(failure('task_failed', (err as Error).message, retryable), agent.id);
    }
  };
}

const inFlight = (items: readonly ItemState[]) =>
  items.filter((i) => i.status === 'running' || i.status === 'waiting').length;

/** Maps a parallel action item's pipeline status to its events (none while it is still undecided). */
function actionItemEvents(
  view: ActionView,
  def: WorkflowDefinition,
  stepId: string,
  attempt: number,
  index: number,
): WorkflowEvent[] {
  const base = { stepId, attempt, index };
  // The call may have reached the upstream: the item waits for the owner's decision.
  if (view.status === 'unknown_outcome')
    return [flagUnknownOutcome({ def, stepId, attempt, actionId: view.id, index })];
  const out = actionOutcome(view, stepId, attempt);
  if (out === null) return [{ type: 'item_waiting', ...base, actionId: view.id }];
  if ('type' in out)
    return [
      {
        type: 'item_completed',
        ...base,
        output: out.type === 'step_completed' ? out.output : null,
        actionId: view.id,
      },
    ];
  return [{ type: 'item_failed', ...base, error: out, actionId: view.id }];
}

/**
 * The `parallel` step: fans out over the `over` list (evaluated once, recorded in `items_planned`), runs up to
 * `maxConcurrency` items at a time, and fans in: output = the items' outputs in list order. An item failing for good
 * stops new items; once none is in flight the step fails (a retry redoes only the items that did not complete).
 */
export class ItemSteps {
  private readonly taskItem: TaskItemRunner;

  constructor(private readonly d: ItemDeps) {
    const rules = d.taskItem ?? ruleTaskItems(d);
    const worker = d.workerItems;
    this.taskItem = (t) => (t.rule !== undefined || !worker ? rules(t) : worker.run(t));
  }

  /** The fields every task item of a step shares. */
  private itemBase(p: KindStepParams, s: StepState) {
    return {
      runId: p.runId,
      stepId: p.stepId,
      attempt: s.attempt,
      priority: p.def.priority ?? 0,
      nowMs: p.nowMs,
      ...(s.deadlineMs !== undefined ? { deadlineMs: s.deadlineMs } : {}),
    };
  }

  /** The next piece of work of a running parallel step. */
  async parallel(p: KindStepParams): Promise<WorkflowEvent[]> {
    const step = p.def.steps[p.stepId] as ParallelStep;
    const s = p.st.steps[p.stepId] as StepState;
    const base = { stepId: p.stepId, attempt: s.attempt };
    if (!s.items) {
      let list: unknown;
      try {
        list = await evaluate(step.over, expressionScope(p.st), `steps.${p.stepId}.over`);
      } catch (err) {
        return [failStep(step, p.stepId, s, failure('bad_input', (err as Error).message, false), p.nowMs)];
      }
      if (!Array.isArray(list)) {
        // JSONata gives a lone value for a one-element sequence; nothing at all is a fault of the definition.
        if (list === undefined || list === null)
          return [
            failStep(
              step,
              p.stepId,
              s,
              failure('bad_input', `steps.${p.stepId}.over: must give an array`, false),
              p.nowMs,
            ),
          ];
        list = [list];
      }
      const items = list as unknown[];
      const planned: WorkflowEvent = { type: 'items_planned', ...base, count: items.length, items };
      return items.length ? [planned] : [planned, { type: 'step_completed', ...base, output: [] }];
    }
    const items = s.items;
    if (items.every((i) => i.status === 'completed'))
      return [{ type: 'step_completed', ...base, output: items.map((i) => i.output ?? null) }];
    const failed = items.find((i) => i.status === 'failed');
    if (failed && inFlight(items) === 0)
      return [failStep(step, p.stepId, s, failed.error as WorkflowFailure, p.nowMs)];
    for (const [index, it] of items.entries()) {
      if (it.status !== 'running' && it.status !== 'waiting') continue;
      const events = await this.runItem(p, step.do, s, index);
      if (events.length) return events;
    }
    if (failed) return [];
    // Held: no new item starts while the hold lasts (an item given back by a denial is started again after it).
    if (s.pausedReason === 'intervention' && this.d.intervention) {
      const tpl = step.do;
      const held = await (tpl.kind === 'action'
        ? this.d.intervention.agent(tpl.as)
        : this.d.intervention.roleHold(tpl.role));
      if (held) return interventionPause(p.stepId, s, held, p.nowMs);
    }
    const max = step.maxConcurrency ?? items.length;
    const next = items.findIndex((i) => i.status === 'pending');
    if (next >= 0 && inFlight(items) < max) return [{ type: 'item_started', ...base, index: next }];
    return [];
  }

  /** Does (or, on resume, replays) one parallel item; an action item pending approval answers nothing new. */
  private async runItem(
    p: KindStepParams,
    tpl: ParallelItemTemplate,
    s: StepState,
    index: number,
  ): Promise<WorkflowEvent[]> {
    const it = (s.items as ItemState[])[index] as ItemState;
    const base = { stepId: p.stepId, attempt: s.attempt, index };
    const scope = { ...expressionScope(p.st), item: s.over?.[index] ?? null, index };
    const field = `steps.${p.stepId}.do`;
    if (tpl.kind === 'task') {
      const held = await this.d.intervention?.roleHold(tpl.role);
      if (held) return interventionPause(p.stepId, s, held, p.nowMs);
      try {
        const input = tpl.input ? await evaluate(tpl.input, scope, `${field}.input`) : scope.item;
        return await this.taskItem({
          ...this.itemBase(p, s),
          index,
          role: tpl.role,
          ...(tpl.rule !== undefined ? { rule: tpl.rule } : {}),
          input,
          exclude: [],
          scope: expressionScope(p.st),
          status: it.status === 'waiting' ? 'waiting' : 'running',
          distinctAgents: false,
        });
      } catch (err) {
        if (!(err instanceof UserError)) throw err;
        return [{ type: 'item_failed', ...base, error: failure(err.code, err.message, false) }];
      }
    }
    let view: ActionView | undefined;
    if (it.unknownOutcome) return [];
    if (it.status === 'waiting' && it.actionId) {
      view = await this.d.actions.get(it.actionId);
      if (!view)
        return [
          { type: 'item_failed', ...base, error: failure('action_missing', 'action not found', false) },
        ];
      const events = actionItemEvents(view, p.def, p.stepId, s.attempt, index);
      if (events[0]?.type !== 'item_waiting') return events;
      // The step's `timeout` bounds how long its items may wait for an approval.
      if (s.deadlineMs !== undefined && p.nowMs > s.deadlineMs)
        return [
          {
            type: 'item_failed',
            ...base,
            error: failure('timeout', `item ${index} timed out waiting for ${view.id}`, false),
            actionId: view.id,
          },
        ];
      return [];
    }
    try {
      const input = await evaluate(tpl.input, scope, `${field}.input`);
      const agent = await this.d.agents.require(tpl.as, `${field}.as`);
      const held = await this.d.intervention?.agent(agent.id);
      if (held) return interventionPause(p.stepId, s, held, p.nowMs);
      view = await this.d.actions.submit(
        agent,
        {
          tool: tpl.tool,
          input: (input ?? {}) as Record<string, unknown>,
          idempotencyKey: itemActionKey(
            p.runId,
            p.stepId,
            s.attempt,
            index,
            (it.restarts ?? 0) + (it.retries ?? 0),
          ),
          sessionId: `wf:${p.runId}`,
          ...(tpl.reason ? { reason: tpl.reason } : {}),
        },
        { system: true },
      );
    } catch (err) {
      // Still executing elsewhere (or on a dead node until recovery flags it): look again later.
      if (err instanceof ConflictError && err.field === 'idempotencyKey') return [];
      if (err instanceof UserError)
        return [{ type: 'item_failed', ...base, error: failure(err.code, err.message, false) }];
      throw err;
    }
    this.d.crash('workflow.after-action-submit');
    // A switch engaged after the check: give the item back (it starts again under a new key once released).
    const denied = this.d.intervention ? interventionDenial(view) : undefined;
    if (denied) return interventionPause(p.stepId, s, denied, p.nowMs, { restart: true, index });
    return actionItemEvents(view, p.def, p.stepId, s.attempt, index);
  }

  /**
   * The `consensus` step: M items, each answered by a different active agent of the role; completes with
   * `{ value, votes }` once `quorum` answers agree, fails for good once agreement has become impossible.
   */
  async consensus(p: KindStepParams): Promise<WorkflowEvent[]> {
    const step = p.def.steps[p.stepId] as ConsensusStep;
    const s = p.st.steps[p.stepId] as StepState;
    const base = { stepId: p.stepId, attempt: s.attempt };
    const open = (items: readonly ItemState[]) =>
      items.flatMap((i, index) => (i.status === 'running' || i.status === 'waiting' ? [index] : []));
    // A decided consensus takes back the worker tasks of voters that have not answered (none for rule items).
    const settle = async (events: WorkflowEvent[]) => {
      if (!step.rule && s.items && this.d.workerItems)
        await this.d.workerItems.cancelOpen({ ...base, runId: p.runId, indexes: open(s.items) });
      return events;
    };
    const fail = (code: string, message: string, error?: WorkflowFailure) =>
      settle([failStep(step, p.stepId, s, error ?? failure(code, message, false), p.nowMs)]);
    if (!s.items) {
      const held = await this.d.intervention?.roleHold(step.role, step.agents);
      if (held) return interventionPause(p.stepId, s, held, p.nowMs);
      const active = await this.d.agents.countActive(step.role);
      if (active < step.agents)
        return fail(
          'not_enough_agents',
          `steps.${p.stepId}.agents: role '${step.role}' has ${active} active agent(s); consensus needs ${step.agents}`,
        );
      return [{ type: 'items_planned', ...base, count: step.agents }];
    }
    const items = s.items;
    const votes: { agent: string; value: unknown }[] = [];
    const tally = new Map<string, number>();
    for (const it of items) {
      if (it.status !== 'completed') continue;
      let value: unknown;
      try {
        value = step.vote
          ? await evaluate(step.vote, it.output ?? null, `steps.${p.stepId}.vote`)
          : (it.output as { vote?: unknown } | null)?.vote;
      } catch (err) {
        return fail('bad_vote', (err as Error).message);
      }
      value ??= null;
      votes.push({ agent: it.agent ?? '', value });
      const key = canonicalJson(value);
      const n = (tally.get(key) ?? 0) + 1;
      tally.set(key, n);
      if (n >= step.quorum) return settle([{ type: 'step_completed', ...base, output: { value, votes } }]);
    }
    const unanswered = items.filter((i) => i.status !== 'completed' && i.status !== 'failed').length;
    const best = Math.max(0, ...tally.values());
    if (best + unanswered < step.quorum)
      return fail(
        'no_consensus',
        `step ${p.stepId}: ${best} of ${step.agents} agents agree at most; ${step.quorum} needed`,
        // Voters that ran out of time (step `timeout`) make it a timeout, retryable per the step's policy.
        items.find((i) => i.status === 'failed' && i.error?.code === 'timeout')?.error,
      );
    const exclude = items.flatMap((i) => (i.agent ? [i.agent] : []));
    for (const [index, it] of items.entries()) {
      if (it.status === 'running' || it.status === 'waiting') {
        const scope = expressionScope(p.st);
        const input = step.input
          ? await evaluate(step.input, scope, `steps.${p.stepId}.input`).catch((err: Error) => err)
          : scope.input;
        if (input instanceof Error) return fail('bad_input', input.message);
        const held = await this.d.intervention?.roleHold(step.role, 1, exclude);
        if (held) return interventionPause(p.stepId, s, held, p.nowMs);
        const events = await this.taskItem({
          ...this.itemBase(p, s),
          index,
          role: step.role,
          ...(step.rule !== undefined ? { rule: step.rule } : {}),
          input,
          exclude,
          scope,
          status: it.status,
          distinctAgents: true,
        });
        if (events.length) return events;
      }
    }
    const next = items.findIndex((i) => i.status === 'pending');
    return next >= 0 ? [{ type: 'item_started', ...base, index: next }] : [];
  }

  /** The completed parallel action items still to compensate, newest first. */
  itemsToCompensate(
    def: WorkflowDefinition,
    st: RunState,
  ): { stepId: string; index: number; completedAt: number }[] {
    const out: { stepId: string; index: number; completedAt: number }[] = [];
    for (const [stepId, s] of Object.entries(st.steps)) {
      const step = def.steps[stepId];
      if (step?.kind !== 'parallel' || step.do.kind !== 'action' || !step.do.compensate) continue;
      for (const [index, it] of (s.items ?? []).entries()) {
        if (it.status === 'completed' && !st.compensatedItems.has(`${stepId}:${index}`))
          out.push({ stepId, index, completedAt: it.completedAt ?? 0 });
      }
    }
    return out.sort((a, b) => b.completedAt - a.completedAt);
  }

  /** Runs (or replays) one parallel item's compensation through the pipeline; none while it awaits approval. */
  async compensateItem(p: {
    runId: string;
    def: WorkflowDefinition;
    stepId: string;
    index: number;
    st: RunState;
  }): Promise<WorkflowEvent[]> {
    const step = p.def.steps[p.stepId] as ParallelStep;
    const tpl = step.do;
    if (tpl.kind !== 'action' || !tpl.compensate) return [];
    const s = p.st.steps[p.stepId] as StepState;
    const it = (s.items ?? [])[p.index];
    const field = `steps.${p.stepId}.do.compensate`;
    const done = (actionId: string, status: string): WorkflowEvent[] => [
      { type: 'compensation_done', stepId: p.stepId, index: p.index, actionId, status },
    ];
    let view: ActionView;
    try {
      const scope = {
        ...expressionScope(p.st),
        item: s.over?.[p.index] ?? null,
        index: p.index,
        output: it?.output ?? null,
      };
      const input = await evaluate(tpl.compensate.input, scope, `${field}.input`);
      const agent = await this.d.agents.require(tpl.compensate.as ?? tpl.as, `${field}.as`);
      const held = await this.d.intervention?.agent(agent.id);
      if (held) return interventionPause(p.stepId, s, held, Date.now());
      view = await this.d.actions.submit(
        agent,
        {
          tool: tpl.compensate.tool,
          input: (input ?? {}) as Record<string, unknown>,
          idempotencyKey: itemCompensationKey(p.runId, p.stepId, p.index, it?.compensationRetries),
          sessionId: `wf:${p.runId}`,
          reason: `compensates item ${p.index} of step ${p.stepId} of run ${p.runId}`,
        },
        { system: true },
      );
    } catch (err) {
      if (err instanceof ConflictError && err.field === 'idempotencyKey') return [];
      if (err instanceof UserError) return done('', `invalid: ${err.message}`);
      throw err;
    }
    if (view.status === 'pending_approval' || view.status === 'executing') return [];
    if (view.status === 'unknown_outcome')
      return [
        flagUnknownOutcome({
          def: p.def,
          stepId: p.stepId,
          attempt: s.attempt,
          actionId: view.id,
          index: p.index,
          compensation: true,
        }),
      ];
    return done(view.id, view.status);
  }
}
