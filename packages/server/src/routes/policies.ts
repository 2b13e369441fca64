import path from 'node:path';
import { z } from 'zod';
import type { FastifyInstance, preHandlerAsyncHookHandler } from 'fastify';
import {
  parseDurationSec,
  parseInput,
  policyBundleFromTexts,
  readCedarFiles,
  replayDecisions,
} from '@autonomy-os/core';
import type { CedarPolicySet, Engine } from '@autonomy-os/core';
import { requireHuman } from '../auth.js';

const file = z
  .object({
    file: z
      .string()
      .regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,99}\.cedar$/, { error: 'must be a file name ending in .cedar' }),
    text: z.string().max(1_000_000, 'must be at most 1,000,000 characters'),
  })
  .strict();

/** `POST /v1/policies/replay`: a proposed set (permits and approval rules) and how far back to replay it. */
export const replayRequestSchema = z
  .object({
    policies: z.array(file).max(200, 'must list at most 200 files'),
    approvals: z.array(file).max(200, 'must list at most 200 files').default([]),
    days: z
      .number({ error: 'must be a whole number of days 1-366' })
      .int('must be a whole number of days 1-366')
      .min(1, 'must be a whole number of days 1-366')
      .max(366, 'must be a whole number of days 1-366')
      .default(7),
  })
  .strict();

const summary = (set: CedarPolicySet) =>
  set.policies.map((p) => ({ id: p.id, effect: p.effect, file: p.file, annotations: p.annotations }));

/**
 * `/v1/policies`: the active set (its hash, policies and source texts), and a replay of the recorded decisions of
 * the last N days under a proposed set (`aos policy replay`): nothing is written or deployed.
 */
export function registerPolicyRoutes(
  app: FastifyInstance,
  engine: Engine,
  authenticate: preHandlerAsyncHookHandler,
): void {
  const { admins, auditors } = engine.config.groups;

  app.get('/v1/policies', { preHandler: authenticate }, async (req) => {
    requireHuman(req, undefined, 'reading policies');
    const bundle = engine.policies();
    const dir = engine.config.policies;
    return {
      hash: bundle.hash,
      source: bundle.source,
      permits: summary(bundle.permits),
      approvals: summary(bundle.approvals),
      // The texts as they are on disk now, to start a proposal from (what is in force is named by `hash`).
      files: dir
        ? {
            policies: readCedarFiles(dir),
            approvals: readCedarFiles(path.join(dir, 'approvals')),
          }
        : { policies: [], approvals: [] },
    };
  });

  app.post('/v1/policies/replay', { preHandler: authenticate }, async (req) => {
    requireHuman(req, [admins, auditors], 'replaying policies');
    const body = parseInput(replayRequestSchema, req.body ?? {});
    const bundle = policyBundleFromTexts(body.policies, body.approvals, 'proposed');
    const { config } = engine;
    const since = new Date(Date.now() - body.days * 86_400_000).toISOString();
    const report = await replayDecisions({
      audit: engine.store.audit,
      bundle,
      since,
      options: {
        productionEnvironments: config.productionEnvironments,
        defaultApprovalGroup: config.approvals.defaultGroup,
        defaultExpirySec: parseDurationSec(config.approvals.defaultExpiry, 'config.approvals.defaultExpiry'),
      },
    });
    return { ...report, since, activeHash: engine.policies().hash };
  });
}
