import { parseDurationSec } from '../config/duration.js';
import { topologicalOrder } from './definition.js';
import type { StepDefinition, WorkflowDefinition } from './definition.js';
import { expressionScope } from './history.js';
import type { RunState, StepState, WorkflowEvent } from './history.js';
import type { StepGates } from './step-gates.js';
import { compileExpression } from './expressions.js';
import type { StepRunner } from './step-runner.js';
import type { ApprovalSteps } from './steps/approval-step.js';
import type { ItemSteps } from './steps/items.js';
import type { SignalStore } from './steps/signals.js';
import type { SubRuns } from './steps/sub-workflow.js';
import { pollWait, startWait } from './steps/wait.js';
import { awaitsOutcomeDecision } from './unknown-outcome.js';
import { isWorkerTask } from './worker-task-step.js';
import type { WorkerTaskStep } from './worker-task-step.js';

/**
 * What deciding a run's next piece of work needs from the outside: the operations of the step runners, the step
 * gates (context snapshots, leases, breakers, escalation) and the signal inbox. The engine passes its real ones
 * (real effects); the history replayer passes ones that answer effects from the recorded history, which is how the
 * decisions below are checked for determinism without side effects.
 */
export interface NextWorkDeps {
  steps: Pick<StepRunner, 'shouldRun' | 'action' | 'task' | 'review' | 'pollAction' | 'compensate'>;
  items: Pick<ItemSteps, 'parallel' | 'consensus' | 'itemsToCompensate' | 'compensateItem'>;
  subRuns: Pick<SubRuns, 'start' | 'poll' | 'cancelChildren'>;
  workerSteps: Pick<WorkerTaskStep, 'start' | 'poll'>;
  signals: Pick<SignalStore, 'unrecorded'>;
  gates: Pick<StepGates, 'escalation' | 'observeContext' | 'beforeStart'>;
  approvalSteps: Pick<ApprovalSteps, 'poll'>;
}

/** The step runner's part of {@link NextWorkDeps}. */
export type StepEffects = NextWorkDeps['steps'];

/** The run a decision is about. */
export interface NextWorkParams {
  runId: string;
  def: WorkflowDefinition;
  st: RunState;
  nowMs: number;
  /**
   * Answer only what is decided without performing anything: step starts and skips, the observations and gates a
   * start passes, escalation and the run's completion. Where the run's next piece of work performs something (a
   * running or waiting step, a signal, compensation) it answers none, exactly where the full decision would act.
   * The engine uses it to commit a step's end and the next step's start in one transaction.
   */
  decisionsOnly?: boolean;
}

const DONE = ['completed', 'skipped'];

/**
 * Decides and performs a run's next piece of work from its replayed state; answers its events (none: nothing to do
 * now). Deterministic given the state, the clock reading `nowMs` and the answers of `deps`: everything else is a
 * function of the definition and the history. A new step kind adds its case here.
 */
export async function nextWork(deps: NextWorkDeps, p: NextWorkParams): Promise<WorkflowEvent[]> {
  const { runId, def, st, nowMs } = p;
  const waitsForSignals = Object.values(def.steps).some((x) => x.kind === 'wait' && x.event !== undefined);
  if (p.decisionsOnly && (waitsForSignals || st.status !== 'running')) return [];
  if (waitsForSignals) {
    const signals = await deps.signals.unrecorded(runId, st);
    if (signals.length) return signals;
  }
  if (st.status === 'compensating')
    // A paused run that failed waits to compensate until resumed; a cancel goes ahead at once.
    return st.paused && !st.cancelRequested ? [] : nextCompensation(deps, p);
  const order = topologicalOrder(def);
  if (order.every((id) => DONE.includes((st.steps[id] as StepState).status))) {
    const scope = expressionScope(st);
    const output = def.output
      ? ((await compileExpression(def.output).evaluate(scope)) as unknown)
      : scope.steps;
    return [{ type: 'run_completed', output: output ?? null }];
  }
  const escalation = deps.gates.escalation(def, st, nowMs);
  if (escalation) return [escalation];
  for (const id of order) {
    const step = def.steps[id] as StepDefinition;
    const s = st.steps[id] as StepState;
    // A run a human paused starts no step and submits nothing; what already waits keeps being looked at.
    if (st.paused && s.status !== 'waiting') continue;
    if (s.status === 'pending') {
      const ready = step.dependsOn
        .concat(step.kind === 'review' ? [step.step] : [])
        .every((d) => DONE.includes((st.steps[d] as StepState).status));
      if (!ready || (s.retryAtMs !== undefined && s.retryAtMs > nowMs)) continue;
      // The context and the security epoch the intervention check uses: one read.
      const { events: observed, epoch } = await deps.gates.observeContext(runId, st);
      if (observed.length) return observed;
      if (!(await deps.steps.shouldRun(step, id, st))) return [{ type: 'step_skipped', stepId: id }];
      const gate = await deps.gates.beforeStart({ runId, def, stepId: id, st, nowMs, epoch });
      if ('wait' in gate) {
        if (gate.wait.length) return gate.wait;
        continue;
      }
      const deadline = step.timeout
        ? { deadlineMs: nowMs + parseDurationSec(step.timeout, `steps.${id}.timeout`) * 1000 }
        : {};
      return [{ type: 'step_started', stepId: id, attempt: s.attempt + 1, ...deadline, ...gate.start }];
    }
    // Past here the step performs or polls something: a decisions-only look stops where the full one would act.
    if (p.decisionsOnly && (s.status === 'running' || (s.status === 'waiting' && !s.unknownOutcome)))
      return [];
    if (s.status === 'running') {
      const sp = { runId, def, stepId: id, st, nowMs };
      // A step an intervention holds answers nothing new: the run's other steps go on.
      const held = (events: WorkflowEvent[]) => events.length === 0 && s.pausedReason === 'intervention';
      switch (step.kind) {
        case 'action': {
          const events = await deps.steps.action(sp);
          if (held(events)) continue;
          return events;
        }
        case 'task': {
          if (isWorkerTask(step)) return deps.workerSteps.start(sp);
          const events = await deps.steps.task(sp);
          if (held(events)) continue;
          return events;
        }
        case 'review': {
          const events = await deps.steps.review(sp);
          if (held(events)) continue;
          return events;
        }
        case 'parallel': {
          const events = await deps.items.parallel(sp);
          if (events.length) return events;
          continue; // items in flight (e.g. pending approval) must not block other steps
        }
        case 'consensus': {
          const events = await deps.items.consensus(sp);
          if (held(events)) continue;
          return events;
        }
        case 'wait':
          return startWait(sp);
        case 'workflow':
          return deps.subRuns.start(sp);
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
    // An action with an unknown outcome waits for a human decision (outcome_resolved), not for its action.
    if (s.status === 'waiting' && s.unknownOutcome) continue;
    if (s.status === 'waiting') {
      const sp = { runId, def, stepId: id, st, nowMs };
      let events: WorkflowEvent[] = [];
      if (step.kind === 'wait') events = pollWait(sp);
      else if (step.kind === 'workflow') events = await deps.subRuns.poll(sp);
      else if (step.kind === 'action') events = await deps.steps.pollAction({ def, stepId: id, st, nowMs });
      else if (isWorkerTask(step)) events = await deps.workerSteps.poll(sp);
      else if (step.kind === 'approval' && !s.votes.length)
        events = await deps.approvalSteps.poll({ runId, stepId: id, st, nowMs });
      else if (s.deadlineMs !== undefined && nowMs > s.deadlineMs)
        events = [
          {
            type: 'step_failed',
            stepId: id,
            attempt: s.attempt,
            error: { code: 'timeout', message: `approval step ${id} timed out`, retryable: false },
          },
        ];
      if (events.length) return events;
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

async function nextCompensation(deps: NextWorkDeps, p: NextWorkParams): Promise<WorkflowEvent[]> {
  const { runId, def, st } = p;
  const children = await deps.subRuns.cancelChildren({ runId, def, st });
  if (children.length) return children;
  // A step whose action's outcome is unknown may still turn out completed (and need compensating): wait for it.
  if (awaitsOutcomeDecision(st)) return [];
  const first = nextCompensationStep(def, st);
  const firstAt = first ? ((st.steps[first] as StepState).completedAt ?? 0) : 0;
  const item = deps.items.itemsToCompensate(def, st)[0];
  // Parallel action items and whole steps are compensated together, newest completion first.
  if (item && (!first || item.completedAt > firstAt))
    return deps.items.compensateItem({ runId, def, stepId: item.stepId, index: item.index, st });
  if (first) return deps.steps.compensate({ runId, def, stepId: first, st });
  return [
    st.cancelRequested
      ? { type: 'run_finished', status: 'cancelled' }
      : { type: 'run_finished', status: 'failed', ...(st.error ? { error: st.error } : {}) },
  ];
}
