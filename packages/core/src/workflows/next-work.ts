import jsonata from 'jsonata';
import { parseDurationSec } from '../config/duration.js';
import { topologicalOrder } from './definition.js';
import type { StepDefinition, WorkflowDefinition } from './definition.js';
import { expressionScope } from './history.js';
import type { RunState, StepState, WorkflowEvent } from './history.js';
import type { StepRunner } from './step-runner.js';

/**
 * What deciding a run's next piece of work needs from the outside: the step runner's operations. The engine passes
 * its {@link StepRunner} (real effects); the history replayer passes one that answers effects from the recorded
 * history, which is how the decisions below are checked for determinism without side effects.
 */
export type StepEffects = Pick<
  StepRunner,
  'shouldRun' | 'action' | 'task' | 'review' | 'pollAction' | 'compensate'
>;

/** The run a decision is about. */
export interface NextWorkParams {
  runId: string;
  def: WorkflowDefinition;
  st: RunState;
  nowMs: number;
}

/**
 * Decides and performs a run's next piece of work from its replayed state; answers its events (none: nothing to do
 * now). Deterministic given the state, the clock reading `nowMs` and the answers of `steps`: everything else is a
 * function of the definition and the history.
 */
export async function nextWork(steps: StepEffects, p: NextWorkParams): Promise<WorkflowEvent[]> {
  const { runId, def, st, nowMs } = p;
  if (st.status === 'compensating') return nextCompensation(steps, p);
  const order = topologicalOrder(def);
  if (order.every((id) => ['completed', 'skipped'].includes((st.steps[id] as StepState).status))) {
    const scope = expressionScope(st);
    const output = def.output ? ((await jsonata(def.output).evaluate(scope)) as unknown) : scope.steps;
    return [{ type: 'run_completed', output: output ?? null }];
  }
  for (const id of order) {
    const step = def.steps[id] as StepDefinition;
    const s = st.steps[id] as StepState;
    if (s.status === 'pending') {
      const ready = step.dependsOn
        .concat(step.kind === 'review' ? [step.step] : [])
        .every((d) => ['completed', 'skipped'].includes((st.steps[d] as StepState).status));
      if (!ready || (s.retryAtMs !== undefined && s.retryAtMs > nowMs)) continue;
      if (!(await steps.shouldRun(step, id, st))) return [{ type: 'step_skipped', stepId: id }];
      const deadline = step.timeout
        ? { deadlineMs: nowMs + parseDurationSec(step.timeout, `steps.${id}.timeout`) * 1000 }
        : {};
      return [{ type: 'step_started', stepId: id, attempt: s.attempt + 1, ...deadline }];
    }
    if (s.status === 'running') {
      const sp = { runId, def, stepId: id, st, nowMs };
      switch (step.kind) {
        case 'action':
          return steps.action(sp);
        case 'task':
          return steps.task(sp);
        case 'review':
          return steps.review(sp);
        case 'approval':
          return [
            {
              type: 'step_waiting',
              stepId: id,
              attempt: s.attempt,
              approval: {
                group: step.group,
                quorum: step.quorum,
                ...(step.prompt ? { prompt: step.prompt } : {}),
              },
            },
          ];
      }
    }
    if (s.status === 'waiting') {
      if (step.kind === 'action') {
        const events = await steps.pollAction({ def, stepId: id, st, nowMs });
        if (events.length) return events;
      } else if (s.deadlineMs !== undefined && nowMs > s.deadlineMs) {
        return [
          {
            type: 'step_failed',
            stepId: id,
            attempt: s.attempt,
            error: { code: 'timeout', message: `approval step ${id} timed out`, retryable: false },
          },
        ];
      }
    }
  }
  return [];
}

/** The step whose compensation runs next: the latest completed, not yet compensated action step that has one. */
export function nextCompensationStep(def: WorkflowDefinition, st: RunState): string | undefined {
  const done = Object.entries(st.steps)
    .filter(([id, s]) => s.status === 'completed' && !st.compensated.has(id))
    .filter(([id]) => {
      const step = def.steps[id] as StepDefinition;
      return step.kind === 'action' && !!step.compensate;
    })
    .sort((a, b) => (b[1].completedAt ?? 0) - (a[1].completedAt ?? 0));
  return done[0]?.[0];
}

async function nextCompensation(steps: StepEffects, p: NextWorkParams): Promise<WorkflowEvent[]> {
  const { runId, def, st } = p;
  const first = nextCompensationStep(def, st);
  if (first) return steps.compensate({ runId, def, stepId: first, st });
  return [
    st.cancelRequested
      ? { type: 'run_finished', status: 'cancelled' }
      : { type: 'run_finished', status: 'failed', ...(st.error ? { error: st.error } : {}) },
  ];
}
