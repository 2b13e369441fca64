import type { FastifyInstance, FastifyRequest, preHandlerAsyncHookHandler } from 'fastify';
import { z } from 'zod';
import { ForbiddenError, parseInput } from '@autonomy-os/core';
import type { Agent, Engine, TaskStatus, WorkflowTask } from '@autonomy-os/core';
import { principalOf, requireAgent, requireHuman } from '../auth.js';

const TASK_STATUSES = ['open', 'claimed', 'escalated', 'completed', 'failed', 'cancelled'] as const;

const nextBody = z.object({ waitSec: z.number().int().min(0).max(30).default(0) }).strict();
const completeBody = z.object({ output: z.unknown().optional() }).strict();
const failBody = z
  .object({
    message: z.string().min(1, 'is required').max(4000),
    retryable: z.boolean().optional(),
    escalate: z.boolean().optional(),
  })
  .strict();
const delegateBody = z
  .object({ role: z.string().min(1, 'is required').max(100), input: z.unknown().optional() })
  .strict();
const handoffBody = z
  .object({
    toRole: z.string().min(1).max(100).optional(),
    toAgent: z.string().min(1).max(100).optional(),
    context: z.string().min(1, 'is required').max(4000),
  })
  .strict();
const resolveBody = z.object({ output: z.unknown().optional() }).strict();
const rejectBody = z.object({ message: z.string().min(1, 'is required').max(4000) }).strict();
/** The query string of `GET /v1/tasks` (also published in the OpenAPI document). */
export const taskListQuery = z
  .object({
    run: z.string().min(1).optional(),
    status: z.enum(TASK_STATUSES).optional(),
    role: z.string().min(1).optional(),
    limit: z.coerce.number().int().min(1).max(1000).optional(),
  })
  .strict();

/** The request bodies of the task routes (also published in the OpenAPI document). */
export const taskBodies = {
  next: nextBody,
  heartbeat: z.object({}).strict(),
  complete: completeBody,
  fail: failBody,
  delegate: delegateBody,
  handoff: handoffBody,
  resolve: resolveBody,
  reject: rejectBody,
};

/** Events after which an open task may be there for the taking: a long-poll looks again at once. */
const WAKE = new Set(['task.created', 'task.handed_off', 'task.lease_expired']);
const POLL_MS = 250;

/**
 * Waits up to `waitSec` for a task of the agent's role: claims at once, then again on each task event or every
 * 250 ms, never holding a transaction while it waits. Stops early when the client goes away.
 */
export async function longPollClaim(
  engine: Engine,
  agent: Agent,
  waitSec: number,
  gone: () => boolean = () => false,
): Promise<WorkflowTask | undefined> {
  const until = Date.now() + waitSec * 1000;
  let wake: (() => void) | undefined;
  const unsubscribe = engine.events.subscribe((e) => {
    if (WAKE.has(e.type)) wake?.();
  });
  try {
    // Bounded: at most waitSec * 4 + 1 rounds.
    for (let round = 0; round <= waitSec * 4 + 1; round++) {
      const task = await engine.workflows.tasks.claim(agent);
      if (task) return task;
      const left = until - Date.now();
      if (left <= 0 || gone()) return undefined;
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, Math.min(POLL_MS, left));
        wake = () => {
          clearTimeout(t);
          resolve();
        };
      });
      wake = undefined;
    }
    return undefined;
  } finally {
    unsubscribe();
  }
}

/** The task as the API shows it, with the lease length a worker paces its heartbeats by. */
export function taskView(engine: Engine, t: WorkflowTask): WorkflowTask & { leaseMs: number } {
  return { ...t, leaseMs: engine.workflows.tasks.leaseMs };
}

/** Whether the caller may read a task: a human, its claiming agent, or the agent holding the task it was delegated by. */
async function mayRead(engine: Engine, req: FastifyRequest, t: WorkflowTask): Promise<boolean> {
  const p = principalOf(req);
  if (p.kind === 'human') return true;
  if (t.agentId === p.agent.id) return true;
  if (!t.parentTaskId) return false;
  const parent = await engine.workflows.tasks.get(t.parentTaskId);
  return parent.agentId === p.agent.id;
}

/**
 * `/v1/tasks`: agents take work (long-poll `next`, heartbeat, complete, fail, delegate, hand off); humans list
 * tasks and resolve or reject escalated ones.
 */
export function registerTaskRoutes(
  app: FastifyInstance,
  engine: Engine,
  authenticate: preHandlerAsyncHookHandler,
): void {
  const tasks = engine.workflows.tasks;
  const idOf = (req: FastifyRequest) => (req.params as { id: string }).id;

  app.post('/v1/tasks/next', { preHandler: authenticate }, async (req, reply) => {
    const agent = requireAgent(req);
    const { waitSec } = parseInput(nextBody, req.body ?? {});
    const task = await longPollClaim(engine, agent, waitSec, () => req.raw.socket?.destroyed === true);
    if (!task) return reply.code(204).send();
    return taskView(engine, task);
  });

  app.post('/v1/tasks/:id/heartbeat', { preHandler: authenticate }, async (req) => {
    const agent = requireAgent(req);
    parseInput(taskBodies.heartbeat, req.body ?? {});
    return taskView(engine, await tasks.heartbeat(agent, idOf(req)));
  });

  app.post('/v1/tasks/:id/complete', { preHandler: authenticate }, async (req) => {
    const agent = requireAgent(req);
    const b = parseInput(completeBody, req.body ?? {});
    return taskView(engine, await tasks.complete(agent, idOf(req), b.output ?? null));
  });

  app.post('/v1/tasks/:id/fail', { preHandler: authenticate }, async (req) => {
    const agent = requireAgent(req);
    const b = parseInput(failBody, req.body ?? {});
    return taskView(
      engine,
      await tasks.fail(agent, idOf(req), {
        message: b.message,
        ...(b.retryable !== undefined ? { retryable: b.retryable } : {}),
        ...(b.escalate !== undefined ? { escalate: b.escalate } : {}),
      }),
    );
  });

  app.post('/v1/tasks/:id/delegate', { preHandler: authenticate }, async (req, reply) => {
    const agent = requireAgent(req);
    const b = parseInput(delegateBody, req.body ?? {});
    const child = await tasks.delegate(agent, idOf(req), { role: b.role, input: b.input ?? null });
    return reply.code(201).send(taskView(engine, child));
  });

  app.post('/v1/tasks/:id/handoff', { preHandler: authenticate }, async (req) => {
    const agent = requireAgent(req);
    const b = parseInput(handoffBody, req.body ?? {});
    return taskView(
      engine,
      await tasks.handoff(agent, idOf(req), {
        note: b.context,
        ...(b.toRole !== undefined ? { toRole: b.toRole } : {}),
        ...(b.toAgent !== undefined ? { toAgent: b.toAgent } : {}),
      }),
    );
  });

  app.get('/v1/tasks/:id', { preHandler: authenticate }, async (req) => {
    const t = await tasks.get(idOf(req));
    if (!(await mayRead(engine, req, t)))
      throw new ForbiddenError('only a human, the claiming agent or the delegating agent may read this task');
    return taskView(engine, t);
  });

  app.get('/v1/tasks', { preHandler: authenticate }, async (req) => {
    requireHuman(req, undefined, 'listing tasks');
    const q = parseInput(taskListQuery, req.query ?? {});
    const list = await tasks.list({
      ...(q.run ? { runId: q.run } : {}),
      ...(q.status ? { status: q.status as TaskStatus } : {}),
      ...(q.role ? { role: q.role } : {}),
      ...(q.limit ? { limit: q.limit } : {}),
    });
    return { tasks: list };
  });

  app.post('/v1/tasks/:id/resolve', { preHandler: authenticate }, async (req) => {
    const human = requireHuman(req, undefined, 'resolving tasks');
    const b = parseInput(resolveBody, req.body ?? {});
    return taskView(
      engine,
      await tasks.decide(human, idOf(req), { decision: 'resolve', output: b.output ?? null }),
    );
  });

  app.post('/v1/tasks/:id/reject', { preHandler: authenticate }, async (req) => {
    const human = requireHuman(req, undefined, 'rejecting tasks');
    const b = parseInput(rejectBody, req.body ?? {});
    return taskView(engine, await tasks.decide(human, idOf(req), { decision: 'reject', message: b.message }));
  });
}
