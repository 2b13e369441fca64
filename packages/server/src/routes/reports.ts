import type { FastifyInstance, preHandlerAsyncHookHandler } from 'fastify';
import { UserError, engineLeaderReport, reportSince } from '@autonomy-os/core';
import type { Engine } from '@autonomy-os/core';
import { requireHuman } from '../auth.js';

/** `GET /v1/reports/summary?since=7d`: the leader metrics `aos report` prints (any human). */
export function registerReportRoutes(
  app: FastifyInstance,
  engine: Engine,
  authenticate: preHandlerAsyncHookHandler,
): void {
  app.get('/v1/reports/summary', { preHandler: authenticate }, async (req) => {
    requireHuman(req, undefined, 'reading reports');
    const raw = (req.query as { since?: unknown }).since ?? '7d';
    const since = typeof raw === 'string' ? reportSince(raw) : undefined;
    if (!since)
      throw new UserError('must be a period like 7d, 24h or 30m, or an ISO date', { field: 'since' });
    return engineLeaderReport(engine, since);
  });
}
