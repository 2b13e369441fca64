import type { Agent, AgentRegistry } from '../identity/agents.js';
import type { ActionService } from '../pipeline/action-service.js';
import type { WorkflowDefinition } from './definition.js';
import { replay } from './history.js';
import type { RecordedEvent, RunStatus, WorkflowEvent } from './history.js';
import { nextWork } from './next-work.js';
import type { NextWorkDeps, StepEffects } from './next-work.js';
import { StepRunner } from './step-runner.js';
import type { RuleHandler } from './step-runner.js';

/** A run's recorded history as committed under `examples/<org>/histories/` and replayed in CI. */
export interface RecordedRun {
  /** What the run shows (e.g. `approval`, `compensated`). */
  name: string;
  runId: string;
  /** The definition pinned on the run. */
  workflow: WorkflowDefinition;
  input: unknown;
  status: RunStatus;
  events: RecordedEvent[];
}

/** The engine decided something other than what the history records: the code or definition is nondeterministic. */
export class NondeterminismError extends Error {
  readonly code = 'nondeterminism';
  constructor(
    readonly runId: string,
    readonly seq: number,
    readonly recorded: string,
    readonly decided: string,
  ) {
    super(`run ${runId}, seq ${seq}: history records ${recorded} but the engine decides ${decided}`);
    this.name = new.target.name;
  }
}

/**
 * Inputs from outside the engine: humans' votes, cancels, retries, pauses, signals and decisions on unknown outcomes,
 * the run's start, and what the step gates observed of the world (the shared context, a lease another run held, an
 * open circuit breaker, an escalation deadline passed, an action flagged `unknown_outcome` by crash recovery).
 */
const EXTERNAL = new Set<WorkflowEvent['type']>([
  'run_started',
  'approval_vote',
  'cancel_requested',
  'run_retried',
  'run_paused',
  'run_resumed',
  'outcome_resolved',
  'signal_received',
  'context_observed',
  'step_blocked',
  'step_paused',
  'step_escalated',
]);

const unsupported = (what: string) => (): never => {
  throw new Error(`the history replayer does not check ${what} steps yet`);
};

/**
 * The parts of a decision the replayer takes from the history rather than from the world: no signal, context
 * change, lease or breaker is looked up (their events are inputs, above), and step kinds whose effects it cannot
 * answer from the history yet refuse loudly rather than pass.
 */
const REPLAY_DEPS: Omit<NextWorkDeps, 'steps' | 'approvalSteps'> = {
  signals: { unrecorded: async () => [] },
  gates: {
    escalation: () => undefined,
    observeContext: async () => ({ events: [] }),
    beforeStart: async () => ({ start: {} }),
  },
  items: {
    parallel: unsupported('parallel'),
    consensus: unsupported('consensus'),
    itemsToCompensate: () => [],
    compensateItem: unsupported('parallel'),
  },
  subRuns: {
    start: unsupported('workflow'),
    poll: unsupported('workflow'),
    cancelChildren: async () => [],
  },
  workerSteps: { start: unsupported('worker task'), poll: unsupported('worker task') },
};

/** JSON with sorted keys, and clock readings reduced to whether they are there (the clock is an input). */
function canonical(e: WorkflowEvent | undefined): string {
  if (!e) return 'nothing (the run would wait)';
  const { seq: _seq, at: _at, ...rest } = e as RecordedEvent;
  const norm = (v: unknown, key?: string): unknown => {
    if (key === 'deadlineMs' || key === 'retryAtMs') return v === undefined ? undefined : '<time>';
    if (Array.isArray(v)) return v.map((x) => norm(x));
    if (v && typeof v === 'object')
      return Object.fromEntries(
        Object.keys(v)
          .sort()
          .map((k) => [k, norm((v as Record<string, unknown>)[k], k)]),
      );
    return v;
  };
  return JSON.stringify(norm(rest));
}

/** The agents of a replay: routing is an input (which agent was free), so each role answers one stand-in agent. */
function replayAgents(): AgentRegistry {
  const agent = (role: string): Agent => ({
    id: `${role}-replay`,
    displayName: `${role}-replay`,
    role,
    tier: 0,
    owner: 'replay',
    environments: [],
    status: 'active',
    createdAt: '1970-01-01T00:00:00.000Z',
    updatedAt: '1970-01-01T00:00:00.000Z',
  });
  return {
    list: async (f: { role?: string } = {}) => [agent(f.role ?? 'replay')],
    countActive: async () => 1,
    require: async (id: string) => agent(id),
  } as unknown as AgentRegistry;
}

/**
 * Replays a recorded run and checks, at every event the engine decided, that the engine decides the same thing
 * from the history before it: step starts and skips, rule tasks' outputs, review verdicts, approvals asked,
 * compensation order, completion and the end of the run. Effects are not performed: action outcomes, votes, cancels
 * and agent routing are inputs taken from the history (as Temporal's replayer takes activity results). Throws
 * {@link NondeterminismError} naming the run, the seq and both events at the first difference.
 *
 * @example
 * await checkDeterminism(JSON.parse(fs.readFileSync('examples/invoices/histories/approval.json', 'utf8')), rules);
 */
export async function checkDeterminism(
  run: Pick<RecordedRun, 'runId' | 'workflow' | 'events'>,
  rules: Record<string, RuleHandler>,
): Promise<void> {
  const def = run.workflow;
  const events = run.events;
  const real = new StepRunner({
    agents: replayAgents(),
    actions: undefined as unknown as ActionService, // never called: action outcomes come from the history
    rules: new Map(Object.entries(rules)),
    crash: () => undefined,
  });
  for (let i = 0; i < events.length; i++) {
    const e = events[i] as RecordedEvent;
    const prev = events[i - 1];
    if (EXTERNAL.has(e.type)) continue;
    // A vote's outcome is committed with the vote (WorkflowEngine.decide), not decided by the engine's next step.
    if (
      prev?.type === 'approval_vote' &&
      (e.type === 'step_completed' || e.type === 'step_failed') &&
      e.stepId === prev.stepId
    )
      continue;
    // Likewise what a decision on an unknown outcome means for its step (WorkflowEngine.resolveOutcome).
    if (prev?.type === 'outcome_resolved' && 'stepId' in e && e.stepId === prev.stepId) continue;
    let wanted: string | undefined;
    const recordedFor = (stepId: string, types: WorkflowEvent['type'][], what: string): WorkflowEvent[] => {
      if ('stepId' in e && e.stepId === stepId && types.includes(e.type)) return [e];
      wanted = `${what} of step ${stepId}`;
      return [];
    };
    const effects: StepEffects = {
      shouldRun: (step, stepId, st) => real.shouldRun(step, stepId, st),
      task: (p) => real.task(p),
      review: (p) => real.review(p),
      action: async (p) =>
        recordedFor(p.stepId, ['step_completed', 'step_failed', 'step_waiting'], 'the action'),
      // A poll that finds nothing new lets later steps go: only a recorded outcome counts.
      pollAction: async (p) =>
        'stepId' in e && e.stepId === p.stepId && ['step_completed', 'step_failed'].includes(e.type)
          ? [e]
          : [],
      compensate: async (p) => recordedFor(p.stepId, ['compensation_done'], 'the compensation'),
    };
    // An approval step's decision is read from its request, an input like an action's outcome.
    const approvalSteps: NextWorkDeps['approvalSteps'] = {
      poll: async (p) =>
        'stepId' in e && e.stepId === p.stepId && ['step_completed', 'step_failed'].includes(e.type)
          ? [e]
          : [],
    };
    const st = replay(def, events.slice(0, i));
    const decided = await nextWork(
      { ...REPLAY_DEPS, steps: effects, approvalSteps },
      { runId: run.runId, def, st, nowMs: Date.parse(e.at) },
    );
    const got = decided[0] ? canonical(decided[0]) : (wanted ?? canonical(undefined));
    if (got !== canonical(e)) throw new NondeterminismError(run.runId, e.seq, canonical(e), got);
  }
}
