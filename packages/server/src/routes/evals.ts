import type { FastifyInstance, preHandlerAsyncHookHandler } from 'fastify';
import { z } from 'zod';
import {
  EvalRunStore,
  NotFoundError,
  actorOf,
  checkGates,
  evalCoverage,
  parseDurationSec,
  parseInput,
  promoteAgent,
} from '@autonomy-os/core';
import type { Engine, GateCheck } from '@autonomy-os/core';
import { principalOf, requireHuman } from '../auth.js';
import { queryParameters } from '../openapi-parts.js';

/** The body of `POST /v1/agents/:id/promote` (also published in the OpenAPI document). */
export const promoteBody = z
  .object({
    tier: z.number({ error: 'must be a number 0-3' }).int().min(0, 'must be 0-3').max(3, 'must be 0-3'),
    reason: z.string().max(4000).optional(),
  })
  .strict();
const runsQuery = z
  .object({
    agent: z.string().min(1).optional(),
    suite: z.string().min(1).optional(),
    limit: z.coerce.number().int().min(1).max(1000).optional(),
  })
  .strict();
const coverageQuery = z
  .object({ since: z.string().default('7d'), agent: z.string().min(1).optional() })
  .strict();

/**
 * `/v1/evals/*` and `/v1/agents/:id/evals|promote`: suite runs, gates, coverage, and promotion that must be earned.
 * Reading needs a human token; promotion needs an admin other than the agent's owner and passing gates.
 */
export function registerEvalRoutes(
  app: FastifyInstance,
  engine: Engine,
  authenticate: preHandlerAsyncHookHandler,
): void {
  const runs = new EvalRunStore(engine.store.db, engine.store.audit);

  app.post('/v1/agents/:id/promote', { preHandler: authenticate }, async (req) => {
    const human = requireHuman(req, [engine.config.groups.admins], 'changing tiers');
    const body = parseInput(promoteBody, req.body ?? {});
    const { agent, check } = await promoteAgent(engine, {
      agentId: (req.params as { id: string }).id,
      tier: body.tier,
      by: human,
      actor: actorOf(principalOf(req)),
      ...(body.reason ? { reason: body.reason } : {}),
    });
    engine.events.publish('agent.tier_changed', { agentId: agent.id, tier: agent.tier }, `agent:${agent.id}`);
    return { agent, ...(check ? { gates: check } : {}) };
  });

  app.get('/v1/agents/:id/evals', { preHandler: authenticate }, async (req) => {
    requireHuman(req, undefined, 'reading evaluations');
    const agent = await engine.store.agents.require((req.params as { id: string }).id, 'id');
    const latest = new Map<string, Awaited<ReturnType<typeof runs.list>>[number]>();
    for (const r of await runs.list({ agentId: agent.id, limit: 200 }))
      if (!latest.has(r.suite)) latest.set(r.suite, r);
    const gates: GateCheck[] = [];
    for (let t = agent.tier + 1; t <= 3; t++)
      gates.push(await checkGates(engine, { ...agent, tier: (t - 1) as typeof agent.tier }, t));
    return {
      agentId: agent.id,
      tier: agent.tier,
      status: agent.status,
      latest: [...latest.values()].map(({ caseSummaries: _c, ...r }) => r),
      gates,
    };
  });

  app.get('/v1/evals/runs', { preHandler: authenticate }, async (req) => {
    requireHuman(req, undefined, 'reading evaluations');
    const q = parseInput(runsQuery, req.query ?? {});
    const list = await runs.list({
      ...(q.agent ? { agentId: q.agent } : {}),
      ...(q.suite ? { suite: q.suite } : {}),
      ...(q.limit ? { limit: q.limit } : {}),
    });
    return { runs: list.map(({ caseSummaries: _c, ...r }) => r) };
  });

  app.get('/v1/evals/runs/:id', { preHandler: authenticate }, async (req) => {
    requireHuman(req, undefined, 'reading evaluations');
    const id = (req.params as { id: string }).id;
    const run = await runs.get(id);
    if (!run) throw new NotFoundError('eval run', id, 'id');
    return run;
  });

  app.get('/v1/evals/coverage', { preHandler: authenticate }, async (req) => {
    requireHuman(req, undefined, 'reading evaluations');
    const q = parseInput(coverageQuery, req.query ?? {});
    const since = new Date(Date.now() - parseDurationSec(q.since, 'since') * 1000).toISOString();
    return evalCoverage(engine.store, { since, ...(q.agent ? { agentId: q.agent } : {}) });
  });
}

/** The OpenAPI paths of the routes above. */
export function evalOpenApiPaths(errors: Record<string, unknown>): Record<string, unknown> {
  const schema = (s: z.ZodType) => z.toJSONSchema(s, { io: 'input', unrepresentable: 'any' });
  const idParam = [{ name: 'id', in: 'path', required: true, schema: { type: 'string' } }];
  return {
    '/v1/agents/{id}/promote': {
      post: {
        summary:
          "Change an agent's tier (admins other than its owner); raising it needs every gating suite to have passed",
        parameters: idParam,
        requestBody: { content: { 'application/json': { schema: schema(promoteBody) } } },
        responses: { '200': { description: '{ agent, gates }' }, ...errors },
      },
    },
    '/v1/agents/{id}/evals': {
      get: {
        summary: "An agent's latest run per suite and the gates of each higher tier (humans)",
        parameters: idParam,
        responses: { '200': { description: '{ agentId, tier, latest, gates }' }, ...errors },
      },
    },
    '/v1/evals/runs': {
      get: {
        summary: 'Suite runs, newest first (humans)',
        parameters: queryParameters(runsQuery),
        responses: { '200': { description: '{ runs }' }, ...errors },
      },
    },
    '/v1/evals/runs/{id}': {
      get: {
        summary: 'One suite run with its case results (humans)',
        parameters: idParam,
        responses: { '200': { description: 'run' }, ...errors },
      },
    },
    '/v1/evals/coverage': {
      get: {
        summary: "Evaluation coverage of each agent's and workflow's actions (humans)",
        parameters: queryParameters(coverageQuery),
        responses: { '200': { description: '{ since, agents, workflows }' }, ...errors },
      },
    },
  };
}
