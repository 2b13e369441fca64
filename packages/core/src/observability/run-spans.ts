import type { RecordedEvent } from '../workflows/history.js';
import { derivedSpanId, derivedTraceId } from './tracing.js';
import type { SpanRef, Tracing } from './tracing.js';

/**
 * The identity of a workflow run's `invoke_workflow` span. It is derived from the run id, so every node and every
 * restart knows it without storing it, and one run is one trace however long it waits.
 */
export function runSpanRef(runId: string): SpanRef {
  return { traceId: derivedTraceId('aos.run', runId), spanId: derivedSpanId('aos.run', runId) };
}

/** The identity of one attempt of a run's step: the parent of the actions the attempt submits. */
export function stepSpanRef(runId: string, stepId: string, attempt: number): SpanRef {
  return {
    traceId: runSpanRef(runId).traceId,
    spanId: derivedSpanId('aos.step', runId, stepId, String(attempt)),
  };
}

const STEP_END = new Set(['step_completed', 'step_failed']);

/**
 * Emits the spans of a finished run from its recorded history: `invoke_workflow {workflow}` from its start to its
 * end, and one `aos.step {stepId}` span per step attempt under it. The actions of each attempt were emitted as they
 * finished, already under these (derived) span ids.
 */
export function emitRunSpans(
  tracing: Tracing,
  run: { id: string; workflow: string; status: string },
  history: readonly RecordedEvent[],
): void {
  if (!tracing.enabled || !history.length) return;
  const runRef = runSpanRef(run.id);
  const startMs = Date.parse((history[0] as RecordedEvent).at);
  const endMs = Date.parse((history[history.length - 1] as RecordedEvent).at);
  const open = new Map<string, { attempt: number; startMs: number }>();
  const emitStep = (stepId: string, attempt: number, from: number, to: number, errorType?: string) =>
    tracing.emit({
      name: `aos.step ${stepId}`,
      ref: stepSpanRef(run.id, stepId, attempt),
      parent: runRef,
      startMs: from,
      endMs: to,
      attributes: {
        'aos.run.id': run.id,
        'aos.workflow': run.workflow,
        'aos.step.id': stepId,
        'aos.step.attempt': attempt,
      },
      errorType,
    });
  for (const e of history) {
    if (e.type === 'step_started') open.set(e.stepId, { attempt: e.attempt, startMs: Date.parse(e.at) });
    else if (STEP_END.has(e.type) && 'stepId' in e) {
      const s = open.get(e.stepId);
      if (!s) continue;
      open.delete(e.stepId);
      emitStep(
        e.stepId,
        s.attempt,
        s.startMs,
        Date.parse(e.at),
        e.type === 'step_failed' ? e.error.code : undefined,
      );
    }
  }
  // Steps the run left unfinished (cancelled, failed elsewhere) end with it.
  for (const [stepId, s] of open) emitStep(stepId, s.attempt, s.startMs, endMs, 'abandoned');
  tracing.emit({
    name: `invoke_workflow ${run.workflow}`,
    ref: runRef,
    startMs,
    endMs,
    attributes: {
      'gen_ai.operation.name': 'invoke_workflow',
      'gen_ai.agent.name': run.workflow,
      'aos.run.id': run.id,
      'aos.workflow': run.workflow,
      'aos.run.status': run.status,
    },
    errorType: run.status === 'failed' ? 'run_failed' : undefined,
  });
}
