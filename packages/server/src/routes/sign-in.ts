import type { FastifyInstance, preHandlerAsyncHookHandler } from 'fastify';
import { z } from 'zod';
import {
  AuthenticationError,
  ForbiddenError,
  SignInService,
  parseDurationSec,
  parseInput,
} from '@autonomy-os/core';
import type { Engine } from '@autonomy-os/core';
import { principalOf } from '../auth.js';
import type { RequestGuards } from '../guards.js';

/** The body of `POST /v1/auth/sessions`. */
export const signInBody = z
  .object({
    human: z.string().min(1).max(200),
    password: z.string().min(1).max(1024),
  })
  .strict();

/**
 * `/v1/auth/sessions`: password sign-in of humans and signing out. Sign-in needs no bearer token; a request that
 * carries one is refused (an agent's token never becomes a human session). Each failed sign-in counts against the
 * source address like a bad token (`server.authFailures`), and is checked before the password is.
 */
export function registerSignInRoutes(
  app: FastifyInstance,
  engine: Engine,
  authenticate: preHandlerAsyncHookHandler,
  guards: RequestGuards,
): void {
  const { store, config } = engine;
  const signIn = new SignInService({
    db: store.db,
    audit: store.audit,
    agents: store.agents,
    humans: store.humans,
    tokens: store.tokens,
    sessionTtlSec: parseDurationSec(config.server.signIn.sessionTtl, 'config.server.signIn.sessionTtl'),
  });

  app.post('/v1/auth/sessions', async (req, reply) => {
    if (req.headers.authorization !== undefined)
      throw new ForbiddenError('sign-in takes a human id and password, not a bearer token');
    await guards.authFailures.check(req.ip);
    const body = parseInput(signInBody, req.body ?? {});
    try {
      const s = await signIn.signIn(body, req.ip);
      void reply.code(201);
      return {
        token: s.token,
        tokenId: s.info.id,
        expiresAt: s.info.expiresAt,
        human: { id: s.human.id, displayName: s.human.displayName, groups: s.human.groups },
      };
    } catch (err) {
      if (err instanceof AuthenticationError) await guards.authFailures.fail(req.ip);
      throw err;
    }
  });

  // Signing out revokes the sign-in session token the request carries; API tokens are revoked by an operator.
  app.delete('/v1/auth/sessions/current', { preHandler: authenticate }, async (req, reply) => {
    const p = principalOf(req);
    const token =
      p.kind === 'human' && p.via === 'token' ? await store.tokens.get(p.credentialId) : undefined;
    if (token?.kind !== 'session')
      throw new ForbiddenError(
        'signing out ends a sign-in session; revoke API tokens with aos tokens revoke',
      );
    await store.tokens.revoke(token.id, `human:${p.id}`);
    void reply.code(204);
  });
}
