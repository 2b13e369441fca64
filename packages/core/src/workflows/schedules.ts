import type { AuditLog } from '../audit/audit-log.js';
import type { Db, Executor } from '../store/db.js';
import type { WorkflowDefinition } from './definition.js';
import { cronTrigger, latestSlot } from './triggers.js';

/** What {@link fireSchedules} needs from the workflow engine. */
export interface ScheduleOptions {
  db: Db;
  audit: AuditLog;
  definitions: readonly WorkflowDefinition[];
  nowMs: number;
  /** Checks a run could start (input, roles, agents); throws a UserError when it cannot. */
  check(def: WorkflowDefinition, input: unknown): Promise<void>;
  /** Records the run in `tx` (run row, `run_started`, audit); answers its id. */
  begin(
    tx: Executor,
    p: { def: WorkflowDefinition; input: unknown; actor: string; triggerKey: string },
  ): Promise<string>;
}

/**
 * Fires due cron slots: for each workflow with a cron trigger, the latest slot after `workflow_schedules.last_slot_ms`
 * (and at or before now) starts one run, keyed `cron:<name>:<slotMs>`. The schedules row moves and the run is
 * recorded in one transaction, under the row's lock, so nodes firing at once start it once (the unique trigger key
 * backs that up). The first time a workflow is seen the schedule starts from now: missed history is never
 * back-filled, and after downtime only the latest missed slot runs. Answers the ids of the runs started.
 */
export async function fireSchedules(o: ScheduleOptions): Promise<string[]> {
  const started: string[] = [];
  for (const def of o.definitions) {
    const trigger = cronTrigger(def.triggers);
    if (!trigger) continue;
    const input = trigger.input ?? {};
    const slot = latestSlot(trigger.cron, o.nowMs);
    // A cheap look first (no lock): most ticks have nothing due.
    const seen = await o.db.get<{ last_slot_ms: number | string }>(
      'SELECT last_slot_ms FROM workflow_schedules WHERE workflow = ?',
      [def.name],
    );
    if (seen && slot <= Number(seen.last_slot_ms)) continue;
    let problem: string | undefined;
    try {
      if (seen) await o.check(def, input);
    } catch (err) {
      problem = (err as Error).message;
    }
    const id = await o.db.tx(async (tx) => {
      const row = await tx.get<{ last_slot_ms: number | string }>(
        `SELECT last_slot_ms FROM workflow_schedules WHERE workflow = ?${o.db.forUpdate}`,
        [def.name],
      );
      if (!row) {
        await tx.run(
          'INSERT INTO workflow_schedules (workflow, last_slot_ms) VALUES (?, ?) ON CONFLICT (workflow) DO NOTHING',
          [def.name, o.nowMs],
        );
        return undefined;
      }
      if (slot <= Number(row.last_slot_ms)) return undefined;
      await tx.run('UPDATE workflow_schedules SET last_slot_ms = ? WHERE workflow = ?', [slot, def.name]);
      if (problem !== undefined) {
        // Fail closed and say so once per slot, rather than retrying a run that cannot start every second.
        await o.audit.append(tx, {
          actor: `cron:${def.name}`,
          type: 'workflow.trigger_failed',
          subject: `workflow:${def.name}`,
          payload: { trigger: 'cron', slotMs: slot, error: problem },
        });
        return undefined;
      }
      return o.begin(tx, {
        def,
        input,
        actor: `cron:${def.name}`,
        triggerKey: `cron:${def.name}:${slot}`,
      });
    });
    if (id) started.push(id);
  }
  return started;
}
