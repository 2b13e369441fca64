import type { AuditLog } from '../audit/audit-log.js';
import { ConflictError, NotFoundError, UserError } from '../errors.js';
import type { EventBus } from '../events/event-bus.js';
import type { Db } from '../store/db.js';
import type { WorkflowDefinition } from './definition.js';
import { replay } from './history.js';
import type { WorkflowEvent } from './history.js';
import { publishRunEvents } from './run-events.js';
import { wakeRun } from './run-wake.js';
import type { RunStore, WorkflowRun } from './run-store.js';

/** What run-level intervention needs. */
export interface RunPausesDeps {
  db: Db;
  audit: AuditLog;
  runs: RunStore;
  events?: EventBus;
}

/**
 * Run-level intervention: a human holds one run (`run_paused`) and lets it go on (`run_resumed`). A paused run
 * starts no new step and submits nothing; steps already waiting keep waiting (their approvals stay pending) and
 * their outcomes are still recorded. Its status stays `running`; cancel still works. The events go into the run's
 * history, so replay rebuilds the pause on any node.
 */
export class RunPauses {
  constructor(private readonly d: RunPausesDeps) {}

  /** Pauses a running run; 409 when it is already paused or not running. Audited `workflow.run_paused`. */
  pause(runId: string, actor: string, reason?: string): Promise<WorkflowRun> {
    if (reason !== undefined && (typeof reason !== 'string' || reason.length > 500))
      throw new UserError('must be a string of at most 500 characters', { field: 'reason' });
    return this.change(runId, actor, { type: 'run_paused', actor, ...(reason ? { reason } : {}) });
  }

  /** Resumes a paused run; 409 when it is not paused or over. Audited `workflow.run_resumed`. */
  resume(runId: string, actor: string): Promise<WorkflowRun> {
    return this.change(runId, actor, { type: 'run_resumed', actor });
  }

  private async change(
    runId: string,
    actor: string,
    e: Extract<WorkflowEvent, { type: 'run_paused' | 'run_resumed' }>,
  ): Promise<WorkflowRun> {
    const workflow = await this.d.db.tx(async (tx) => {
      const run = await tx.get<{ status: string; workflow: string }>(
        `SELECT status, workflow FROM workflow_runs WHERE id = ?${this.d.db.forUpdate}`,
        [runId],
      );
      if (!run) throw new NotFoundError('run', runId, 'run');
      if (run.status !== 'running')
        throw new ConflictError(
          `run ${runId} is ${run.status}; only a running run can be paused or resumed`,
          {
            field: 'run',
          },
        );
      const def = (await this.d.runs.definition(runId, tx)) as WorkflowDefinition;
      const st = replay(def, await this.d.runs.events(runId, tx));
      if (e.type === 'run_paused' && st.paused)
        throw new ConflictError(`run ${runId} is already paused`, { field: 'run' });
      if (e.type === 'run_resumed' && !st.paused)
        throw new ConflictError(`run ${runId} is not paused`, { field: 'run' });
      const now = new Date().toISOString();
      await this.d.runs.append(tx, runId, [e], now);
      await tx.run('UPDATE workflow_runs SET updated_at = ? WHERE id = ?', [now, runId]);
      // A resumed run goes on at once; a paused one is woken too, so its wake is computed for the paused state.
      await wakeRun(tx, runId);
      await this.d.audit.append(tx, {
        actor,
        type: e.type === 'run_paused' ? 'workflow.run_paused' : 'workflow.run_resumed',
        subject: `run:${runId}`,
        payload: e.type === 'run_paused' ? { reason: e.reason ?? null } : {},
      });
      return run.workflow;
    });
    publishRunEvents(this.d.events, { id: runId, workflow }, [e], { status: 'running' });
    return (await this.d.runs.get(runId)) as WorkflowRun;
  }
}
