import { compileExpression } from './expressions.js';
import { UserError } from '../errors.js';
import type { Db } from '../store/db.js';
import type { StepDefinition, WorkflowDefinition } from './definition.js';
import { expressionScope } from './history.js';
import type { RunState, StepState, WorkflowEvent, WorkflowFailure } from './history.js';
import { failStep } from './step-runner.js';
import type { TaskQueue } from './task-queue.js';

type TaskStep = Extract<StepDefinition, { kind: 'task' }>;

/** What a worker task step is given by the engine on each decision. */
export interface WorkerStepParams {
  runId: string;
  def: WorkflowDefinition;
  stepId: string;
  st: RunState;
  nowMs: number;
}

/** Whether a task step is worker work (no in-process `rule:`): taken from the task queue by an agent. */
export function isWorkerTask(step: StepDefinition): step is TaskStep {
  return step.kind === 'task' && step.rule === undefined;
}

/**
 * A `task` step without `rule:`: the engine puts a task in the queue (idempotently, by run, step, attempt and
 * item) and waits; an agent of the step's role takes it over REST, MCP or the SDK worker; the engine polls the task
 * and records the step's completion or failure (a retryable failure makes a new attempt, hence a new task).
 */
export class WorkerTaskStep {
  constructor(
    private readonly db: Db,
    private readonly tasks: TaskQueue,
  ) {}

  private async input(step: TaskStep, p: WorkerStepParams): Promise<unknown> {
    const scope = expressionScope(p.st);
    if (!step.input) return scope.input;
    try {
      return (await compileExpression(step.input).evaluate(scope)) as unknown;
    } catch (err) {
      throw new UserError(`expression failed: ${(err as Error).message}`, {
        field: `steps.${p.stepId}.input`,
      });
    }
  }

  /** Creates the attempt's task (a rerun after a rejected review carries the critique) and marks the step waiting. */
  async start(p: WorkerStepParams): Promise<WorkflowEvent[]> {
    const step = p.def.steps[p.stepId] as TaskStep;
    const s = p.st.steps[p.stepId] as StepState;
    let input: unknown;
    try {
      input = await this.input(step, p);
    } catch (err) {
      if (!(err instanceof UserError)) throw err;
      return [
        failStep(step, p.stepId, s, { code: err.code, message: err.message, retryable: false }, p.nowMs),
      ];
    }
    await this.tasks.create({
      runId: p.runId,
      stepId: p.stepId,
      attempt: s.attempt,
      role: step.role,
      priority: p.def.priority ?? 0,
      input: input ?? null,
      ...(s.critique !== undefined ? { context: { critique: s.critique } } : {}),
    });
    return [{ type: 'step_waiting', stepId: p.stepId, attempt: s.attempt }];
  }

  /** Maps the waiting step's task to its events: none while an agent or a human still has it. */
  async poll(p: WorkerStepParams): Promise<WorkflowEvent[]> {
    const step = p.def.steps[p.stepId] as TaskStep;
    const s = p.st.steps[p.stepId] as StepState;
    const task = await this.tasks.forStep(p.runId, p.stepId, s.attempt);
    // Never created (the row is gone): create it again; the id is the same, so nothing is duplicated.
    if (!task) return this.start(p).then(() => []);
    const timedOut = s.deadlineMs !== undefined && p.nowMs > s.deadlineMs;
    const fail = (error: WorkflowFailure) => [failStep(step, p.stepId, s, error, p.nowMs)];
    const timeout: WorkflowFailure = {
      code: 'timeout',
      message: `task step ${p.stepId} timed out waiting for task ${task.id}`,
      retryable: true,
    };
    switch (task.status) {
      case 'completed':
        return [
          { type: 'step_completed', stepId: p.stepId, attempt: s.attempt, output: task.output ?? null },
        ];
      case 'failed':
        return fail(
          task.error ?? { code: 'task_failed', message: `task ${task.id} failed`, retryable: true },
        );
      case 'cancelled':
        return fail(
          timedOut
            ? timeout
            : { code: 'task_cancelled', message: `task ${task.id} was cancelled`, retryable: false },
        );
      default:
        if (!timedOut) return [];
        await this.db.tx((tx) => this.tasks.cancel(tx, task.id, `run:${p.runId}`));
        return fail(timeout);
    }
  }
}
