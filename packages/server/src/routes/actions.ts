import type { FastifyInstance, FastifyRequest } from 'fastify';
import { z } from 'zod';
import { NotFoundError, StalePrincipal, buildReceipt, parseInput } from '@autonomy-os/core';
import type { ActionView, Engine } from '@autonomy-os/core';
import { principalOf, requireAgent, requireHuman } from '../auth.js';
import type { ActionAnswer } from '../wire-schemas.js';
import { listQueries } from './list-queries.js';
import { noBody } from './no-body.js';
import { decodeCursor, encodeCursor } from './page-cursor.js';

/**
 * The wire form of an action: the whole {@link ActionView}, its stored decision included, plus `replayed` on an
 * idempotent replay. Each field is named, so nothing a view may carry beyond its type reaches the wire; the answer
 * schema (`actionSchema`, wire-schemas.ts) is checked against this type.
 */
export function actionBody(a: ActionView & { replayed?: boolean }): ActionAnswer {
  return {
    id: a.id,
    agentId: a.agentId,
    tool: a.tool,
    input: a.input,
    environment: a.environment,
    sessionId: a.sessionId,
    idempotencyKey: a.idempotencyKey,
    reason: a.reason,
    confidence: a.confidence,
    onBehalfOf: a.onBehalfOf,
    reversalOf: a.reversalOf,
    outcome: a.outcome,
    status: a.status,
    decision: a.decision,
    approvalId: a.approvalId,
    result: a.result,
    error: a.error,
    risk: a.risk,
    policyHash: a.policyHash,
    cached: a.cached,
    createdAt: a.createdAt,
    updatedAt: a.updatedAt,
    startedAt: a.startedAt,
    finishedAt: a.finishedAt,
    traceId: a.traceId,
    spanId: a.spanId,
    parentSpanId: a.parentSpanId,
    ...(a.replayed ? { replayed: true as const } : {}),
  };
}

/** The body of `POST /v1/actions/:id/undo` (published in the OpenAPI document): why, for the audit log. */
export const undoBody = z
  .object({ reason: z.string({ error: 'must be a string' }).max(4000).optional() })
  .strict();

/**
 * `/v1/actions`: submit, read, receipt, undo; `/v1/sessions`: open a session. `recall` authenticates a submission
 * from the principal remembered for its token without reading the security epoch (setting `principalEpoch`), or
 * as `authenticate` does.
 */
export function registerActionRoutes(
  app: FastifyInstance,
  engine: Engine,
  authenticate: (req: FastifyRequest) => Promise<void>,
  recall: (req: FastifyRequest) => Promise<void> = authenticate,
): void {
  const visible = async (req: Parameters<typeof principalOf>[0], id: string) => {
    const p = principalOf(req);
    const a = await engine.actions.get(id);
    // An agent sees only its own actions; anything else looks like it does not exist.
    if (!a || (p.kind === 'agent' && a.agentId !== p.id)) throw new NotFoundError('action', id, 'id');
    return a;
  };

  app.post('/v1/actions', { preHandler: recall }, async (req, reply) => {
    requireAgent(req);
    const body = (req.body ?? {}) as Record<string, unknown>;
    const header = req.headers['idempotency-key'];
    const request =
      typeof header === 'string' && body.idempotencyKey === undefined
        ? { ...body, idempotencyKey: header }
        : body;
    // A caller's W3C `traceparent` makes the action's span a child of its own.
    const traceParent = engine.tracing.enabled ? engine.tracing.extract(req.headers) : undefined;
    const submit = () =>
      engine.actions.submit(requireAgent(req), request as never, {
        ...(traceParent ? { traceParent } : {}),
        ...(req.principalEpoch !== undefined ? { principalEpoch: req.principalEpoch } : {}),
      });
    let view;
    try {
      view = await submit();
    } catch (err) {
      if (req.principalEpoch === undefined) throw err;
      // A recalled principal is confirmed by the decision's read of the epoch; a request that failed before it (a
      // bad input, an unknown tool) or found the epoch moved is authenticated as any request is before anything
      // is answered: a revoked token or agent gets 401, never a hint about tools.
      await authenticate(req);
      if (!(err instanceof StalePrincipal)) throw err;
      view = await submit();
    }
    const agent = requireAgent(req);
    // The same ids the engine logs and the trace carries, so a request's log line finds both.
    req.log.info(
      {
        actionId: view.id,
        agentId: agent.id,
        status: view.status,
        ...(view.traceId ? { traceId: view.traceId } : {}),
      },
      'action submitted',
    );
    void reply.code(view.replayed ? 200 : 201);
    return actionBody(view);
  });

  // Sessions are minted by the engine and bound to the agent: a made-up sessionId is no fresh start.
  app.post('/v1/sessions', { preHandler: authenticate }, async (req, reply) => {
    const agent = requireAgent(req);
    parseInput(noBody, req.body ?? {});
    void reply.code(201);
    return { sessionId: await engine.actions.openSession(agent.id) };
  });

  app.get('/v1/actions', { preHandler: authenticate }, async (req) => {
    const p = principalOf(req);
    const q = parseInput(listQueries.actions, req.query ?? {});
    const limit = q.limit ?? 100;
    const before = q.cursor ? decodeCursor(q.cursor, ['string', 'string'] as const) : undefined;
    const list = await engine.actions.list({
      ...(p.kind === 'agent' ? { agentId: p.id } : q.agent ? { agentId: q.agent } : {}),
      ...(q.tool ? { tool: q.tool } : {}),
      ...(q.status ? { status: q.status } : {}),
      ...(q.since ? { since: q.since } : {}),
      ...(before ? { before: { createdAt: before[0], id: before[1] } } : {}),
      limit,
    });
    const last = list[limit - 1];
    // A full page may have a next one; the cursor is the last action's place in the order.
    return {
      actions: list.map(actionBody),
      nextCursor: last && list.length === limit ? encodeCursor([last.createdAt, last.id]) : null,
    };
  });

  app.get('/v1/actions/:id', { preHandler: authenticate }, async (req) =>
    actionBody(await visible(req, (req.params as { id: string }).id)),
  );

  app.get('/v1/actions/:id/receipt', { preHandler: authenticate }, async (req) => {
    const a = await visible(req, (req.params as { id: string }).id);
    return buildReceipt(
      {
        actions: engine.actions,
        approvals: engine.approvals,
        tools: engine.tools,
        audit: engine.store.audit,
      },
      a.id,
    );
  });

  app.post('/v1/actions/:id/undo', { preHandler: authenticate }, async (req, reply) => {
    const human = requireHuman(req, undefined, 'undo');
    const { reason } = parseInput(undoBody, req.body ?? {});
    const a = await visible(req, (req.params as { id: string }).id);
    const view = await engine.actions.undo(a.id, human, reason);
    void reply.code(201);
    return actionBody(view);
  });
}
