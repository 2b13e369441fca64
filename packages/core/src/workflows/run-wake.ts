import type { Executor, Statement } from '../store/db.js';

/** Sets the run's wake to now (unless already due) and bumps its wake sequence, inside the caller's transaction. */
const WAKE_SET = `wake_at = CASE WHEN wake_at IS NULL OR wake_at > ? THEN ? ELSE wake_at END, wake_seq = wake_seq + 1`;
const ACTIVE = `status IN ('running', 'compensating')`;

/**
 * Wakes a run after an outside event that can move it (a vote, a signal, a task finished, a resume...), in the
 * transaction that records the event: the scheduler claims it on its next tick (at once on PostgreSQL, where the
 * change NOTIFYs every node). Bumping `wake_seq` keeps a node that is advancing the run meanwhile from overwriting
 * the wake with the one it computed before the event.
 */
export async function wakeRun(tx: Executor, runId: string, nowMs = Date.now()): Promise<void> {
  const w = wakeRunStatement(runId, nowMs);
  await tx.run(w.sql, w.params);
}

/** {@link wakeRun}'s statement, for a caller that runs it with other writes ({@link Db.runIndependent}). */
export function wakeRunStatement(runId: string, nowMs = Date.now()): Statement {
  return {
    sql: `UPDATE workflow_runs SET ${WAKE_SET} WHERE id = ? AND ${ACTIVE}`,
    params: [nowMs, nowMs, runId],
  };
}

/** Wakes the run that submitted a pipeline action (workflow actions carry the session `wf:<runId>`). */
export async function wakeRunOfAction(tx: Executor, actionId: string, nowMs = Date.now()): Promise<void> {
  const row = await tx.get<{ session_id: string | null }>('SELECT session_id FROM actions WHERE id = ?', [
    actionId,
  ]);
  await wakeRunOfSession(tx, row?.session_id ?? null, nowMs);
}

/** {@link wakeRunOfAction} when the action's session id is already in hand (it never changes once recorded). */
export async function wakeRunOfSession(
  tx: Executor,
  sessionId: string | null,
  nowMs = Date.now(),
): Promise<void> {
  for (const w of wakeRunOfSessionStatements(sessionId, nowMs)) await tx.run(w.sql, w.params);
}

/** {@link wakeRunOfSession}'s statements: none outside a workflow run's session. */
export function wakeRunOfSessionStatements(sessionId: string | null, nowMs = Date.now()): Statement[] {
  return sessionId?.startsWith('wf:') ? [wakeRunStatement(sessionId.slice(3), nowMs)] : [];
}

/** Wakes every run an intervention holds (a kill switch changed, an agent's status changed or an agent joined). */
export async function wakeHeldRuns(tx: Executor, nowMs = Date.now()): Promise<void> {
  await tx.run(`UPDATE workflow_runs SET ${WAKE_SET} WHERE held = 1 AND ${ACTIVE}`, [nowMs, nowMs]);
}

/** Wakes the runs queued for the resource leases a holder (`<runId>:<stepId>`) or a run is about to free. */
export async function wakeLeaseWaiters(
  tx: Executor,
  freed: { holder: string } | { runId: string },
  nowMs = Date.now(),
): Promise<void> {
  const [col, v] = 'holder' in freed ? ['holder', freed.holder] : ['run_id', freed.runId];
  await tx.run(
    `UPDATE workflow_runs SET ${WAKE_SET} WHERE ${ACTIVE} AND id IN
       (SELECT w.run_id FROM resource_waiters w JOIN resource_leases l ON l.key = w.key WHERE l.${col} = ?)`,
    [nowMs, nowMs, v],
  );
}
