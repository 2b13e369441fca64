import type { Db } from '../../store/db.js';
import type { ItemEvent, WorkflowFailure } from '../history.js';
import type { TaskQueue } from '../task-queue.js';
import { taskIdFor } from '../workflow-task.js';
import type { TaskItem } from './items.js';

/** What worker task items are built from. */
export interface WorkerTaskItemsDeps {
  db: Db;
  tasks: Pick<TaskQueue, 'create' | 'forStep' | 'cancel' | 'agentsOnStep'>;
}

/**
 * Task items without `rule:` (a parallel `do: { kind: task }` or a consensus step): each item is a worker task in the
 * queue, id from (run, step, attempt, item), taken by an agent of the role over REST, MCP or the SDK worker. The
 * item waits (`item_waiting`) and is polled like a worker task step polls its task. Consensus items set
 * `distinctAgents`, so no agent answers two items of the step.
 */
export class WorkerTaskItems {
  constructor(private readonly d: WorkerTaskItemsDeps) {}

  /** Creates the item's task (idempotently: on resume the existing row is answered); excludes busy voters. */
  private async create(t: TaskItem) {
    // A consensus voter that holds or answered another item may not take this one.
    const busy = t.distinctAgents
      ? await this.d.tasks.agentsOnStep({
          runId: t.runId,
          stepId: t.stepId,
          attempt: t.attempt,
          exceptItem: t.index,
        })
      : [];
    const exclude = [...new Set([...t.exclude, ...busy])].sort();
    return this.d.tasks.create({
      runId: t.runId,
      stepId: t.stepId,
      attempt: t.attempt,
      item: t.index,
      role: t.role,
      priority: t.priority,
      input: t.input ?? null,
      ...(exclude.length ? { excludeAgents: exclude } : {}),
      ...(t.distinctAgents ? { distinctAgents: true } : {}),
    });
  }

  /**
   * A started item creates its task and waits; a waiting item answers its task's outcome: `item_completed` with the
   * claiming agent, `item_failed` (retryable as the task's failure says), or nothing while the task is open,
   * claimed or escalated. Past the step's deadline an unfinished task is cancelled and the item fails with `timeout`.
   */
  readonly run = async (t: TaskItem): Promise<ItemEvent[]> => {
    const base = { stepId: t.stepId, attempt: t.attempt, index: t.index };
    if (t.status === 'running') {
      const task = await this.create(t);
      return [{ type: 'item_waiting', ...base, taskId: task.id }];
    }
    const task = await this.d.tasks.forStep(t.runId, t.stepId, t.attempt, t.index);
    // The row is gone: create it again; the id is the same, so nothing is duplicated.
    if (!task) return this.create(t).then(() => []);
    const agent = task.agentId ? { agent: task.agentId } : {};
    const timedOut = t.deadlineMs !== undefined && t.nowMs > t.deadlineMs;
    const timeout: WorkflowFailure = {
      code: 'timeout',
      message: `item ${t.index} of step ${t.stepId} timed out waiting for task ${task.id}`,
      retryable: true,
    };
    switch (task.status) {
      case 'completed':
        return [{ type: 'item_completed', ...base, output: task.output ?? null, ...agent }];
      case 'failed':
        return [
          {
            type: 'item_failed',
            ...base,
            error: task.error ?? { code: 'task_failed', message: `task ${task.id} failed`, retryable: true },
            ...agent,
          },
        ];
      case 'cancelled':
        return [
          {
            type: 'item_failed',
            ...base,
            error: timedOut
              ? timeout
              : { code: 'task_cancelled', message: `task ${task.id} was cancelled`, retryable: false },
            ...agent,
          },
        ];
      default:
        if (!timedOut) return [];
        await this.d.db.tx((tx) => this.d.tasks.cancel(tx, task.id, `run:${t.runId}`));
        return [{ type: 'item_failed', ...base, error: timeout, ...agent }];
    }
  };

  /**
   * Cancels the still unfinished tasks of a step attempt's items (a consensus decided before every voter
   * answered): agents must not work on answers nobody will read. Audited per task; a no-op for finished ones.
   */
  async cancelOpen(p: { runId: string; stepId: string; attempt: number; indexes: readonly number[] }) {
    if (!p.indexes.length) return;
    await this.d.db.tx(async (tx) => {
      for (const index of p.indexes)
        await this.d.tasks.cancel(tx, taskIdFor(p.runId, p.stepId, p.attempt, index), `run:${p.runId}`);
    });
  }
}
