import { stepApprovalId } from '../approvals/approvals.js';
import type { EventBus } from '../events/event-bus.js';
import type { RunState, WorkflowEvent } from './history.js';

/** The live-stream event type of each history event that has one (`run.*`). */
const LIVE_TYPE: Partial<Record<WorkflowEvent['type'], string>> = {
  run_started: 'run.started',
  step_started: 'run.step_started',
  step_waiting: 'run.waiting',
  step_completed: 'run.step_completed',
  step_failed: 'run.step_failed',
  step_skipped: 'run.step_skipped',
  cancel_requested: 'run.cancel_requested',
  compensation_done: 'run.step_compensated',
  run_completed: 'run.completed',
  item_started: 'run.item_started',
  item_completed: 'run.item_completed',
  item_failed: 'run.item_failed',
  signal_received: 'run.signal_received',
  run_retried: 'run.retried',
  run_paused: 'run.paused',
  run_resumed: 'run.resumed',
  step_blocked: 'run.step_blocked',
  step_paused: 'run.step_paused',
  step_escalated: 'run.step_escalated',
  outcome_resolved: 'run.outcome_resolved',
};

/**
 * Publishes a committed batch of a run's history events on the live stream (`GET /v1/events`), in order. Call only
 * after the transaction that recorded them committed. Payloads name the run, workflow, step and statuses, never
 * inputs, outputs or error messages (they may hold data the stream's readers should not see); the history and the
 * audit log hold the rest.
 */
export function publishRunEvents(
  bus: EventBus | undefined,
  run: { id: string; workflow: string },
  events: readonly WorkflowEvent[],
  after: Pick<RunState, 'status'>,
): void {
  if (!bus) return;
  // A batch may end with the run's completion (the engine commits the last step's end and the run's end together):
  // the events before it happened while the run was still running, and say so.
  const completedAt = events.findIndex((e) => e.type === 'run_completed');
  events.forEach((e, i) => {
    const type =
      e.type === 'run_finished'
        ? e.status === 'cancelled'
          ? 'run.cancelled'
          : 'run.failed'
        : LIVE_TYPE[e.type];
    if (!type) return;
    const status = completedAt >= 0 && i < completedAt ? 'running' : after.status;
    const data: Record<string, unknown> = { runId: run.id, workflow: run.workflow, status };
    if ('stepId' in e) data.stepId = e.stepId;
    if ('attempt' in e) data.attempt = e.attempt;
    if ('index' in e) data.index = e.index;
    if (e.type === 'step_failed') {
      data.code = e.error.code;
      data.retryable = e.error.retryable;
      if (e.retryAtMs !== undefined) data.retryAtMs = e.retryAtMs;
    }
    if (e.type === 'step_waiting' && e.approval) data.waitingFor = 'approval';
    if (e.type === 'step_paused') data.reason = e.reason ?? 'breaker';
    if (e.type === 'step_escalated' && e.unknownOutcome) data.waitingFor = 'outcome_decision';
    if (e.type === 'outcome_resolved') data.outcome = e.outcome;
    if (e.type === 'run_finished' && e.error) data.code = e.error.code;
    bus.publish(type, data, `run:${run.id}`);
    // The step's approval request enters the one inbox (live views, the approvals webhook) like a pipeline one.
    if (e.type === 'step_waiting' && e.approval)
      bus.publish(
        'approval.requested',
        {
          approvalId: stepApprovalId(run.id, e.stepId, e.attempt),
          actionId: null,
          runId: run.id,
          stepId: e.stepId,
        },
        `run:${run.id}`,
      );
  });
}
