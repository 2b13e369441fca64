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
  /** The step waits, without using an attempt, until its tool's open circuit breaker lets a trial call through. */
  | { type: 'step_paused'; stepId: string; connector: string; atMs: number; untilMs: number }
  /** A human group was told the step is taking too long (or a review ran out of rounds). */
  | { type: 'step_escalated'; stepId: string; attempt: number; to: string; reason: string }
  | { type: 'step_waiting'; stepId: string; attempt: number; actionId?: string; approval?: ApprovalAsk }
  | { type: 'step_completed'; stepId: string; attempt: number; output: unknown; actionId?: string }
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
  | { type: 'compensation_done'; stepId: string; actionId: string; status: string }
  | { type: 'run_completed'; output: unknown }
  | { type: 'run_finished'; status: 'failed' | 'cancelled'; error?: WorkflowFailure };

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
  /** The group the step was escalated to, and during which attempt. */
  escalatedTo?: string;
  escalatedAttempt?: number;
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
  /** The shared run context as last observed (see `context_observed`). */
  context: Record<string, unknown>;
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
    context: {},
  };
  let completions = 0;
  const step = (id: string): StepState => (steps[id] ??= fresh());
  for (const e of events) {
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
        delete s.blockedOn;
        delete s.blockedAtMs;
        delete s.pausedUntilMs;
        delete s.pausedAtMs;
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
        s.pausedUntilMs = e.untilMs;
        s.pausedAtMs ??= e.atMs;
        break;
      }
      case 'step_escalated': {
        const s = step(e.stepId);
        s.escalatedTo = e.to;
        s.escalatedAttempt = e.attempt;
        break;
      }
      case 'step_waiting': {
        const s = step(e.stepId);
        s.status = 'waiting';
        if (e.actionId) s.actionId = e.actionId;
        if (e.approval) s.approval = e.approval;
        break;
      }
      case 'step_completed': {
        const s = step(e.stepId);
        s.status = 'completed';
        s.output = e.output;
        if (e.actionId) s.actionId = e.actionId;
        s.completedAt = ++completions;
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
        st.compensated.add(e.stepId);
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
