import type { FastifyRequest } from 'fastify';
import { ForbiddenError } from '@autonomy-os/core';
import type { Agent, Human, Principal } from '@autonomy-os/core';

/**
 * The token of an `Authorization: Bearer <token>` header. Any other scheme, or a bare token without one, is no
 * credential at all (401), so a client that forgot the scheme learns it at once rather than working by accident.
 */
export function bearerOf(req: FastifyRequest): string | undefined {
  const h = req.headers.authorization;
  if (!h) return undefined;
  return /^Bearer[ \t]+(\S+)[ \t]*$/i.exec(h)?.[1];
}

/** The authenticated principal (the `authenticate` preHandler ran). */
export function principalOf(req: FastifyRequest): Principal {
  if (!req.principal) throw new ForbiddenError('not authenticated');
  return req.principal;
}

/** The calling agent, or 403 for humans. */
export function requireAgent(req: FastifyRequest): Agent {
  const p = principalOf(req);
  if (p.kind !== 'agent') throw new ForbiddenError('this endpoint is for agents: use an agent token');
  return p.agent;
}

/** The calling human (optionally in one of `groups`), or 403. Agents never pass. */
export function requireHuman(req: FastifyRequest, groups?: readonly string[], what = 'this'): Human {
  const p = principalOf(req);
  if (p.kind !== 'human') throw new ForbiddenError(`agents cannot do ${what}; a human token is required`);
  if (groups && !groups.some((g) => p.human.groups.includes(g))) {
    throw new ForbiddenError(`${what} needs membership of ${groups.join(' or ')}`);
  }
  return p.human;
}
