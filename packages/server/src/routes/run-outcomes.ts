import type { FastifyInstance, preHandlerAsyncHookHandler } from 'fastify';
import { z } from 'zod';
import { OUTCOME_DECISIONS, parseInput } from '@autonomy-os/core';
import type { Engine, OutcomeDecision } from '@autonomy-os/core';
import { requireHuman } from '../auth.js';

/** The body of `POST /v1/runs/:id/steps/:step/resolve` (also published in the OpenAPI document). */
export const resolveOutcomeBody = z
  .object({
    outcome: z.enum(OUTCOME_DECISIONS as [OutcomeDecision, ...OutcomeDecision[]]),
    output: z.unknown().optional(),
    comment: z.string().max(4000).optional(),
  })
  .strict();

/**
 * `POST /v1/runs/:id/steps/:step/resolve`: the workflow's owner (or an admin) decides what became of a step's action
 * whose outcome is unknown after a crash. Humans only; the engine checks who may (403) and that the step waits for
 * such a decision (409).
 */
export function registerRunOutcomeRoutes(
  app: FastifyInstance,
  engine: Engine,
  authenticate: preHandlerAsyncHookHandler,
): void {
  app.post('/v1/runs/:id/steps/:step/resolve', { preHandler: authenticate }, async (req) => {
    const human = requireHuman(req, undefined, 'resolving unknown outcomes');
    const p = req.params as { id: string; step: string };
    const b = parseInput(resolveOutcomeBody, req.body ?? {});
    return engine.workflows.resolveOutcome({
      runId: p.id,
      stepId: p.step,
      human,
      outcome: b.outcome,
      ...(b.output !== undefined ? { output: b.output } : {}),
      ...(b.comment !== undefined ? { comment: b.comment } : {}),
    });
  });
}
