import type { FastifyInstance, preHandlerAsyncHookHandler } from 'fastify';
import { z } from 'zod';
import { parseInput } from '@autonomy-os/core';
import type { Approval, Engine } from '@autonomy-os/core';
import { requireHuman } from '../auth.js';
import { actionBody } from './actions.js';
import { listQueries } from './list-queries.js';

/**
 * The body of `POST /v1/approvals/:id/approve` and `/deny` (published in the OpenAPI document as `Vote`): what the
 * approver saw, so a vote on something that changed since is refused.
 */
export const voteBody = z
  .object({
    comment: z.string({ error: 'must be a string' }).optional(),
    bindingHash: z
      .string({ error: 'must be a string' })
      .describe('the binding the approver saw; refused if it differs')
      .optional(),
    input: z
      .record(z.string(), z.unknown(), { error: 'must be a JSON object' })
      .describe('the arguments the approver saw; refused if they differ')
      .optional(),
  })
  .strict();

const approvalBody = (a: Approval) => a;

/** `/v1/approvals`: the inbox and decisions. Humans only: an agent never approves. */
export function registerApprovalRoutes(
  app: FastifyInstance,
  engine: Engine,
  authenticate: preHandlerAsyncHookHandler,
): void {
  app.get('/v1/approvals', { preHandler: authenticate }, async (req) => {
    requireHuman(req, undefined, 'reading approvals');
    const q = parseInput(listQueries.approvals, req.query ?? {});
    const list = await engine.approvals.list({
      ...(q.status ? { status: q.status } : {}),
      ...(q.group ? { group: q.group } : {}),
    });
    return { approvals: list.map(approvalBody) };
  });

  app.get('/v1/approvals/:id', { preHandler: authenticate }, async (req) => {
    requireHuman(req, undefined, 'reading approvals');
    return approvalBody(await engine.approvals.require((req.params as { id: string }).id));
  });

  for (const vote of ['approve', 'deny'] as const) {
    app.post(`/v1/approvals/:id/${vote}`, { preHandler: authenticate }, async (req) => {
      const human = requireHuman(req, undefined, vote === 'approve' ? 'approving' : 'denying');
      const body = parseInput(voteBody, req.body ?? {});
      const { approval, action } = await engine.actions.vote({
        approvalId: (req.params as { id: string }).id,
        human,
        vote,
        ...body,
      });
      // A workflow approval step has no action: its run moves on when it next advances (`approval.runId`).
      return { approval: approvalBody(approval), action: action ? actionBody(action) : null };
    });
  }
}
