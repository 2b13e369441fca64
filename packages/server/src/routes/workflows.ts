import type { FastifyInstance, preHandlerAsyncHookHandler } from 'fastify';
import { z } from 'zod';
import { parseInput } from '@autonomy-os/core';
import type { Engine } from '@autonomy-os/core';
import { requireHuman } from '../auth.js';
import { listQueries } from './list-queries.js';
import { noBody } from './no-body.js';

const reason = z.string({ error: 'must be a string' });

/** The bodies of the run routes (published in the OpenAPI document), each refusing a field it does not know. */
export const runBodies = {
  /** `POST /v1/workflows/:name/runs`: the run input, checked by the workflow's own input schema. */
  start: z.object({ input: z.unknown().optional() }).strict(),
  /** `POST /v1/runs/:id/cancel`. */
  cancel: z.object({ reason: reason.optional() }).strict(),
  /** `POST /v1/runs/:id/signals`: a wait step with `event: <name>` takes it. */
  signal: z
    .object({
      name: z
        .string({ error: 'is required (a signal name)' })
        .regex(
          /^[A-Za-z][A-Za-z0-9_.:-]{0,99}$/,
          'must be a signal name (letters, digits, _ . : -; at most 100)',
        ),
      data: z.unknown().optional(),
    })
    .strict(),
  /** `POST /v1/runs/:id/pause`. */
  pause: z
    .object({ reason: reason.max(500, 'must be a string of at most 500 characters').optional() })
    .strict(),
  /** `POST /v1/runs/:id/steps/:step/approve` and `/deny`. */
  stepVote: z.object({ comment: z.string({ error: 'must be a string' }).optional() }).strict(),
};

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
    const body = parseInput(runBodies.start, req.body ?? {});
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
    const body = parseInput(runBodies.cancel, req.body ?? {});
    return engine.workflows.cancel(id, human, body.reason);
  });

  app.post('/v1/runs/:id/signals', { preHandler: authenticate }, async (req, reply) => {
    const human = requireHuman(req, undefined, 'signalling runs');
    const id = (req.params as { id: string }).id;
    const body = parseInput(runBodies.signal, req.body ?? {});
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
    parseInput(noBody, req.body ?? {});
    return engine.workflows.retry(id, human);
  });

  // Run-level intervention: hold a running run (no new step, nothing submitted) and let it go on.
  app.post('/v1/runs/:id/pause', { preHandler: authenticate }, async (req) => {
    const human = requireHuman(req, undefined, 'pausing runs');
    const id = (req.params as { id: string }).id;
    const body = parseInput(runBodies.pause, req.body ?? {});
    return engine.workflows.pause(id, human, body.reason);
  });

  app.post('/v1/runs/:id/resume', { preHandler: authenticate }, async (req) => {
    const human = requireHuman(req, undefined, 'resuming runs');
    const id = (req.params as { id: string }).id;
    parseInput(noBody, req.body ?? {});
    return engine.workflows.resume(id, human);
  });

  for (const vote of ['approve', 'deny'] as const) {
    app.post(`/v1/runs/:id/steps/:step/${vote}`, { preHandler: authenticate }, async (req) => {
      const human = requireHuman(req, undefined, vote === 'approve' ? 'approving' : 'denying');
      const p = req.params as { id: string; step: string };
      const body = parseInput(runBodies.stepVote, req.body ?? {});
      return engine.workflows.decide({
        runId: p.id,
        stepId: p.step,
        human,
        vote,
        ...(body.comment ? { comment: body.comment } : {}),
      });
    });
  }
}
