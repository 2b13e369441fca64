import { ConflictError, UserError } from '../errors.js';
import type { Human } from '../identity/humans.js';
import type { WorkflowDefinition } from './definition.js';
import type {
  OutcomeDecision,
  RunState,
  StepState,
  UnknownOutcome,
  WorkflowEvent,
  WorkflowFailure,
} from './history.js';

/** The decisions a human may take on an action whose outcome is unknown. */
export const OUTCOME_DECISIONS: readonly OutcomeDecision[] = ['succeeded', 'failed', 'retry'];

/**
 * The event that flags an action with an unknown outcome (the node died while it was executing): the step is
 * escalated to the workflow's owner and waits for a decision instead of failing (no compensation yet).
 */
export function flagUnknownOutcome(p: {
  def: WorkflowDefinition;
  stepId: string;
  attempt: number;
  actionId: string;
  index?: number;
  compensation?: boolean;
}): WorkflowEvent {
  const what = `${p.compensation ? 'compensation ' : ''}action ${p.actionId}${p.index === undefined ? '' : ` (item ${p.index})`}`;
  const unknownOutcome: UnknownOutcome = {
    actionId: p.actionId,
    ...(p.index !== undefined ? { index: p.index } : {}),
    ...(p.compensation ? { compensation: true } : {}),
  };
  return {
    type: 'step_escalated',
    stepId: p.stepId,
    attempt: p.attempt,
    to: p.def.owner,
    reason: `${what} of step ${p.stepId} has an unknown outcome after a crash; resolve it as succeeded, failed or retry`,
    unknownOutcome,
  };
}

/** The unknown outcome a step (or one of its items) waits on, if any. */
export function pendingUnknownOutcome(s: StepState): UnknownOutcome | undefined {
  return s.unknownOutcome ?? s.items?.find((it) => it.unknownOutcome)?.unknownOutcome;
}

/** Whether some step of the run waits for a decision on an unknown outcome (compensation waits for it too). */
export function awaitsOutcomeDecision(st: RunState): boolean {
  return Object.values(st.steps).some((s) => pendingUnknownOutcome(s) !== undefined);
}

/** A human's decision on an unknown outcome, as {@link resolutionEvents} takes it. */
export interface OutcomeResolution {
  def: WorkflowDefinition;
  st: RunState;
  runId: string;
  stepId: string;
  human: Human;
  outcome: OutcomeDecision;
  /** `succeeded`: the step's (or item's) output; default null (the upstream's answer is unknown). */
  output?: unknown;
  comment?: string;
  nowMs: number;
}

/**
 * The events a human's decision on an unknown outcome commits: `outcome_resolved`, then what it means for the step.
 * `succeeded` completes the step (or item) with `output`, or records the compensation as done; `failed` fails it for
 * good, or records the compensation as failed and goes on; `retry` starts a new attempt (a new idempotency key).
 * Who may decide is checked before, by the engine ({@link mayManageRun}). Throws {@link ConflictError} (`step`) when
 * the step does not wait for such a decision, and {@link UserError} for a bad outcome.
 */
export function resolutionEvents(p: OutcomeResolution): WorkflowEvent[] {
  if (!OUTCOME_DECISIONS.includes(p.outcome))
    throw new UserError(`must be one of ${OUTCOME_DECISIONS.join(', ')}`, { field: 'outcome' });
  const s = p.st.steps[p.stepId];
  const u = s && pendingUnknownOutcome(s);
  if (!s || !u || (p.st.status !== 'running' && p.st.status !== 'compensating'))
    throw new ConflictError(`step ${p.stepId} of run ${p.runId} is not waiting for an outcome decision`, {
      field: 'step',
    });
  if (p.outcome === 'retry' && !u.compensation && p.st.status === 'compensating')
    throw new ConflictError(
      `run ${p.runId} is compensating: step ${p.stepId} can be resolved as succeeded or failed, not retried`,
      { field: 'outcome' },
    );
  if (p.output !== undefined && p.outcome !== 'succeeded')
    throw new UserError('is only taken with outcome succeeded', { field: 'output' });
  const base = { stepId: p.stepId, attempt: s.attempt };
  const at = u.index === undefined ? {} : { index: u.index };
  const resolved: WorkflowEvent = {
    type: 'outcome_resolved',
    stepId: p.stepId,
    actionId: u.actionId,
    human: p.human.id,
    outcome: p.outcome,
    ...at,
    ...(u.compensation ? { compensation: true } : {}),
    ...(p.comment ? { comment: p.comment } : {}),
  };
  const error: WorkflowFailure = {
    code: 'unknown_outcome',
    message: `action ${u.actionId} had an unknown outcome; ${p.human.id} resolved it as ${p.outcome}`,
    retryable: false,
  };
  const output = p.output ?? null;
  if (u.compensation) {
    if (p.outcome === 'retry') return [resolved];
    return [
      resolved,
      { type: 'compensation_done', stepId: p.stepId, actionId: u.actionId, status: p.outcome, ...at },
    ];
  }
  if (u.index !== undefined) {
    if (p.outcome === 'retry') return [resolved];
    return [
      resolved,
      p.outcome === 'succeeded'
        ? { type: 'item_completed', ...base, index: u.index, output, actionId: u.actionId }
        : { type: 'item_failed', ...base, index: u.index, error, actionId: u.actionId },
    ];
  }
  if (p.outcome === 'succeeded')
    return [resolved, { type: 'step_completed', ...base, output, actionId: u.actionId }];
  return [
    resolved,
    {
      type: 'step_failed',
      ...base,
      error,
      actionId: u.actionId,
      ...(p.outcome === 'retry' ? { retryAtMs: p.nowMs } : {}),
    },
  ];
}
