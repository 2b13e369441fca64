import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import { z } from 'zod';
import { parseInput } from '@autonomy-os/core';
import type { WorkflowTask } from '@autonomy-os/core';
import { longPollClaim, taskBodies } from '../routes/tasks.js';
import type { BuiltinTool } from './builtin-tools.js';
import { toolInputSchema } from './tool-input-schema.js';

const json = (value: Record<string, unknown>): CallToolResult => ({
  content: [{ type: 'text', text: JSON.stringify(value) }],
  structuredContent: value,
});

const view = (t: WorkflowTask, leaseMs: number) => json({ task: { ...t, leaseMs } });

const taskId = z.string().min(1, 'is required').max(100).describe('The task id aos_next_task answered.');
// The same body as REST `POST /v1/tasks/next`, with what a model is told about it.
const nextInput = taskBodies.next.extend({
  waitSec: taskBodies.next.shape.waitSec.describe('How long to wait.'),
});
const completeInput = z
  .object({ taskId, output: z.unknown().optional().describe("The task's result (any JSON).") })
  .strict();
const failInput = z
  .object({
    taskId,
    message: z
      .string()
      .min(1, 'is required')
      .max(4000)
      .describe('What went wrong, or what the human should decide.'),
    retryable: z.boolean().optional(),
    escalate: z.boolean().optional(),
  })
  .strict();
const delegateInput = z
  .object({
    taskId,
    role: z.string().min(1, 'is required').max(100).describe('The role that should do the sub-task.'),
    input: z.unknown().optional().describe('What the sub-task is given (any JSON).'),
  })
  .strict();
const statusInput = z.object({ taskId }).strict();
const handoffInput = z
  .object({
    taskId,
    toRole: z.string().min(1).max(100).optional(),
    toAgent: z.string().min(1).max(100).optional(),
    context: z.string().min(1, 'is required').max(4000).describe('What the receiver needs to know.'),
  })
  .strict();

const nextTask: BuiltinTool = {
  kind: 'governed',
  input: nextInput,
  definition: {
    name: 'aos_next_task',
    title: 'Take the next task',
    description:
      'Claims the next workflow task for your role (highest priority, oldest first), leased to you. Waits up to waitSec for one; answers {task: null} when there is none.',
    inputSchema: toolInputSchema(nextInput),
    annotations: { readOnlyHint: false, destructiveHint: false, idempotentHint: false, openWorldHint: false },
  },
  async run(args, { engine, agent }) {
    const { waitSec } = parseInput(nextInput, args, 'arguments');
    const task = await longPollClaim(engine, agent, waitSec);
    return task ? view(task, engine.workflows.tasks.leaseMs) : json({ task: null });
  },
};

const completeTask: BuiltinTool = {
  kind: 'governed',
  input: completeInput,
  definition: {
    name: 'aos_complete_task',
    title: 'Complete a task',
    description: 'Completes a task you hold with its output (refused while tasks you delegated are open).',
    inputSchema: toolInputSchema(completeInput),
    annotations: { readOnlyHint: false, destructiveHint: false, idempotentHint: false, openWorldHint: false },
  },
  async run(args, { engine, agent }) {
    const r = parseInput(completeInput, args, 'arguments');
    return view(
      await engine.workflows.tasks.complete(agent, r.taskId, r.output ?? null),
      engine.workflows.tasks.leaseMs,
    );
  },
};

const failTask: BuiltinTool = {
  kind: 'governed',
  input: failInput,
  definition: {
    name: 'aos_fail_task',
    title: 'Fail or escalate a task',
    description:
      'Gives up a task you hold: retryable (default true) lets the workflow try again; escalate: true hands it to a human (the workflow owner) instead.',
    inputSchema: toolInputSchema(failInput),
    annotations: { readOnlyHint: false, destructiveHint: false, idempotentHint: false, openWorldHint: false },
  },
  async run(args, { engine, agent }) {
    const r = parseInput(failInput, args, 'arguments');
    const t = await engine.workflows.tasks.fail(agent, r.taskId, {
      message: r.message,
      ...(r.retryable !== undefined ? { retryable: r.retryable } : {}),
      ...(r.escalate !== undefined ? { escalate: r.escalate } : {}),
    });
    return view(t, engine.workflows.tasks.leaseMs);
  },
};

const delegate: BuiltinTool = {
  kind: 'governed',
  input: delegateInput,
  definition: {
    name: 'aos_delegate',
    title: 'Delegate a sub-task',
    description:
      'Creates a sub-task of a task you hold for another role, in the same run (limits on depth and number apply). Follow it with aos_task_status; you cannot complete your task while it is open.',
    inputSchema: toolInputSchema(delegateInput),
    annotations: { readOnlyHint: false, destructiveHint: false, idempotentHint: false, openWorldHint: false },
  },
  async run(args, { engine, agent }) {
    const r = parseInput(delegateInput, args, 'arguments');
    const child = await engine.workflows.tasks.delegate(agent, r.taskId, {
      role: r.role,
      input: r.input ?? null,
    });
    return view(child, engine.workflows.tasks.leaseMs);
  },
};

// Governed, not `self`: a paused or switched-off agent follows no work, so the tool is hidden then like the others.
const taskStatus: BuiltinTool = {
  kind: 'governed',
  input: statusInput,
  definition: {
    name: 'aos_task_status',
    title: 'Task status',
    description: 'The status (and, once done, the output) of a task you hold or one you delegated.',
    inputSchema: toolInputSchema(statusInput),
    annotations: { readOnlyHint: true, idempotentHint: true, openWorldHint: false },
  },
  async run(args, { engine, agent }) {
    const r = parseInput(statusInput, args, 'arguments');
    const t = await engine.workflows.tasks.get(r.taskId).catch(() => undefined);
    const parent = t?.parentTaskId ? await engine.workflows.tasks.get(t.parentTaskId) : undefined;
    // Someone else's task looks exactly like one that does not exist.
    if (!t || (t.agentId !== agent.id && parent?.agentId !== agent.id))
      return { ...json({ status: 'not_found', taskId: r.taskId }), isError: true };
    return view(t, engine.workflows.tasks.leaseMs);
  },
};

const handoff: BuiltinTool = {
  kind: 'governed',
  input: handoffInput,
  definition: {
    name: 'aos_handoff',
    title: 'Hand a task off',
    description:
      'Gives a task you hold back to the queue for another role (toRole) or a named agent (toAgent), with a context note the receiver sees.',
    inputSchema: toolInputSchema(handoffInput),
    annotations: { readOnlyHint: false, destructiveHint: false, idempotentHint: false, openWorldHint: false },
  },
  async run(args, { engine, agent }) {
    const r = parseInput(handoffInput, args, 'arguments');
    const t = await engine.workflows.tasks.handoff(agent, r.taskId, {
      note: r.context,
      ...(r.toRole !== undefined ? { toRole: r.toRole } : {}),
      ...(r.toAgent !== undefined ? { toAgent: r.toAgent } : {}),
    });
    return view(t, engine.workflows.tasks.leaseMs);
  },
};

/** The built-in tools agents take workflow work with. */
export const TASK_TOOLS: readonly BuiltinTool[] = [
  nextTask,
  completeTask,
  failTask,
  delegate,
  taskStatus,
  handoff,
];
