import type { FastifyInstance, preHandlerAsyncHookHandler } from 'fastify';
import { z } from 'zod';
import { UserError, parseInput, participantOf } from '@autonomy-os/core';
import type { Engine } from '@autonomy-os/core';
import { principalOf, requireAgent, requireHuman } from '../auth.js';
import { listQueries } from './list-queries.js';

/** The bodies of the coordination routes (published in the OpenAPI document), each refusing a field it does not know. */
export const coordinationBodies = {
  /** `PUT /v1/runs/:id/context/:key`: `expectVersion` fails with 409 when the entry has moved on. */
  contextWrite: z
    .object({
      value: z.unknown().refine((v) => v !== undefined, 'is required'),
      expectVersion: z.number({ error: 'must be a whole number' }).int().min(0).optional(),
    })
    .strict(),
  /** `POST /v1/runs/:id/messages`: to one agent (`to`) or a role (`toRole`) working on the run. */
  message: z
    .object({
      to: z.string({ error: 'must be a string' }).optional(),
      toRole: z.string({ error: 'must be a string' }).optional(),
      body: z.unknown().refine((v) => v !== undefined, 'is required'),
    })
    .strict(),
};

/**
 * Coordination: a run's shared context (`/v1/runs/:id/context`), messages between its agents
 * (`/v1/runs/:id/messages`, `/v1/messages`) and held resource leases (`/v1/leases`). Agents may only touch runs
 * they work on; humans may read and write any run's context and read its messages.
 */
export function registerCoordinationRoutes(
  app: FastifyInstance,
  engine: Engine,
  authenticate: preHandlerAsyncHookHandler,
): void {
  const { context, messages, leases } = engine.coordination;

  app.get('/v1/runs/:id/context', { preHandler: authenticate }, async (req) => {
    const id = (req.params as { id: string }).id;
    return { entries: await context.list(id, participantOf(principalOf(req))) };
  });

  app.get('/v1/runs/:id/context/:key', { preHandler: authenticate }, async (req) => {
    const p = req.params as { id: string; key: string };
    return context.get(p.id, p.key, participantOf(principalOf(req)));
  });

  app.put('/v1/runs/:id/context/:key', { preHandler: authenticate }, async (req) => {
    const p = req.params as { id: string; key: string };
    const body = parseInput(coordinationBodies.contextWrite, req.body ?? {});
    return context.write(
      {
        runId: p.id,
        key: p.key,
        value: body.value,
        ...(body.expectVersion !== undefined ? { expectVersion: body.expectVersion } : {}),
      },
      participantOf(principalOf(req)),
    );
  });

  app.post('/v1/runs/:id/messages', { preHandler: authenticate }, async (req, reply) => {
    requireAgent(req);
    const body = parseInput(coordinationBodies.message, req.body ?? {});
    const msg = await messages.send(
      {
        ...body,
        runId: (req.params as { id: string }).id,
      },
      participantOf(principalOf(req)),
    );
    return reply.code(201).send(msg);
  });

  app.get('/v1/runs/:id/messages', { preHandler: authenticate }, async (req) => {
    requireHuman(req, undefined, "reading a run's messages");
    const id = (req.params as { id: string }).id;
    return { messages: await messages.forRun(id, participantOf(principalOf(req))) };
  });

  app.get('/v1/messages', { preHandler: authenticate }, async (req) => {
    const agent = requireAgent(req);
    const q = req.query as { unread?: string; runId?: string; limit?: string };
    if (q.unread !== undefined && !['true', 'false'].includes(q.unread))
      throw new UserError('must be true or false', { field: 'unread' });
    if (q.limit !== undefined && !/^\d{1,4}$/.test(q.limit))
      throw new UserError('must be a whole number', { field: 'limit' });
    return {
      messages: await messages.inbox(agent, {
        unread: q.unread === 'true',
        markRead: true,
        ...(q.runId ? { runId: q.runId } : {}),
        ...(q.limit ? { limit: Number(q.limit) } : {}),
      }),
    };
  });

  app.get('/v1/leases', { preHandler: authenticate }, async (req) => {
    requireHuman(req, undefined, 'reading resource leases');
    const q = parseInput(listQueries.leases, req.query ?? {});
    const filter = q.runId ? { runId: q.runId } : {};
    return { leases: await leases.list(filter), waiters: await leases.waiters(filter) };
  });
}
