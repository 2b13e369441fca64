import crypto from 'node:crypto';
import type { AuditLog } from '../../audit/audit-log.js';
import { ConflictError, NotFoundError, UserError } from '../../errors.js';
import type { Db } from '../../store/db.js';
import type { RunState, WorkflowEvent } from '../history.js';
import { wakeRun } from '../run-wake.js';

const NAME = /^[A-Za-z][A-Za-z0-9_.:-]{0,99}$/;
const MAX_DATA = 64 * 1024;

/** A signal as stored in `workflow_signals`, before or after the engine records it in the run's history. */
export interface RunSignal {
  id: string;
  runId: string;
  name: string;
  data: unknown;
  sentBy: string;
  createdAt: string;
}

/**
 * Signals sent to runs. Anyone allowed may send at any time (no lease needed): the signal is stored, and the node
 * holding the run's lease records it in the history (`signal_received`), so replay never reads this table.
 */
export class SignalStore {
  constructor(private readonly o: { db: Db; audit: AuditLog }) {}

  /** Stores a signal for an active run, audited in the same transaction. A finished run is a 409. */
  async send(p: { runId: string; name: string; data: unknown; sentBy: string }): Promise<RunSignal> {
    if (typeof p.name !== 'string' || !NAME.test(p.name))
      throw new UserError('must be a signal name (letters, digits, _ . : -; at most 100)', { field: 'name' });
    const json = JSON.stringify(p.data ?? null);
    if (json.length > MAX_DATA)
      throw new UserError(`must be at most ${MAX_DATA} bytes of JSON`, { field: 'data' });
    const now = new Date().toISOString();
    // Time-ordered ids; the order signals were sent in is their `seq` (migration 17), which the store assigns.
    const id = `sig_${Date.now().toString(36).padStart(9, '0')}${crypto.randomBytes(6).toString('hex')}`;
    await this.o.db.tx(async (tx) => {
      const run = await tx.get<{ status: string }>(
        `SELECT status FROM workflow_runs WHERE id = ?${this.o.db.forUpdate}`,
        [p.runId],
      );
      if (!run) throw new NotFoundError('run', p.runId, 'run');
      if (run.status !== 'running')
        throw new ConflictError(`run ${p.runId} is ${run.status}; it takes no signals`, { field: 'run' });
      await tx.run(
        'INSERT INTO workflow_signals (id, run_id, name, data_json, sent_by, created_at) VALUES (?, ?, ?, ?, ?, ?)',
        [id, p.runId, p.name, json, p.sentBy, now],
      );
      await wakeRun(tx, p.runId);
      await this.o.audit.append(tx, {
        actor: p.sentBy,
        type: 'workflow.signal_sent',
        subject: `run:${p.runId}`,
        payload: { signalId: id, name: p.name },
      });
    });
    return { id, runId: p.runId, name: p.name, data: p.data ?? null, sentBy: p.sentBy, createdAt: now };
  }

  /** Events recording the run's signals that its history does not have yet, in the order they were sent. */
  async unrecorded(runId: string, st: RunState): Promise<WorkflowEvent[]> {
    const rows = await this.o.db.all<{ id: string; name: string; data_json: string; sent_by: string }>(
      'SELECT id, name, data_json, sent_by FROM workflow_signals WHERE run_id = ? ORDER BY seq',
      [runId],
    );
    const seen = new Set(st.signals.map((x) => x.id));
    return rows
      .filter((r) => !seen.has(r.id))
      .map((r) => ({
        type: 'signal_received',
        signalId: r.id,
        name: r.name,
        data: JSON.parse(r.data_json) as unknown,
        sentBy: r.sent_by,
      }));
  }
}
