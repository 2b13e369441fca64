import type { Db } from '../store/db.js';

/** Point-in-time figures `/metrics` reports as gauges, read from the shared store (the same on every node). */
export interface GovernanceGauges {
  approvalsPending: number;
  /** Age in seconds of the oldest pending approval; 0 when none waits. */
  oldestPendingApprovalSec: number;
  /** Workflow runs by status. */
  runsByStatus: Record<string, number>;
}

/** Reads {@link GovernanceGauges} in two small aggregate queries. */
export async function readGovernanceGauges(db: Db, now = Date.now()): Promise<GovernanceGauges> {
  const pending = await db.get<{ n: number | string; oldest: string | null }>(
    "SELECT COUNT(*) AS n, MIN(created_at) AS oldest FROM approvals WHERE status = 'pending'",
  );
  const runs = await db.all<{ status: string; n: number | string }>(
    'SELECT status, COUNT(*) AS n FROM workflow_runs GROUP BY status',
  );
  const oldest = pending?.oldest ? Date.parse(pending.oldest) : undefined;
  return {
    approvalsPending: Number(pending?.n ?? 0),
    oldestPendingApprovalSec: oldest === undefined ? 0 : Math.max(0, (now - oldest) / 1000),
    runsByStatus: Object.fromEntries(runs.map((r) => [r.status, Number(r.n)])),
  };
}
