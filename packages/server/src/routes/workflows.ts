import type { FastifyInstance, preHandlerAsyncHookHandler } from 'fastify';
import { UserError, parseInput } from '@autonomy-os/core';
import type { Engine } from '@autonomy-os/core';
import { requireHuman } from '../auth.js';
import { listQueries } from './list-queries.js';

function objectBody(raw: unknown, allowed: readonly string[]): Record<string, unknown> {
  const b = (raw ?? {}) as Record<string, unknown>;
  if (typeof b !== 'object' || Array.isArray(b))
    throw new UserError('must be a JSON object', { field: 'body' });
  for (const k of Object.keys(b))
    if (!allowed.includes(k)) throw new UserError('is not a known field', { field: k });
  return b;
}

/**
 * `/v1/workflows` and `/v1/runs`: start, read, cancel, signal, retry, pause and resume runs, and decide approval steps.
 * Humans only. Who may manage a run is the engine's rule ({@link mayManageRun}); routes do not check it themselves.
 */
export function registerWorkflowRoutes(
  app: FastifyInstance,
  engine: Engine,
  authenticate: preHandlerAsyncHookHandler,
): void {
  app.get('/v1/workflows', { preHandler: authenticate }, async (req) => {
    requireHuman(req, undefined, 'reading workflows');
    return { workflows: engine.workflows.definitions() };
  });

  app.post('/v1/workflows/:name/runs', { preHandler: authenticate }, async (req, reply) => {
    const human = requireHuman(req, undefined, 'starting runs');
    const name = (req.params as { name: string }).name;
    const body = objectBody(req.body, ['input']);
    const run = await engine.workflows.start(name, body.input ?? {}, human);
    return reply.code(201).send(run);
  });

  app.get('/v1/runs', { preHandler: authenticate }, async (req) => {
    requireHuman(req, undefined, 'reading runs');
    const q = parseInput(listQueries.runs, req.query ?? {});
    const runs = await engine.workflows.list({
      ...(q.status ? { status: q.status } : {}),
      ...(q.workflow ? { workflow: q.workflow } : {}),
      ...(q.limit ? { limit: q.limit } : {}),
    });
    return { runs };
  });

  app.get('/v1/runs/:id', { preHandler: authenticate }, async (req) => {
    requireHuman(req, undefined, 'reading runs');
    return engine.workflows.get((req.params as { id: string }).id);
  });

  app.post('/v1/runs/:id/cancel', { preHandler: authenticate }, async (req) => {
    const human = requireHuman(req, undefined, 'cancelling runs');
    const id = (req.params as { id: string }).id;
    const body = objectBody(req.body, ['reason']);
    if (body.reason !== undefined && typeof body.reason !== 'string')
      throw new UserError('must be a string', { field: 'reason' });
    return engine.workflows.cancel(id, human, body.reason as string | undefined);
  });

  app.post('/v1/runs/:id/signals', { preHandler: authenticate }, async (req, reply) => {
    const human = requireHuman(req, undefined, 'signalling runs');
    const id = (req.params as { id: string }).id;
    const body = objectBody(req.body, ['name', 'data']);
    if (typeof body.name !== 'string') throw new UserError('is required (a signal name)', { field: 'name' });
    const signal = await engine.workflows.signal({
      runId: id,
      name: body.name,
      data: body.data ?? null,
      by: human,
    });
    return reply.code(201).send(signal);
  });

  app.post('/v1/runs/:id/retry', { preHandler: authenticate }, async (req) => {
    const human = requireHuman(req, undefined, 'retrying runs');
    const id = (req.params as { id: string }).id;
    objectBody(req.body, []);
    return engine.workflows.retry(id, human);
  });

  // Run-level intervention: hold a running run (no new step, nothing submitted) and let it go on.
  app.post('/v1/runs/:id/pause', { preHandler: authenticate }, async (req) => {
    const human = requireHuman(req, undefined, 'pausing runs');
    const id = (req.params as { id: string }).id;
    const body = objectBody(req.body, ['reason']);
    if (body.reason !== undefined && typeof body.reason !== 'string')
      throw new UserError('must be a string', { field: 'reason' });
    return engine.workflows.pause(id, human, body.reason as string | undefined);
  });

  app.post('/v1/runs/:id/resume', { preHandler: authenticate }, async (req) => {
    const human = requireHuman(req, undefined, 'resuming runs');
    const id = (req.params as { id: string }).id;
    objectBody(req.body, []);
    return engine.workflows.resume(id, human);
  });

  for (const vote of ['approve', 'deny'] as const) {
    app.post(`/v1/runs/:id/steps/:step/${vote}`, { preHandler: authenticate }, async (req) => {
      const human = requireHuman(req, undefined, vote === 'approve' ? 'approving' : 'denying');
      const p = req.params as { id: string; step: string };
      const body = objectBody(req.body, ['comment']);
      if (body.comment !== undefined && typeof body.comment !== 'string')
        throw new UserError('must be a string', { field: 'comment' });
      return engine.workflows.decide({
        runId: p.id,
        stepId: p.step,
        human,
        vote,
        ...(body.comment ? { comment: body.comment as string } : {}),
      });
    });
  }
}
