import { z } from 'zod';
import { queryParameters } from '../openapi-parts.js';
import { taskBodies, taskListQuery } from './tasks.js';

/** The OpenAPI paths of `/v1/tasks`, from the schemas that validate the requests. */
export function taskOpenApiPaths(errors: Record<string, unknown>): Record<string, unknown> {
  const schema = (s: z.ZodType) => z.toJSONSchema(s, { io: 'input', unrepresentable: 'any' });
  const body = (s: z.ZodType) => ({ content: { 'application/json': { schema: schema(s) } } });
  const idParam = [{ name: 'id', in: 'path', required: true, schema: { type: 'string' } }];
  const task = { description: 'task (with leaseMs)' };
  const post = (summary: string, s: z.ZodType, ok: Record<string, unknown> = { '200': task }) => ({
    post: { summary, parameters: idParam, requestBody: body(s), responses: { ...ok, ...errors } },
  });
  return {
    '/v1/tasks/next': {
      post: {
        summary:
          "Claim the next task of the agent's role (agent token); long-polls up to waitSec. 204 when there is none",
        requestBody: body(taskBodies.next),
        responses: { '200': task, '204': { description: 'no task' }, ...errors },
      },
    },
    '/v1/tasks': {
      get: {
        summary: 'Tasks, newest first (humans)',
        parameters: queryParameters(taskListQuery),
        responses: { '200': { description: '{ tasks }' }, ...errors },
      },
    },
    '/v1/tasks/{id}': {
      get: {
        summary: 'One task (a human, its claiming agent, or the agent that delegated it)',
        parameters: idParam,
        responses: { '200': task, ...errors },
      },
    },
    '/v1/tasks/{id}/heartbeat': post('Extend the claim (the claiming agent)', taskBodies.heartbeat),
    '/v1/tasks/{id}/complete': post(
      'Complete with an output (the claiming agent, holding the lease; 409 while delegated tasks are open)',
      taskBodies.complete,
    ),
    '/v1/tasks/{id}/fail': post(
      'Fail (retryable by default), or escalate to a human (the claiming agent)',
      taskBodies.fail,
    ),
    '/v1/tasks/{id}/delegate': post(
      'Create a sub-task for another role in the same run (the claiming agent; depth and fan-out limits)',
      taskBodies.delegate,
      { '201': task },
    ),
    '/v1/tasks/{id}/handoff': post(
      'Give the task back to the queue for another role or agent, with a context note (the claiming agent)',
      taskBodies.handoff,
    ),
    '/v1/tasks/{id}/resolve': post(
      "Complete an escalated task with a human's output (the workflow owner or admins)",
      taskBodies.resolve,
    ),
    '/v1/tasks/{id}/reject': post(
      'Fail an escalated task for good (the workflow owner or admins)',
      taskBodies.reject,
    ),
  };
}
