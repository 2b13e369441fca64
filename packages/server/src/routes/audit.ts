import type { FastifyInstance, preHandlerAsyncHookHandler } from 'fastify';
import { exportBundle, parseInput } from '@autonomy-os/core';
import type { Engine } from '@autonomy-os/core';
import { requireHuman } from '../auth.js';
import { listQueries } from './list-queries.js';
import { noBody } from './no-body.js';
import { decodeCursor, encodeCursor } from './page-cursor.js';

/**
 * `/v1/audit`: search the whole log (paged on the server, newest first), the latest signed checkpoint, and an
 * offline-verifiable export bundle. Auditors and admins only, like `/v1/audit/verify`.
 */
export function registerAuditRoutes(
  app: FastifyInstance,
  engine: Engine,
  authenticate: preHandlerAsyncHookHandler,
): void {
  const { admins, auditors } = engine.config.groups;
  const { audit } = engine.store;

  app.get('/v1/audit', { preHandler: authenticate }, async (req) => {
    requireHuman(req, [auditors, admins], 'searching the audit log');
    const q = parseInput(listQueries.audit, req.query ?? {});
    const limit = q.limit ?? 100;
    const beforeSeq = q.cursor ? decodeCursor(q.cursor, ['number'] as const)[0] : undefined;
    const records = await audit.search({
      ...(q.agent ? { agent: q.agent } : {}),
      ...(q.tool ? { tool: q.tool } : {}),
      ...(q.type ? { type: q.type } : {}),
      ...(q.since ? { since: new Date(q.since).toISOString() } : {}),
      ...(q.until ? { until: new Date(q.until).toISOString() } : {}),
      ...(beforeSeq !== undefined ? { beforeSeq } : {}),
      limit,
    });
    const last = records.length === limit ? records[records.length - 1] : undefined;
    return { records, nextCursor: last ? encodeCursor([last.seq]) : null };
  });

  app.get('/v1/audit/checkpoint', { preHandler: authenticate }, async (req) => {
    requireHuman(req, [auditors, admins], 'reading audit checkpoints');
    const stored = await audit.storedCheckpoints();
    const head = await audit.head();
    return { checkpoint: stored[stored.length - 1] ?? null, head };
  });

  // POST: exporting signs (and stores) a checkpoint over the log as it is now, which the bundle is verified against.
  app.post('/v1/audit/export', { preHandler: authenticate }, async (req, reply) => {
    requireHuman(req, [auditors, admins], 'exporting the audit log');
    parseInput(noBody, req.body ?? {});
    const bundle = await exportBundle(audit, engine.store.signingKey());
    void reply.header(
      'content-disposition',
      `attachment; filename="aos-audit-${bundle.checkpoint.treeSize}.json"`,
    );
    return bundle;
  });
}
