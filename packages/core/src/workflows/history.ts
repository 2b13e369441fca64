import type { WorkflowDefinition } from './definition.js';

/** Why a run or step failed; `retryable` says whether another attempt could succeed. */
export interface WorkflowFailure {
  code: string;
  message: string;
  retryable: boolean;
}

/** One entry of a run's history. The run is its history: state is rebuilt by {@link replay}. */
export type WorkflowEvent =
  | { type: 'run_started'; input: unknown; actor: string }
  | {
      type: 'step_started';
      stepId: string;
      attempt: number;
      deadlineMs?: number;
      /** When the step is escalated if still unfinished (its `escalate.after`). */
      escalateAtMs?: number;
      /** The action runs its `fallback` tool: the step's own tool's circuit breaker was open. */
      fallback?: boolean;
    }
  /** The run's shared context as the engine read it (expressions and rule handlers see this snapshot). */
  | { type: 'context_observed'; entries: Record<string, unknown> }
  /** The step waits for a resource lease another run holds (recorded once per wait). */
  | { type: 'step_blocked'; stepId: string; leaseKey: string; atMs: number }
  /**
   * The step waits without using an attempt: until its tool's open circuit breaker lets a trial call through
   * (`reason` absent or `breaker`, with `connector` and `untilMs`), or while an intervention holds its agent
   * (`reason: 'intervention'`, looked at again every tick). `restart`: the pipeline denied the attempt's action
   * because of the intervention; the attempt is given back and the step starts again (a new key) once released.
   */
  | {
      type: 'step_paused';
      stepId: string;
      reason?: PauseReason;
      connector?: string;
      detail?: string;
      atMs: number;
      untilMs?: number;
      restart?: boolean;
      /** With `restart`: the step's compensation was denied; it is submitted again under a new key. */
      compensation?: boolean;
      /** With `restart`: this parallel item's action was denied; the item starts again under a new key. */
      index?: number;
    }
  /** A human held the run: it starts no new step and submits nothing until `run_resumed`. */
  | { type: 'run_paused'; actor: string; reason?: string }
  | { type: 'run_resumed'; actor: string }
  /**
   * A human group was told the step is taking too long (or a review ran out of rounds). With `unknownOutcome`: an
   * action of the step has an unknown outcome after a crash, and the step waits for the owner's decision.
   */
  | {
      type: 'step_escalated';
      stepId: string;
      attempt: number;
      to: string;
      reason: string;
      unknownOutcome?: UnknownOutcome;
    }
  /** A human decided what became of an action with an unknown outcome (see `unknown-outcome.ts`). */
  | {
      type: 'outcome_resolved';
      stepId: string;
      actionId: string;
      human: string;
      outcome: OutcomeDecision;
      index?: number;
      compensation?: boolean;
      comment?: string;
    }
  | {
      type: 'step_waiting';
      stepId: string;
      attempt: number;
      actionId?: string;
      approval?: ApprovalAsk;
      /** A `wait` step: the signal it waits for. */
      event?: string;
      /** A timed `wait` step: when it wakes (recorded so replay reads no clock). */
      wakeAtMs?: number;
      /** A `workflow` step: the child run it waits for. */
      childRunId?: string;
    }
  | {
      type: 'step_completed';
      stepId: string;
      attempt: number;
      output: unknown;
      actionId?: string;
      /** A `wait` step: the signal it consumed. */
      signalId?: string;
    }
  | { type: 'step_skipped'; stepId: string }
  | {
      type: 'step_failed';
      stepId: string;
      attempt: number;
      error: WorkflowFailure;
      actionId?: string;
      /** When set, the step is attempted again at this time. */
      retryAtMs?: number;
    }
  | { type: 'approval_vote'; stepId: string; human: string; vote: 'approve' | 'deny'; comment?: string }
  | { type: 'review_rejected'; stepId: string; target: string; round: number; critique: string }
  | { type: 'cancel_requested'; actor: string; reason?: string }
  | { type: 'compensation_done'; stepId: string; actionId: string; status: string; index?: number }
  | ItemEvent
  | { type: 'signal_received'; signalId: string; name: string; data: unknown; sentBy: string }
  | { type: 'child_cancel_requested'; stepId: string; childRunId: string }
  | { type: 'run_retried'; actor: string }
  | { type: 'run_completed'; output: unknown }
  | { type: 'run_finished'; status: 'failed' | 'cancelled'; error?: WorkflowFailure };

/** What a human decides about an action whose outcome is unknown. */
export type OutcomeDecision = 'succeeded' | 'failed' | 'retry';

/** An action whose outcome is unknown after a crash, waiting for a human decision. */
export interface UnknownOutcome {
  actionId: string;
  /** A parallel step's item (its action, or its compensation). */
  index?: number;
  /** The action is the step's (or item's) compensation. */
  compensation?: boolean;
}

/** Progress of the items of a `parallel` or `consensus` step (`index` is the item's position). */
export type ItemEvent =
  | {
      type: 'items_planned';
      stepId: string;
      attempt: number;
      count: number;
      /** A parallel step: the evaluated `over` list (recorded so replay never re-evaluates it). */
      items?: unknown[];
    }
  | { type: 'item_started'; stepId: string; attempt: number; index: number; agent?: string }
  | {
      type: 'item_waiting';
      stepId: string;
      attempt: number;
      index: number;
      /** An action item waiting for its approval. */
      actionId?: string;
      /** A task item waiting for the agent that takes its worker task. */
      taskId?: string;
    }
  | {
      type: 'item_completed';
      stepId: string;
      attempt: number;
      index: number;
      output: unknown;
      actionId?: string;
      agent?: string;
    }
  | {
      type: 'item_failed';
      stepId: string;
      attempt: number;
      index: number;
      error: WorkflowFailure;
      actionId?: string;
      agent?: string;
    };

/** Why a step is paused: its connector's open circuit breaker, or an intervention (agent paused, kill switch). */
export type PauseReason = 'breaker' | 'intervention';

/** One item of a parallel or consensus step. */
export interface ItemState {
  status: 'pending' | 'running' | 'waiting' | 'completed' | 'failed';
  output?: unknown;
  error?: WorkflowFailure;
  actionId?: string;
  /** The worker task of a task item taken from the task queue. */
  taskId?: string;
  /** The agent the item was routed to (task items). */
  agent?: string;
  /** Order in which the item completed (for compensation). */
  completedAt?: number;
  /** Times an intervention denied the item's action in this attempt: its next submission gets a new key. */
  restarts?: number;
  /** The item's action has an unknown outcome: the item waits for a human decision. */
  unknownOutcome?: UnknownOutcome;
  /** Times a human had the item's action (`retries`) or its compensation (`compensationRetries`) tried again. */
  retries?: number;
  compensationRetries?: number;
}

/** A signal sent to the run, once the engine has recorded it in the history. */
export interface ReceivedSignal {
  id: string;
  name: string;
  data: unknown;
  sentBy: string;
  /** The wait step that consumed it. */
  consumedBy?: string;
}

/** What an approval step asks. */
export interface ApprovalAsk {
  group: string;
  quorum: number;
  prompt?: string;
}

/** An event as stored. */
export type RecordedEvent = WorkflowEvent & { seq: number; at: string };

export type StepStatus = 'pending' | 'running' | 'waiting' | 'completed' | 'skipped' | 'failed';

/** One step's state, rebuilt from history. */
export interface StepState {
  status: StepStatus;
  /** Current (or last) attempt, 1-based; 0 before the first. */
  attempt: number;
  output?: unknown;
  error?: WorkflowFailure;
  actionId?: string;
  retryAtMs?: number;
  deadlineMs?: number;
  approval?: ApprovalAsk;
  votes: { human: string; vote: 'approve' | 'deny' }[];
  /** The latest critique from a review, handed to the rerun. */
  critique?: string;
  /** Rejections so far (review steps). */
  rounds: number;
  /** Order in which the step completed (for compensation). */
  completedAt?: number;
  /** Parallel and consensus steps: their items. */
  items?: ItemState[];
  /** A parallel step: the list it fans out over. */
  over?: unknown[];
  /** A waiting `wait` step: the signal name, or the wake time. */
  event?: string;
  wakeAtMs?: number;
  /** A `workflow` step: its child run, and whether the child was asked to cancel. */
  childRunId?: string;
  childCancelled?: boolean;
  /** When set, the step is escalated if still unfinished at this time. */
  escalateAtMs?: number;
  /** This attempt runs the action's fallback tool. */
  fallback?: boolean;
  /** The resource lease key a pending step waits for, and since when. */
  blockedOn?: string;
  blockedAtMs?: number;
  /** A paused step (open circuit breaker) is looked at again from this time; `pausedAtMs`: since when. */
  pausedUntilMs?: number;
  pausedAtMs?: number;
  /** Why the step is paused, and (intervention) what holds it, e.g. `agent poster is paused`. */
  pausedReason?: PauseReason;
  pausedDetail?: string;
  /**
   * Attempts that do not count against `retry.maxAttempts`: given back because an intervention denied their action,
   * or redone by a human after an unknown outcome.
   */
  freeAttempts?: number;
  /** Compensations an intervention denied: the next one is submitted under a new key. */
  compensationRestarts?: number;
  /** The group the step was escalated to, and during which attempt. */
  escalatedTo?: string;
  escalatedAttempt?: number;
  /** An action of the step (or its compensation) has an unknown outcome: waiting for a human decision. */
  unknownOutcome?: UnknownOutcome;
  /** Times a human had the step's compensation tried again after an unknown outcome. */
  compensationRetries?: number;
}

export type RunStatus = 'running' | 'compensating' | 'completed' | 'failed' | 'cancelled';

/** A run's state, rebuilt from history. */
export interface RunState {
  status: RunStatus;
  input: unknown;
  output?: unknown;
  error?: WorkflowFailure;
  cancelRequested: boolean;
  steps: Record<string, StepState>;
  /** Steps whose compensation has run. */
  compensated: Set<string>;
  /** Items (`<stepId>:<index>`) of parallel steps whose compensation has run. */
  compensatedItems: Set<string>;
  /** Signals recorded in the history, in order. */
  signals: ReceivedSignal[];
  /** The shared run context as last observed (see `context_observed`). */
  context: Record<string, unknown>;
  /** Set while a human holds the run (`run_paused`): who and why. */
  paused?: { by: string; reason?: string };
}

/** Events that record a step being held rather than progressing. */
const HOLD_EVENTS = new Set<WorkflowEvent['type']>(['step_paused', 'step_blocked', 'step_escalated']);

function clearPause(s: StepState): void {
  delete s.pausedUntilMs;
  delete s.pausedAtMs;
  delete s.pausedReason;
  delete s.pausedDetail;
}

function fresh(): StepState {
  return { status: 'pending', attempt: 0, votes: [], rounds: 0 };
}

/**
 * Rebuilds a run's state from its history. Pure and deterministic: the same events always give the same state,
 * which is what lets any node resume any run after a crash.
 */
export function replay(def: WorkflowDefinition, events: readonly WorkflowEvent[]): RunState {
  const steps: Record<string, StepState> = {};
  for (const id of Object.keys(def.steps)) steps[id] = fresh();
  const st: RunState = {
    status: 'running',
    input: null,
    cancelRequested: false,
    steps,
    compensated: new Set(),
    compensatedItems: new Set(),
    signals: [],
    context: {},
  };
  let completions = 0;
  const step = (id: string): StepState => (steps[id] ??= fresh());
  for (const e of events) {
    // Any progress of a step held by an intervention means it was released.
    if ('stepId' in e && !HOLD_EVENTS.has(e.type) && steps[e.stepId]?.pausedReason === 'intervention')
      clearPause(step(e.stepId));
    switch (e.type) {
      case 'run_started':
        st.input = e.input;
        break;
      case 'step_started': {
        const s = step(e.stepId);
        s.status = 'running';
        s.attempt = e.attempt;
        s.deadlineMs = e.deadlineMs;
        s.escalateAtMs = e.escalateAtMs;
        s.fallback = e.fallback;
        delete s.retryAtMs;
        delete s.actionId;
        delete s.wakeAtMs;
        delete s.event;
        delete s.childRunId;
        delete s.childCancelled;
        // A new attempt keeps the items that completed and redoes the others (consensus asks afresh).
        if (s.items && def.steps[e.stepId]?.kind === 'consensus') delete s.items;
        if (s.items) s.items = s.items.map((it) => (it.status === 'completed' ? it : { status: 'pending' }));
        delete s.blockedOn;
        delete s.blockedAtMs;
        clearPause(s);
        delete s.unknownOutcome;
        break;
      }
      case 'context_observed':
        st.context = e.entries;
        break;
      case 'step_blocked': {
        const s = step(e.stepId);
        s.blockedOn = e.leaseKey;
        s.blockedAtMs = e.atMs;
        break;
      }
      case 'step_paused': {
        const s = step(e.stepId);
        if (e.untilMs !== undefined) s.pausedUntilMs = e.untilMs;
        else delete s.pausedUntilMs;
        s.pausedAtMs ??= e.atMs;
        s.pausedReason = e.reason ?? 'breaker';
        if (e.detail !== undefined) s.pausedDetail = e.detail;
        else delete s.pausedDetail;
        const item = e.index === undefined ? undefined : s.items?.[e.index];
        if (e.restart && e.compensation) s.compensationRestarts = (s.compensationRestarts ?? 0) + 1;
        else if (e.restart && item) {
          item.status = 'pending';
          item.restarts = (item.restarts ?? 0) + 1;
          delete item.actionId;
        } else if (e.restart) {
          s.status = 'pending';
          s.freeAttempts = (s.freeAttempts ?? 0) + 1;
          delete s.actionId;
        }
        break;
      }
      case 'run_paused':
        st.paused = { by: e.actor, ...(e.reason ? { reason: e.reason } : {}) };
        break;
      case 'run_resumed':
        delete st.paused;
        break;
      case 'step_escalated': {
        const s = step(e.stepId);
        s.escalatedTo = e.to;
        s.escalatedAttempt = e.attempt;
        if (e.unknownOutcome) flagUnknown(s, e.unknownOutcome);
        break;
      }
      case 'outcome_resolved':
        resolveUnknown(step(e.stepId), e);
        break;
      case 'step_waiting': {
        const s = step(e.stepId);
        s.status = 'waiting';
        if (e.actionId) s.actionId = e.actionId;
        if (e.approval) s.approval = e.approval;
        if (e.event !== undefined) s.event = e.event;
        if (e.wakeAtMs !== undefined) s.wakeAtMs = e.wakeAtMs;
        if (e.childRunId !== undefined) s.childRunId = e.childRunId;
        break;
      }
      case 'step_completed': {
        const s = step(e.stepId);
        s.status = 'completed';
        s.output = e.output;
        if (e.actionId) s.actionId = e.actionId;
        s.completedAt = ++completions;
        const signal = e.signalId ? st.signals.find((x) => x.id === e.signalId) : undefined;
        if (signal) signal.consumedBy = e.stepId;
        break;
      }
      case 'step_skipped':
        step(e.stepId).status = 'skipped';
        break;
      case 'step_failed': {
        const s = step(e.stepId);
        s.error = e.error;
        if (e.actionId) s.actionId = e.actionId;
        if (e.retryAtMs !== undefined) {
          s.status = 'pending';
          s.retryAtMs = e.retryAtMs;
        } else {
          s.status = 'failed';
          if (st.status === 'running') {
            st.status = 'compensating';
            st.error = e.error;
          }
        }
        break;
      }
      case 'approval_vote':
        step(e.stepId).votes.push({ human: e.human, vote: e.vote });
        break;
      case 'review_rejected': {
        const review = step(e.stepId);
        review.rounds = e.round;
        review.status = 'pending';
        review.attempt = 0;
        const target = step(e.target);
        target.status = 'pending';
        target.critique = e.critique;
        delete target.output;
        delete target.completedAt;
        break;
      }
      case 'cancel_requested':
        st.cancelRequested = true;
        if (st.status === 'running') st.status = 'compensating';
        break;
      case 'compensation_done':
        if (e.index === undefined) st.compensated.add(e.stepId);
        else st.compensatedItems.add(`${e.stepId}:${e.index}`);
        break;
      case 'items_planned': {
        const s = step(e.stepId);
        s.items = Array.from({ length: e.count }, () => ({ status: 'pending' }));
        if (e.items) s.over = e.items;
        break;
      }
      case 'item_started':
      case 'item_waiting':
      case 'item_completed':
      case 'item_failed': {
        const it = step(e.stepId).items?.[e.index];
        if (!it) break;
        if (e.type === 'item_started') {
          it.status = 'running';
          if (e.agent) it.agent = e.agent;
        } else if (e.type === 'item_waiting') {
          it.status = 'waiting';
          if (e.actionId) it.actionId = e.actionId;
          if (e.taskId) it.taskId = e.taskId;
        } else if (e.type === 'item_completed') {
          it.status = 'completed';
          it.output = e.output;
          if (e.actionId) it.actionId = e.actionId;
          if (e.agent) it.agent = e.agent;
          it.completedAt = ++completions;
        } else {
          it.status = 'failed';
          it.error = e.error;
          if (e.actionId) it.actionId = e.actionId;
          if (e.agent) it.agent = e.agent;
        }
        break;
      }
      case 'signal_received':
        st.signals.push({ id: e.signalId, name: e.name, data: e.data, sentBy: e.sentBy });
        break;
      case 'child_cancel_requested':
        step(e.stepId).childCancelled = true;
        break;
      case 'run_retried':
        retry(st);
        break;
      case 'run_completed':
        st.status = 'completed';
        st.output = e.output;
        break;
      case 'run_finished':
        st.status = e.status;
        if (e.error) st.error = e.error;
        break;
    }
  }
  return st;
}

/** An action of the step has an unknown outcome: the step (or the item) waits for a human decision. */
function flagUnknown(s: StepState, u: UnknownOutcome): void {
  const it = u.index === undefined ? undefined : s.items?.[u.index];
  if (u.compensation || !it) {
    s.unknownOutcome = u;
    if (!u.compensation) {
      s.status = 'waiting';
      s.actionId = u.actionId;
    }
    return;
  }
  it.status = 'waiting';
  it.actionId = u.actionId;
  it.unknownOutcome = u;
}

/**
 * A human's decision clears the flag. A retried compensation or item counts a retry (its next action gets a new
 * idempotency key); a retried step's new attempt is free. The step's or item's own end is the event committed with
 * the decision (`step_completed`, `step_failed`, `item_completed`, `item_failed`, `compensation_done`).
 */
function resolveUnknown(s: StepState, e: Extract<WorkflowEvent, { type: 'outcome_resolved' }>): void {
  const it = e.index === undefined ? undefined : s.items?.[e.index];
  if (it && !e.compensation) {
    delete it.unknownOutcome;
    if (e.outcome === 'retry') {
      const retries = (it.retries ?? 0) + 1;
      for (const k of Object.keys(it)) delete (it as unknown as Record<string, unknown>)[k];
      Object.assign(it, { status: 'pending', retries });
    }
    return;
  }
  delete s.unknownOutcome;
  if (e.outcome !== 'retry') return;
  if (!e.compensation) s.freeAttempts = (s.freeAttempts ?? 0) + 1;
  else if (it) it.compensationRetries = (it.compensationRetries ?? 0) + 1;
  else s.compensationRetries = (s.compensationRetries ?? 0) + 1;
}

/**
 * A failed run starts again: failed steps and steps (or items) whose compensation ran become pending (their next
 * attempt gets new idempotency keys); completed, uncompensated steps stay done.
 */
function retry(st: RunState): void {
  st.status = 'running';
  delete st.error;
  for (const [id, s] of Object.entries(st.steps)) {
    let undone = 0;
    if (s.items)
      s.items = s.items.map((it, i) => {
        if (!st.compensatedItems.delete(`${id}:${i}`)) return it;
        undone++;
        return { status: 'pending' };
      });
    // A sub-run cancelled because the run failed is started afresh (a new attempt, hence a new child).
    if (s.status === 'failed' || st.compensated.delete(id) || undone || s.childCancelled) {
      s.status = 'pending';
      delete s.output;
      delete s.completedAt;
      delete s.error;
    }
  }
}

/**
 * The data JSONata expressions see: the run input, each finished step's output, and the run's shared context as
 * last recorded in the history (`context_observed`), so replay sees the same values.
 */
export function expressionScope(st: RunState): {
  input: unknown;
  steps: Record<string, unknown>;
  context: Record<string, unknown>;
} {
  const out: Record<string, unknown> = {};
  for (const [id, s] of Object.entries(st.steps)) if (s.status === 'completed') out[id] = s.output ?? null;
  return { input: st.input, steps: out, context: st.context };
}
