import type { FastifyInstance, preHandlerAsyncHookHandler } from 'fastify';
import { UserError, parseInput } from '@autonomy-os/core';
import type { Approval, Engine } from '@autonomy-os/core';
import { requireHuman } from '../auth.js';
import { actionBody } from './actions.js';
import { listQueries } from './list-queries.js';

function voteBody(raw: unknown): { comment?: string; bindingHash?: string; input?: Record<string, unknown> } {
  const b = (raw ?? {}) as Record<string, unknown>;
  if (typeof b !== 'object' || Array.isArray(b))
    throw new UserError('must be a JSON object', { field: 'body' });
  for (const k of Object.keys(b)) {
    if (!['comment', 'bindingHash', 'input'].includes(k))
      throw new UserError('is not a known field', { field: k });
  }
  if (b.comment !== undefined && typeof b.comment !== 'string')
    throw new UserError('must be a string', { field: 'comment' });
  if (b.bindingHash !== undefined && typeof b.bindingHash !== 'string')
    throw new UserError('must be a string', { field: 'bindingHash' });
  if (b.input !== undefined && (typeof b.input !== 'object' || b.input === null || Array.isArray(b.input))) {
    throw new UserError('must be a JSON object', { field: 'input' });
  }
  return b as { comment?: string; bindingHash?: string; input?: Record<string, unknown> };
}

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
      const body = voteBody(req.body);
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
