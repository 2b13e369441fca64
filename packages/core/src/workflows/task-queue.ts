import crypto from 'node:crypto';
import type { AuditEvent, AuditLog } from '../audit/audit-log.js';
import { ConflictError, ForbiddenError, NotFoundError, UserError } from '../errors.js';
import type { EventBus } from '../events/event-bus.js';
import type { Agent, AgentRegistry } from '../identity/agents.js';
import { DEFAULT_ACCESS_GROUPS, requireRunManager } from '../identity/access.js';
import type { AccessGroups } from '../identity/access.js';
import type { Human } from '../identity/humans.js';
import type { KillSwitches } from '../intervention/kill-switches.js';
import type { Db, Executor } from '../store/db.js';
import type { WorkflowFailure } from './history.js';
import { wakeRun } from './run-wake.js';
import { taskIdFor, toTask } from './workflow-task.js';
import type { TaskContext, TaskNote, TaskRow, TaskStatus, WorkflowTask } from './workflow-task.js';

/** Limits and lease length of the task queue (`workflows:` in aos.yaml). */
export interface TaskQueueOptions {
  /** Tasks one agent may hold at once. Default 1. */
  maxTasksPerAgent?: number;
  /** How long a claim lasts without a heartbeat. Default 60 s. */
  leaseSec?: number;
  /** Lost leases after which a task fails (retryable per its step's policy). Default 3. */
  maxLostLeases?: number;
  /** Delegation limits: depth of the chain of delegated tasks, and children per task. Defaults 2 and 5. */
  delegation?: { maxDepth?: number; maxFanOut?: number };
}

/** What the task queue is built from. */
export interface TaskQueueDeps {
  db: Db;
  audit: AuditLog;
  agents: AgentRegistry;
  killSwitches?: KillSwitches;
  /** Task events are published here after they commit (live stream, long-poll wake-ups). */
  events?: EventBus;
  /** The configured admins group, whose members decide any escalated task. Default `admins`. */
  groups?: Pick<AccessGroups, 'admins'>;
}

/** What {@link TaskQueue.create} makes: the task of one step attempt (and item). */
export interface CreateTaskParams {
  runId: string;
  stepId: string;
  attempt: number;
  /** Index within the step; default 0. */
  item?: number;
  role: string;
  priority?: number;
  input: unknown;
  context?: TaskContext;
  /** Agents that may not take it (e.g. consensus voters that already answered). */
  excludeAgents?: readonly string[];
  /** No agent may answer two tasks of this step attempt (consensus items); enforced when agents claim. */
  distinctAgents?: boolean;
}

/**
 * A sibling task of `t` (same step attempt, not delegated) that the agent (the parameter) holds or has answered:
 * such an agent may not take `t` when `t.distinct_agents` is set. The claim holds the agent's row lock, so one
 * agent's claims are serialized and the check cannot race with itself.
 */
const SIBLING_TAKEN_SQL = `SELECT 1 FROM workflow_tasks o
  WHERE o.run_id = t.run_id AND o.step_id = t.step_id AND o.attempt = t.attempt AND o.parent_task_id IS NULL
    AND o.id <> t.id AND o.agent_id = ? AND o.status IN ('claimed', 'escalated', 'completed', 'failed')`;

const ACTIVE: readonly TaskStatus[] = ['open', 'claimed', 'escalated'];
const ACTIVE_SQL = `('open', 'claimed', 'escalated')`;

/**
 * The queue of work for agents (`workflow_tasks`). The engine creates a task when a worker `task` step runs and
 * reads its outcome when it polls the step; agents claim, heartbeat, complete, fail, hand off, delegate and
 * escalate tasks over REST, MCP or the SDK worker. Every change and its audit record are one transaction.
 */
export class TaskQueue {
  readonly maxTasksPerAgent: number;
  readonly leaseMs: number;
  readonly maxLostLeases: number;
  readonly maxDepth: number;
  readonly maxFanOut: number;

  constructor(
    private readonly d: TaskQueueDeps,
    options: TaskQueueOptions = {},
  ) {
    this.maxTasksPerAgent = options.maxTasksPerAgent ?? 1;
    this.leaseMs = (options.leaseSec ?? 60) * 1000;
    this.maxLostLeases = options.maxLostLeases ?? 3;
    this.maxDepth = options.delegation?.maxDepth ?? 2;
    this.maxFanOut = options.delegation?.maxFanOut ?? 5;
  }

  private async audit(tx: Executor, events: AuditEvent[]): Promise<void> {
    if (events.length) await this.d.audit.appendMany(tx, events);
  }

  private publish(type: string, t: WorkflowTask): void {
    this.d.events?.publish(
      type,
      { taskId: t.id, runId: t.runId, stepId: t.stepId, role: t.role, status: t.status, agentId: t.agentId },
      `task:${t.id}`,
    );
  }

  /**
   * Wakes the run of a task about to finish, in the transaction that finishes it, before the task row is locked
   * (run rows are locked before task rows by every writer, so this cannot deadlock with the run's own commit).
   */
  private async wakeRunOf(tx: Executor, id: string): Promise<void> {
    const r = await tx.get<{ run_id: string }>('SELECT run_id FROM workflow_tasks WHERE id = ?', [id]);
    if (r) await wakeRun(tx, r.run_id);
  }

  private async row(tx: Executor, id: string, lock = false): Promise<WorkflowTask> {
    const r = await tx.get<TaskRow>(
      `SELECT * FROM workflow_tasks WHERE id = ?${lock ? this.d.db.forUpdate : ''}`,
      [id],
    );
    if (!r) throw new NotFoundError('task', id, 'taskId');
    return toTask(r);
  }

  /** A task by id. */
  async get(id: string): Promise<WorkflowTask> {
    return this.row(this.d.db, id);
  }

  /** The task of a step attempt (not its delegated children), if created. */
  async forStep(runId: string, stepId: string, attempt: number, item = 0): Promise<WorkflowTask | undefined> {
    const r = await this.d.db.get<TaskRow>('SELECT * FROM workflow_tasks WHERE id = ?', [
      taskIdFor(runId, stepId, attempt, item),
    ]);
    return r ? toTask(r) : undefined;
  }

  /** The agents that hold or answered a step attempt's tasks (not delegated ones), but for the task of `exceptItem`. */
  async agentsOnStep(p: {
    runId: string;
    stepId: string;
    attempt: number;
    exceptItem?: number;
  }): Promise<string[]> {
    const rows = await this.d.db.all<{ agent_id: string }>(
      `SELECT DISTINCT agent_id FROM workflow_tasks
       WHERE run_id = ? AND step_id = ? AND attempt = ? AND parent_task_id IS NULL AND item <> ?
         AND agent_id IS NOT NULL AND status IN ('claimed', 'escalated', 'completed', 'failed')
       ORDER BY agent_id`,
      [p.runId, p.stepId, p.attempt, p.exceptItem ?? -1],
    );
    return rows.map((r) => r.agent_id);
  }

  /** Tasks, newest first, optionally of one run, status, role or parent. */
  async list(
    filter: {
      runId?: string;
      status?: TaskStatus;
      role?: string;
      parentTaskId?: string;
      limit?: number;
    } = {},
  ): Promise<WorkflowTask[]> {
    const where: string[] = [];
    const params: (string | number)[] = [];
    const add = (sql: string, v: string | undefined) => {
      if (v === undefined) return;
      where.push(sql);
      params.push(v);
    };
    add('run_id = ?', filter.runId);
    add('status = ?', filter.status);
    add('role = ?', filter.role);
    add('parent_task_id = ?', filter.parentTaskId);
    params.push(Math.min(Math.max(filter.limit ?? 100, 1), 1000));
    const rows = await this.d.db.all<TaskRow>(
      `SELECT * FROM workflow_tasks${where.length ? ` WHERE ${where.join(' AND ')}` : ''}
       ORDER BY created_at DESC, id DESC LIMIT ?`,
      params,
    );
    return rows.map(toTask);
  }

  /**
   * Creates the task of a step attempt, idempotently: the id derives from (run, step, attempt, item), so a node
   * that crashed after the insert and before recording the step as waiting creates nothing new on resume.
   */
  async create(p: CreateTaskParams, tx?: Executor): Promise<WorkflowTask> {
    const item = p.item ?? 0;
    const id = taskIdFor(p.runId, p.stepId, p.attempt, item);
    const work = async (ex: Executor): Promise<{ task: WorkflowTask; created: boolean }> => {
      const now = new Date().toISOString();
      const { changes } = await ex.run(
        `INSERT INTO workflow_tasks (id, run_id, step_id, attempt, item, role, parent_task_id, depth, status, priority,
           input_json, context_json, exclude_agents_json, distinct_agents, agent_id, lease_until, claims, lost_leases,
           output_json, error_json, created_at, updated_at)
         VALUES (?, ?, ?, ?, ?, ?, NULL, 0, 'open', ?, ?, ?, ?, ?, NULL, 0, 0, 0, NULL, NULL, ?, ?)
         ON CONFLICT (id) DO NOTHING`,
        [
          id,
          p.runId,
          p.stepId,
          p.attempt,
          item,
          p.role,
          p.priority ?? 0,
          JSON.stringify(p.input ?? null),
          p.context && Object.keys(p.context).length ? JSON.stringify(p.context) : null,
          p.excludeAgents?.length ? JSON.stringify([...p.excludeAgents]) : null,
          p.distinctAgents ? 1 : 0,
          now,
          now,
        ],
      );
      const task = await this.row(ex, id);
      if (changes)
        await this.audit(ex, [
          {
            actor: `run:${p.runId}`,
            type: 'task.created',
            subject: `task:${id}`,
            payload: { runId: p.runId, stepId: p.stepId, attempt: p.attempt, item, role: p.role },
          },
        ]);
      return { task, created: changes > 0 };
    };
    const { task, created } = tx ? await work(tx) : await this.d.db.tx(work);
    if (created) this.publish('task.created', task);
    return task;
  }

  /** Refuses an agent that is not active or is stopped by a kill switch. */
  private async checkAgent(tx: Executor, agent: Agent): Promise<Agent> {
    const fresh = await tx.get<{ status: string; role: string }>(
      `SELECT status, role FROM agents WHERE id = ?${this.d.db.forUpdate}`,
      [agent.id],
    );
    if (!fresh || fresh.status !== 'active')
      throw new ForbiddenError(
        `agent ${agent.id} is ${fresh?.status ?? 'unknown'}; only active agents take work`,
      );
    const sw = await this.d.killSwitches?.engagedFor(tx, { id: agent.id, role: fresh.role });
    if (sw) throw new ForbiddenError(`agent ${agent.id} is stopped by the kill switch ${sw.scope}`);
    return { ...agent, role: fresh.role };
  }

  /**
   * Gives the agent the highest-priority, oldest open task of its role that it may take (tasks made in the same
   * millisecond in their order: a step's items, a parent's children), leased for `leaseMs`; none
   * when there is no such task or the agent already holds `maxTasksPerAgent` tasks. On PostgreSQL rows another
   * node is claiming are skipped (`FOR UPDATE SKIP LOCKED`).
   */
  async claim(agent: Agent, nowMs = Date.now()): Promise<WorkflowTask | undefined> {
    await this.expireLeases(nowMs);
    const task = await this.d.db.tx(async (tx) => {
      // Locking the agent row serializes one agent's concurrent claims, so the per-agent limit holds.
      const a = await this.checkAgent(tx, agent);
      const held = await tx.get<{ n: number | string }>(
        "SELECT COUNT(*) AS n FROM workflow_tasks WHERE agent_id = ? AND status = 'claimed'",
        [a.id],
      );
      if (Number(held?.n ?? 0) >= this.maxTasksPerAgent) return undefined;
      const row = await tx.get<TaskRow>(
        `SELECT * FROM workflow_tasks t
         WHERE status = 'open' AND role = ? AND (agent_id IS NULL OR agent_id = ?)
           AND (exclude_agents_json IS NULL OR exclude_agents_json NOT LIKE ?)
           AND (distinct_agents = 0 OR NOT EXISTS (${SIBLING_TAKEN_SQL}))
         ORDER BY priority DESC, created_at, item, id LIMIT 1${this.d.db.skipLocked}`,
        [a.role, a.id, `%${JSON.stringify(a.id)}%`, a.id],
      );
      if (!row) return undefined;
      const now = new Date(nowMs).toISOString();
      await tx.run(
        `UPDATE workflow_tasks SET status = 'claimed', agent_id = ?, lease_until = ?, claims = claims + 1,
           updated_at = ? WHERE id = ?`,
        [a.id, nowMs + this.leaseMs, now, row.id],
      );
      await this.audit(tx, [
        {
          actor: `agent:${a.id}`,
          type: 'task.claimed',
          subject: `task:${row.id}`,
          payload: { runId: row.run_id, stepId: row.step_id, role: row.role, claim: Number(row.claims) + 1 },
        },
      ]);
      return this.row(tx, row.id);
    });
    if (task) this.publish('task.claimed', task);
    return task;
  }

  /** Loads a task for a change by the agent that claimed it; 409 when it does not hold the lease. */
  private async held(tx: Executor, agent: Agent, id: string, nowMs: number): Promise<WorkflowTask> {
    const t = await this.row(tx, id, true);
    if (t.agentId !== agent.id || t.status !== 'claimed')
      throw new ConflictError(`task ${id} is not claimed by ${agent.id}`, { field: 'taskId' });
    if (t.leaseUntil < nowMs)
      throw new ConflictError(`the lease of ${agent.id} on task ${id} has run out`, { field: 'taskId' });
    return t;
  }

  /** Whether the agent is kept off the task: in its `excludeAgents`, or holding or having answered a sibling. */
  private async mayNotTake(tx: Executor, task: WorkflowTask, agentId: string): Promise<boolean> {
    if (task.excludeAgents.includes(agentId)) return true;
    if (!task.distinctAgents) return false;
    const r = await tx.get(
      `SELECT 1 AS taken FROM workflow_tasks t WHERE t.id = ? AND EXISTS (${SIBLING_TAKEN_SQL})`,
      [task.id, agentId],
    );
    return r !== undefined;
  }

  /** Extends the claim's lease; answers the task with its new `leaseUntil`. */
  async heartbeat(agent: Agent, id: string, nowMs = Date.now()): Promise<WorkflowTask> {
    return this.d.db.tx(async (tx) => {
      await this.held(tx, agent, id, nowMs);
      await tx.run('UPDATE workflow_tasks SET lease_until = ?, updated_at = ? WHERE id = ?', [
        nowMs + this.leaseMs,
        new Date(nowMs).toISOString(),
        id,
      ]);
      return this.row(tx, id);
    });
  }

  private async finish(
    tx: Executor,
    t: WorkflowTask,
    patch: { status: TaskStatus; output?: unknown; error?: WorkflowFailure; context?: TaskContext },
    audit: AuditEvent,
  ): Promise<WorkflowTask> {
    await tx.run(
      `UPDATE workflow_tasks SET status = ?, output_json = ?, error_json = ?, context_json = ?, lease_until = 0,
         updated_at = ? WHERE id = ?`,
      [
        patch.status,
        patch.output === undefined ? null : JSON.stringify(patch.output),
        patch.error ? JSON.stringify(patch.error) : null,
        JSON.stringify(patch.context ?? t.context),
        new Date().toISOString(),
        t.id,
      ],
    );
    await this.audit(tx, [audit]);
    return this.row(tx, t.id);
  }

  private async openChildren(tx: Executor, id: string): Promise<number> {
    const r = await tx.get<{ n: number | string }>(
      `SELECT COUNT(*) AS n FROM workflow_tasks WHERE parent_task_id = ? AND status IN ${ACTIVE_SQL}`,
      [id],
    );
    return Number(r?.n ?? 0);
  }

  /** Completes a task the agent holds with its output; 409 while tasks it delegated are still open. */
  async complete(agent: Agent, id: string, output: unknown, nowMs = Date.now()): Promise<WorkflowTask> {
    const t = await this.d.db.tx(async (tx) => {
      await this.wakeRunOf(tx, id);
      const task = await this.held(tx, agent, id, nowMs);
      const open = await this.openChildren(tx, id);
      if (open)
        throw new ConflictError(`task ${id} has ${open} delegated task(s) still open`, { field: 'taskId' });
      return this.finish(
        tx,
        task,
        { status: 'completed', output: output ?? null },
        {
          actor: `agent:${agent.id}`,
          type: 'task.completed',
          subject: `task:${id}`,
          payload: { runId: task.runId, stepId: task.stepId },
        },
      );
    });
    this.publish('task.completed', t);
    return t;
  }

  /**
   * Fails a task the agent holds. `retryable` (default true) lets the step try again per its retry policy;
   * `escalate` hands it to a human (the workflow owner or an admin) instead.
   */
  async fail(
    agent: Agent,
    id: string,
    p: { message: string; retryable?: boolean; escalate?: boolean },
    nowMs = Date.now(),
  ): Promise<WorkflowTask> {
    if (typeof p.message !== 'string' || !p.message.trim())
      throw new UserError('is required', { field: 'message' });
    const t = await this.d.db.tx(async (tx) => {
      await this.wakeRunOf(tx, id);
      const task = await this.held(tx, agent, id, nowMs);
      if (p.escalate) {
        const note: TaskNote = {
          kind: 'escalation',
          from: `agent:${agent.id}`,
          note: p.message,
          at: new Date(nowMs).toISOString(),
        };
        return this.finish(
          tx,
          task,
          { status: 'escalated', context: { ...task.context, notes: [...(task.context.notes ?? []), note] } },
          {
            actor: `agent:${agent.id}`,
            type: 'task.escalated',
            subject: `task:${id}`,
            payload: { runId: task.runId, stepId: task.stepId, note: p.message },
          },
        );
      }
      const error: WorkflowFailure = {
        code: 'task_failed',
        message: p.message,
        retryable: p.retryable ?? true,
      };
      return this.finish(
        tx,
        task,
        { status: 'failed', error },
        {
          actor: `agent:${agent.id}`,
          type: 'task.failed',
          subject: `task:${id}`,
          payload: { runId: task.runId, stepId: task.stepId, error },
        },
      );
    });
    this.publish(t.status === 'escalated' ? 'task.escalated' : 'task.failed', t);
    return t;
  }

  /**
   * Gives a claimed task back to the queue for another role or a named agent, with a context note the receiver
   * sees in `context.notes`.
   */
  async handoff(
    agent: Agent,
    id: string,
    p: { toRole?: string; toAgent?: string; note: string },
    nowMs = Date.now(),
  ): Promise<WorkflowTask> {
    if ((p.toRole === undefined) === (p.toAgent === undefined))
      throw new UserError('give exactly one of toRole and toAgent', { field: 'toRole' });
    if (typeof p.note !== 'string' || !p.note.trim())
      throw new UserError('is required', { field: 'context' });
    let role: string;
    if (p.toAgent !== undefined) {
      const target = await this.d.agents.get(p.toAgent);
      if (!target || target.status !== 'active')
        throw new UserError(`no active agent '${p.toAgent}'`, { field: 'toAgent' });
      role = target.role;
    } else {
      role = p.toRole as string;
      if ((await this.d.agents.countActive(role)) === 0)
        throw new UserError(`no active agent has role '${role}'`, { field: 'toRole' });
    }
    const t = await this.d.db.tx(async (tx) => {
      const task = await this.held(tx, agent, id, nowMs);
      // Handed to an agent that may not claim it, the task would wait forever.
      if (p.toAgent !== undefined && (await this.mayNotTake(tx, task, p.toAgent)))
        throw new UserError(
          `agent '${p.toAgent}' may not take task ${id} (excluded, or answers another item)`,
          {
            field: 'toAgent',
          },
        );
      const note: TaskNote = {
        kind: 'handoff',
        from: `agent:${agent.id}`,
        note: p.note,
        at: new Date(nowMs).toISOString(),
        ...(p.toRole !== undefined ? { toRole: p.toRole } : {}),
        ...(p.toAgent !== undefined ? { toAgent: p.toAgent } : {}),
      };
      const context = { ...task.context, notes: [...(task.context.notes ?? []), note] };
      await tx.run(
        `UPDATE workflow_tasks SET status = 'open', role = ?, agent_id = ?, lease_until = 0, context_json = ?,
           updated_at = ? WHERE id = ?`,
        [role, p.toAgent ?? null, JSON.stringify(context), new Date(nowMs).toISOString(), id],
      );
      await this.audit(tx, [
        {
          actor: `agent:${agent.id}`,
          type: 'task.handed_off',
          subject: `task:${id}`,
          payload: { runId: task.runId, stepId: task.stepId, toRole: role, toAgent: p.toAgent ?? null },
        },
      ]);
      return this.row(tx, id);
    });
    this.publish('task.handed_off', t);
    return t;
  }

  /**
   * Hierarchical delegation: the agent holding `parentId` creates a child task for another role in the same run.
   * Refused past `maxDepth` or `maxFanOut`, or when the agent is paused or stopped by a kill switch. The parent
   * cannot complete while the child is open.
   */
  async delegate(
    agent: Agent,
    parentId: string,
    p: { role: string; input: unknown },
    nowMs = Date.now(),
  ): Promise<WorkflowTask> {
    if (typeof p.role !== 'string' || !p.role) throw new UserError('is required', { field: 'role' });
    if ((await this.d.agents.countActive(p.role)) === 0)
      throw new UserError(`no active agent has role '${p.role}'`, { field: 'role' });
    const t = await this.d.db.tx(async (tx) => {
      await this.checkAgent(tx, agent);
      const parent = await this.held(tx, agent, parentId, nowMs);
      if (parent.depth + 1 > this.maxDepth)
        throw new UserError(`delegation depth ${parent.depth + 1} is over the limit ${this.maxDepth}`, {
          field: 'taskId',
        });
      const n = await tx.get<{ n: number | string }>(
        'SELECT COUNT(*) AS n FROM workflow_tasks WHERE parent_task_id = ?',
        [parentId],
      );
      const children = Number(n?.n ?? 0);
      if (children + 1 > this.maxFanOut)
        throw new UserError(
          `task ${parentId} already delegated ${children} task(s); the limit is ${this.maxFanOut}`,
          {
            field: 'taskId',
          },
        );
      const id = `task_${crypto.randomBytes(16).toString('hex')}`;
      const now = new Date(nowMs).toISOString();
      await tx.run(
        `INSERT INTO workflow_tasks (id, run_id, step_id, attempt, item, role, parent_task_id, depth, status, priority,
           input_json, context_json, exclude_agents_json, agent_id, lease_until, claims, lost_leases, output_json,
           error_json, created_at, updated_at)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, 'open', ?, ?, NULL, NULL, NULL, 0, 0, 0, NULL, NULL, ?, ?)`,
        [
          id,
          parent.runId,
          parent.stepId,
          parent.attempt,
          children,
          p.role,
          parentId,
          parent.depth + 1,
          parent.priority,
          JSON.stringify(p.input ?? null),
          now,
          now,
        ],
      );
      await this.audit(tx, [
        {
          actor: `agent:${agent.id}`,
          type: 'task.delegated',
          subject: `task:${id}`,
          payload: { runId: parent.runId, parentTaskId: parentId, role: p.role, depth: parent.depth + 1 },
        },
      ]);
      return this.row(tx, id);
    });
    this.publish('task.created', t);
    return t;
  }

  /** A human's answer to an escalated task: `resolve` completes it with `output`, `reject` fails it for good. */
  async decide(
    human: Human,
    id: string,
    p: { decision: 'resolve'; output: unknown } | { decision: 'reject'; message: string },
  ): Promise<WorkflowTask> {
    if (p.decision === 'reject' && (typeof p.message !== 'string' || !p.message.trim()))
      throw new UserError('is required', { field: 'message' });
    const t = await this.d.db.tx(async (tx) => {
      await this.wakeRunOf(tx, id);
      const task = await this.row(tx, id, true);
      const run = await tx.get<{ owner: string }>('SELECT owner FROM workflow_runs WHERE id = ?', [
        task.runId,
      ]);
      if (!run) throw new NotFoundError('run', task.runId, 'run');
      requireRunManager(human, run, this.d.groups ?? DEFAULT_ACCESS_GROUPS, `deciding task ${id}`);
      if (task.status !== 'escalated')
        throw new ConflictError(`task ${id} is ${task.status}, not escalated`, { field: 'taskId' });
      const actor = `human:${human.id}`;
      if (p.decision === 'resolve')
        return this.finish(
          tx,
          task,
          { status: 'completed', output: p.output ?? null },
          {
            actor,
            type: 'task.resolved',
            subject: `task:${id}`,
            payload: { runId: task.runId, stepId: task.stepId },
          },
        );
      const error: WorkflowFailure = { code: 'task_rejected', message: p.message, retryable: false };
      return this.finish(
        tx,
        task,
        { status: 'failed', error },
        {
          actor,
          type: 'task.rejected',
          subject: `task:${id}`,
          payload: { runId: task.runId, stepId: task.stepId, message: p.message },
        },
      );
    });
    this.publish(p.decision === 'resolve' ? 'task.completed' : 'task.failed', t);
    return t;
  }

  /**
   * Puts claimed tasks whose lease ran out back in the queue (`task.lease_expired`); a task that lost its lease
   * `maxLostLeases` times fails, retryable per its step's policy. Answers how many it changed.
   */
  async expireLeases(nowMs = Date.now()): Promise<number> {
    const changed = await this.d.db.tx(async (tx) => {
      // The runs first (the lock order every writer keeps: run, then its tasks): a task given back or failed wakes
      // its run.
      const runs = await tx.all<{ run_id: string }>(
        "SELECT DISTINCT run_id FROM workflow_tasks WHERE status = 'claimed' AND lease_until < ? LIMIT 100",
        [nowMs],
      );
      for (const r of runs) await wakeRun(tx, r.run_id);
      const rows = await tx.all<TaskRow>(
        `SELECT * FROM workflow_tasks WHERE status = 'claimed' AND lease_until < ? ORDER BY id LIMIT 100${this.d.db.skipLocked}`,
        [nowMs],
      );
      const out: WorkflowTask[] = [];
      const now = new Date(nowMs).toISOString();
      for (const r of rows) {
        const lost = Number(r.lost_leases) + 1;
        if (lost >= this.maxLostLeases) {
          const error: WorkflowFailure = {
            code: 'task_lease_lost',
            message: `task ${r.id} lost its lease ${lost} times`,
            retryable: true,
          };
          await tx.run(
            `UPDATE workflow_tasks SET status = 'failed', lost_leases = ?, lease_until = 0, error_json = ?,
               updated_at = ? WHERE id = ?`,
            [lost, JSON.stringify(error), now, r.id],
          );
          await this.audit(tx, [
            {
              actor: 'system:tasks',
              type: 'task.failed',
              subject: `task:${r.id}`,
              payload: { runId: r.run_id, stepId: r.step_id, agentId: r.agent_id, error },
            },
          ]);
        } else {
          await tx.run(
            `UPDATE workflow_tasks SET status = 'open', agent_id = NULL, lost_leases = ?, lease_until = 0,
               updated_at = ? WHERE id = ?`,
            [lost, now, r.id],
          );
          await this.audit(tx, [
            {
              actor: 'system:tasks',
              type: 'task.lease_expired',
              subject: `task:${r.id}`,
              payload: { runId: r.run_id, stepId: r.step_id, agentId: r.agent_id, lostLeases: lost },
            },
          ]);
        }
        out.push(await this.row(tx, r.id));
      }
      return out;
    });
    for (const t of changed) this.publish(t.status === 'failed' ? 'task.failed' : 'task.lease_expired', t);
    return changed.length;
  }

  /** Cancels a run's unfinished tasks (run cancelled or failed), in the caller's transaction; audited. */
  async cancelForRun(tx: Executor, runId: string, actor: string): Promise<number> {
    const rows = await tx.all<{ id: string; step_id: string }>(
      `SELECT id, step_id FROM workflow_tasks WHERE run_id = ? AND status IN ${ACTIVE_SQL}`,
      [runId],
    );
    if (!rows.length) return 0;
    await tx.run(
      `UPDATE workflow_tasks SET status = 'cancelled', lease_until = 0, updated_at = ?
       WHERE run_id = ? AND status IN ${ACTIVE_SQL}`,
      [new Date().toISOString(), runId],
    );
    await this.audit(
      tx,
      rows.map((r) => ({
        actor,
        type: 'task.cancelled',
        subject: `task:${r.id}`,
        payload: { runId, stepId: r.step_id },
      })),
    );
    return rows.length;
  }

  /** Cancels one unfinished step task (the step timed out), in the caller's transaction; audited. */
  async cancel(tx: Executor, id: string, actor: string): Promise<void> {
    const { changes } = await tx.run(
      `UPDATE workflow_tasks SET status = 'cancelled', lease_until = 0, updated_at = ?
       WHERE (id = ? OR parent_task_id = ?) AND status IN ${ACTIVE_SQL}`,
      [new Date().toISOString(), id, id],
    );
    if (changes)
      await this.audit(tx, [{ actor, type: 'task.cancelled', subject: `task:${id}`, payload: {} }]);
  }

  /** Whether a task is still to be done. */
  static isActive(t: Pick<WorkflowTask, 'status'>): boolean {
    return ACTIVE.includes(t.status);
  }
}
