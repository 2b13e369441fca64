import { parseDurationSec } from '../../config/duration.js';
import type { StepDefinition } from '../definition.js';
import { expressionScope } from '../history.js';
import type { RunState, StepState, WorkflowEvent } from '../history.js';
import { evaluate, failStep, failure } from '../step-runner.js';
import type { KindStepParams } from './items.js';

type WaitStep = Extract<StepDefinition, { kind: 'wait' }>;

/** The oldest signal of `name` recorded in the run and not yet consumed by another wait step. */
function pendingSignal(st: RunState, name: string) {
  return st.signals.find((x) => x.name === name && x.consumedBy === undefined);
}

function delivered(p: KindStepParams, s: StepState, name: string): WorkflowEvent[] {
  const signal = pendingSignal(p.st, name);
  if (!signal) return [];
  return [
    {
      type: 'step_completed',
      stepId: p.stepId,
      attempt: s.attempt,
      output: signal.data,
      signalId: signal.id,
    },
  ];
}

/**
 * Starts a `wait` step. An event wait completes at once with a signal already recorded (sent before the step
 * started waiting), else records what it waits for; a timed wait records its wake time, so replay reads no clock.
 */
export async function startWait(p: KindStepParams): Promise<WorkflowEvent[]> {
  const step = p.def.steps[p.stepId] as WaitStep;
  const s = p.st.steps[p.stepId] as StepState;
  const base = { type: 'step_waiting' as const, stepId: p.stepId, attempt: s.attempt };
  if (step.event !== undefined) {
    const now = delivered(p, s, step.event);
    return now.length ? now : [{ ...base, event: step.event }];
  }
  if (step.for !== undefined)
    return [{ ...base, wakeAtMs: p.nowMs + parseDurationSec(step.for, `steps.${p.stepId}.for`) * 1000 }];
  const field = `steps.${p.stepId}.until`;
  let at: unknown;
  try {
    at = await evaluate(step.until as string, expressionScope(p.st), field);
  } catch (err) {
    return [failStep(step, p.stepId, s, failure('bad_input', (err as Error).message, false), p.nowMs)];
  }
  const wakeAtMs = typeof at === 'string' ? Date.parse(at) : Number.NaN;
  if (Number.isNaN(wakeAtMs))
    return [
      failStep(step, p.stepId, s, failure('bad_input', `${field}: must give an ISO time`, false), p.nowMs),
    ];
  return [{ ...base, wakeAtMs }];
}

/** A waiting `wait` step: completes on its signal or at its wake time; an event wait fails after its `timeout`. */
export function pollWait(p: KindStepParams): WorkflowEvent[] {
  const step = p.def.steps[p.stepId] as WaitStep;
  const s = p.st.steps[p.stepId] as StepState;
  if (s.wakeAtMs !== undefined) {
    if (p.nowMs < s.wakeAtMs) return [];
    const output = { wokeAt: new Date(s.wakeAtMs).toISOString() };
    return [{ type: 'step_completed', stepId: p.stepId, attempt: s.attempt, output }];
  }
  const got = delivered(p, s, s.event ?? (step.event as string));
  if (got.length) return got;
  if (s.deadlineMs !== undefined && p.nowMs > s.deadlineMs)
    return [
      failStep(
        step,
        p.stepId,
        s,
        failure('timeout', `step ${p.stepId} timed out waiting for signal '${step.event}'`, false),
        p.nowMs,
      ),
    ];
  return [];
}
