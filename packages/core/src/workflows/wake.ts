import type { StepDefinition, WorkflowDefinition } from './definition.js';
import { topologicalOrder } from './definition.js';
import type { ItemState, RunState, StepState } from './history.js';
import { escalationDue } from './step-gates.js';
import { awaitsOutcomeDecision } from './unknown-outcome.js';
import { isWorkerTask } from './worker-task-step.js';

/**
 * When a run next needs attention, as {@link nextWake} computes it from the run's state: `atMs` is the clock
 * reading given when the run has work now, the earliest timer, timeout, retry back-off, breaker pause or
 * escalation when it waits, and null when only an outside event can move it (an approval decided, a signal, a task
 * finished, a child run ending, a lease freed...). `held`: a step of the run is paused by an intervention, so a kill
 * switch released or an agent resumed must wake it.
 */
export interface RunWake {
  atMs: number | null;
  held: boolean;
}

const DONE = ['completed', 'skipped'];
const TERMINAL = ['completed', 'failed', 'cancelled'];

/**
 * The next wake of a run, from its replayed state alone (so it is right after a crash too). Pure and
 * deterministic given `nowMs`. It mirrors {@link nextWork}: where that would find work, the wake is `nowMs`; where
 * it would wait, the wake is the wait's own time, or null for a wait only an outside event ends. When unsure it
 * answers `nowMs` (the scheduler re-checks a run that then does nothing later; it never misses one).
 */
export function nextWake(def: WorkflowDefinition, st: RunState, nowMs: number): RunWake {
  const held = Object.values(st.steps).some((s) => s.pausedReason === 'intervention');
  if (TERMINAL.includes(st.status)) return { atMs: null, held: false };
  const now = { atMs: nowMs, held };
  const waits = { atMs: null as number | null, held };
  const at = (ms: number) => {
    waits.atMs = waits.atMs === null ? ms : Math.min(waits.atMs, ms);
  };
  if (st.status === 'compensating') {
    if (st.paused && !st.cancelRequested) return waits;
    const childToCancel = Object.entries(st.steps).some(
      ([id, s]) =>
        def.steps[id]?.kind === 'workflow' &&
        s.childRunId !== undefined &&
        !s.childCancelled &&
        s.status !== 'completed',
    );
    if (childToCancel) return now;
    if (awaitsOutcomeDecision(st) || held) return waits;
    return now;
  }
  const order = topologicalOrder(def);
  if (order.every((id) => DONE.includes((st.steps[id] as StepState).status))) return now;
  for (const [id, s] of Object.entries(st.steps)) {
    const due = escalationDue(def, id, s);
    if (due === undefined) continue;
    if (due.dueMs <= nowMs) return now;
    at(due.dueMs);
  }
  for (const id of order) {
    const step = def.steps[id] as StepDefinition;
    const s = st.steps[id] as StepState;
    if (st.paused && s.status !== 'waiting') continue;
    const w = stepWake(step, s, st, nowMs);
    if (w === 'now' || (typeof w === 'number' && w <= nowMs)) return now;
    if (typeof w === 'number') at(w);
  }
  return waits;
}

/** One step's part of {@link nextWake}: work now, a time, or an outside event. */
function stepWake(step: StepDefinition, s: StepState, st: RunState, nowMs: number): 'now' | 'event' | number {
  const deadline = s.deadlineMs === undefined ? 'event' : s.deadlineMs + 1;
  switch (s.status) {
    case 'pending': {
      const deps = step.dependsOn.concat(step.kind === 'review' ? [step.step] : []);
      if (!deps.every((d) => DONE.includes((st.steps[d] as StepState).status))) return 'event';
      if (s.retryAtMs !== undefined && s.retryAtMs > nowMs) return s.retryAtMs;
      // Held by an intervention (woken when it is lifted) or queued for a resource lease (woken when it frees).
      if (s.pausedReason === 'intervention' || s.blockedOn !== undefined) return 'event';
      if (s.pausedReason === 'breaker' && s.pausedUntilMs !== undefined && s.pausedUntilMs > nowMs)
        return s.pausedUntilMs;
      return 'now';
    }
    case 'running':
      if (s.pausedReason === 'intervention') return 'event';
      // Items waiting for approvals or tasks (outside events) time out with the step.
      if ((step.kind === 'parallel' || step.kind === 'consensus') && s.items)
        return itemsWake(s.items, step.kind === 'parallel' ? step.maxConcurrency : undefined) === 'now'
          ? 'now'
          : deadline;
      return 'now';
    case 'waiting':
      if (s.unknownOutcome) return 'event';
      if (step.kind === 'wait') {
        if (s.wakeAtMs !== undefined) return s.wakeAtMs;
        return deadline;
      }
      if (step.kind === 'workflow' || step.kind === 'action' || step.kind === 'approval') return deadline;
      if (step.kind === 'task' && isWorkerTask(step)) return deadline;
      return 'now';
    default:
      return 'event';
  }
}

/**
 * A running parallel or consensus step: work while an item is pending with room to start, running, or all are done
 * or one failed with none in flight; otherwise its items wait for their approvals or tasks (outside events).
 */
function itemsWake(items: readonly ItemState[], maxConcurrency: number | undefined): 'now' | 'event' {
  const inFlight = items.filter((i) => i.status === 'running' || i.status === 'waiting').length;
  if (items.every((i) => i.status === 'completed')) return 'now';
  if (items.some((i) => i.status === 'failed') && inFlight === 0) return 'now';
  if (items.some((i) => i.status === 'running')) return 'now';
  if (items.some((i) => i.status === 'pending') && inFlight < (maxConcurrency ?? items.length)) return 'now';
  return 'event';
}
