import type { FastifyInstance, preHandlerAsyncHookHandler } from 'fastify';
import { z } from 'zod';
import { ConflictError, UserError, actorOf, parseInput } from '@autonomy-os/core';
import type { Engine } from '@autonomy-os/core';
import { principalOf, requireHuman } from '../auth.js';
import { listQueries } from './list-queries.js';
import { noBody } from './no-body.js';
import { decodeCursor, encodeCursor } from './page-cursor.js';

const optionalReason = z.string({ error: 'must be a string' }).max(4000).optional();

/** The bodies of the administration routes (published in the OpenAPI document), each refusing a field it does not know. */
export const adminBodies = {
  /** `POST /v1/agents/:id/pause|resume|kill|revoke`. */
  statusChange: z.object({ reason: optionalReason }).strict(),
  /** `POST /v1/agents/:id/tier`: lowering only; raising is a promotion (`POST /v1/agents/:id/promote`). */
  tier: z
    .object({
      tier: z
        .number({ error: 'is required (0-3)' })
        .int('must be 0-3')
        .min(0, 'must be 0-3')
        .max(3, 'must be 0-3'),
      reason: optionalReason,
    })
    .strict(),
  /**
   * `POST /v1/killswitch`: engage (`active: true`) or release a switch, global or for one `role`, `agent` or `scope`
   * (`role:<r>`, `agent:<id>`, `global`); `on` is an older name of `active`.
   */
  killSwitch: z
    .object({
      active: z.boolean({ error: 'must be true or false' }).optional(),
      on: z.boolean({ error: 'must be true or false' }).optional(),
      role: z.string({ error: 'must be a string' }).min(1).optional(),
      agent: z.string({ error: 'must be a string' }).min(1).optional(),
      scope: z.string({ error: 'must be a string' }).min(1).optional(),
      reason: optionalReason,
    })
    .strict(),
};

/**
 * `/v1/agents`, `/v1/killswitch`, `/v1/tools`, `/v1/budgets`: administration. Changes need the configured admins group
 * (`groups.admins`).
 */
export function registerAdminRoutes(
  app: FastifyInstance,
  engine: Engine,
  authenticate: preHandlerAsyncHookHandler,
): void {
  const { agents } = engine.store;
  const { admins, auditors } = engine.config.groups;

  app.get('/v1/agents', { preHandler: authenticate }, async (req) => {
    requireHuman(req, undefined, 'listing agents');
    const q = parseInput(listQueries.agents, req.query ?? {});
    // Without `limit` the whole registry (as before); with it, one page and the cursor of the next.
    const after = q.cursor ? decodeCursor(q.cursor, ['string'] as const)[0] : undefined;
    const list = await agents.list({
      ...(q.role ? { role: q.role } : {}),
      ...(q.status ? { status: q.status } : {}),
      ...(q.search ? { search: q.search } : {}),
      ...(after ? { after } : {}),
      ...(q.limit !== undefined ? { limit: q.limit } : {}),
    });
    const last = q.limit !== undefined && list.length === q.limit ? list[list.length - 1] : undefined;
    return { agents: list, nextCursor: last ? encodeCursor([last.id]) : null };
  });

  app.post('/v1/agents', { preHandler: authenticate }, async (req, reply) => {
    requireHuman(req, [admins], 'creating agents');
    const agent = await agents.create((req.body ?? {}) as never, actorOf(principalOf(req)));
    void reply.code(201);
    return agent;
  });

  app.get('/v1/agents/:id', { preHandler: authenticate }, async (req) => {
    requireHuman(req, undefined, 'reading agents');
    return agents.require((req.params as { id: string }).id, 'id');
  });

  for (const [verb, change] of [
    ['pause', 'pause'],
    ['resume', 'resume'],
    ['kill', 'revoke'],
    ['revoke', 'revoke'],
  ] as const) {
    app.post(`/v1/agents/:id/${verb}`, { preHandler: authenticate }, async (req) => {
      const human = requireHuman(req, undefined, `${verb} agents`);
      const id = (req.params as { id: string }).id;
      const agent = await agents.require(id, 'id');
      // The owner may pause their own agent; everything else is for admins.
      if (!(verb === 'pause' && agent.owner === human.id)) requireHuman(req, [admins], `${verb} agents`);
      const { reason } = parseInput(adminBodies.statusChange, req.body ?? {});
      const changed = await agents.setStatus(id, change, actorOf(principalOf(req)), reason);
      // The live view (the console's overview and agents pages) learns of it without polling.
      engine.events.publish(
        `agent.${changed.status}`,
        { agentId: id, status: changed.status },
        `agent:${id}`,
      );
      return changed;
    });
  }

  // Promotion and demotion are for admins; the tier rules in every decision follow the new tier at once.
  app.post('/v1/agents/:id/tier', { preHandler: authenticate }, async (req) => {
    requireHuman(req, [admins], 'changing tiers');
    const id = (req.params as { id: string }).id;
    const b = parseInput(adminBodies.tier, req.body ?? {});
    // Lowering a tier is an admin's call; raising one is a promotion, which must be earned (evaluation gates, an
    // admin other than the owner): it goes through POST /v1/agents/:id/promote, never around it.
    const current = await agents.require(id, 'agent');
    if (b.tier > current.tier)
      throw new ConflictError(
        `raising agent '${id}' from tier ${current.tier} to ${b.tier} is a promotion: use POST /v1/agents/${id}/promote (aos agents promote), which checks its evaluation gates`,
      );
    const changed = await agents.setTier(id, b.tier, actorOf(principalOf(req)), b.reason);
    engine.events.publish('agent.tier_changed', { agentId: id, tier: changed.tier }, `agent:${id}`);
    return changed;
  });

  app.get('/v1/killswitch', { preHandler: authenticate }, async (req) => {
    requireHuman(req, undefined, 'reading kill switches');
    return { switches: await engine.killSwitches.list() };
  });

  app.post('/v1/killswitch', { preHandler: authenticate }, async (req) => {
    requireHuman(req, [admins], 'kill switches');
    const b = parseInput(adminBodies.killSwitch, req.body ?? {});
    const active = b.active ?? b.on;
    if (active === undefined) throw new UserError('must be true or false', { field: 'active' });
    const scope = b.scope ?? (b.role ? `role:${b.role}` : b.agent ? `agent:${b.agent}` : 'global');
    const set = await engine.killSwitches.set({ scope, active, reason: b.reason }, actorOf(principalOf(req)));
    engine.events.publish(
      active ? 'killswitch.engaged' : 'killswitch.released',
      { scope: set.scope, reason: set.reason },
      `killswitch:${set.scope}`,
    );
    return set;
  });

  app.get('/v1/tools', { preHandler: authenticate }, async () => ({
    tools: engine.tools.list().map((t) => ({
      name: t.name,
      connector: t.connector,
      status: t.status,
      description: t.definition.description ?? null,
      metadata: t.metadata,
      cost: t.cost,
      definitionHash: t.definitionHash,
      reversal: t.reversal?.tool ?? null,
      inputSchema: t.definition.inputSchema,
    })),
  }));

  app.post('/v1/tools/:name/approve', { preHandler: authenticate }, async (req) => {
    requireHuman(req, [admins], 'approving tool definitions');
    parseInput(noBody, req.body ?? {});
    const t = await engine.tools.approveDefinition(
      (req.params as { name: string }).name,
      actorOf(principalOf(req)),
    );
    return { name: t.name, status: t.status, definitionHash: t.definitionHash };
  });

  app.get('/v1/budgets', { preHandler: authenticate }, async (req) => {
    requireHuman(req, undefined, 'reading budgets');
    return { budgets: await engine.budgets.usage(), runs: await engine.budgets.runUsage() };
  });

  app.get('/v1/audit/verify', { preHandler: authenticate }, async (req) => {
    requireHuman(req, [auditors, admins], 'verifying the audit log');
    return engine.store.audit.verify();
  });
}
