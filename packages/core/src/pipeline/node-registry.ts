import crypto from 'node:crypto';
import os from 'node:os';
import type { AuditLog } from '../audit/audit-log.js';
import type { Db } from '../store/db.js';
import { wakeRunOfAction } from '../workflows/run-wake.js';

/** How long a node may go without a heartbeat before its in-flight actions are declared of unknown outcome. */
export const NODE_STALE_MS = 10_000;

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * This process as a node of the cluster: a row with a heartbeat. An action marked `executing` by a node that died
 * (its process is gone on this host, or its heartbeat is stale) is marked `unknown_outcome`: the upstream may or may
 * not have acted, so it is flagged for a human, never retried.
 */
export class NodeRegistry {
  readonly id = `${os.hostname()}/${process.pid}/${crypto.randomBytes(3).toString('hex')}`;

  constructor(
    private readonly db: Db,
    private readonly audit: AuditLog,
  ) {}

  async register(): Promise<void> {
    const now = Date.now();
    await this.db.run(
      'INSERT INTO nodes (id, started_at, heartbeat_ms) VALUES (?, ?, ?) ON CONFLICT (id) DO UPDATE SET heartbeat_ms = excluded.heartbeat_ms',
      [this.id, new Date(now).toISOString(), now],
    );
  }

  async heartbeat(): Promise<void> {
    await this.db.run('UPDATE nodes SET heartbeat_ms = ? WHERE id = ?', [Date.now(), this.id]);
  }

  async deregister(): Promise<void> {
    await this.db.run('DELETE FROM nodes WHERE id = ?', [this.id]);
  }

  private dead(nodeId: string | null, heartbeats: Map<string, number>, now: number): boolean {
    if (!nodeId || nodeId === this.id) return false;
    const [host, pid] = nodeId.split('/');
    if (host === os.hostname() && pid && !pidAlive(Number(pid))) return true;
    const hb = heartbeats.get(nodeId);
    return hb === undefined || now - hb > NODE_STALE_MS;
  }

  /** Marks actions left `executing` by dead nodes as `unknown_outcome`; answers their ids. */
  async recoverOrphans(now = Date.now()): Promise<string[]> {
    const executing = await this.db.all<{ id: string; node_id: string | null }>(
      "SELECT id, node_id FROM actions WHERE status = 'executing'",
    );
    if (executing.length === 0) return [];
    const heartbeats = new Map(
      (await this.db.all<{ id: string; heartbeat_ms: number }>('SELECT id, heartbeat_ms FROM nodes')).map(
        (r) => [r.id, Number(r.heartbeat_ms)],
      ),
    );
    const recovered: string[] = [];
    for (const a of executing) {
      if (!this.dead(a.node_id, heartbeats, now)) continue;
      await this.db.tx(async (tx) => {
        // The workflow step waiting on the action is woken to flag it for its owner.
        await wakeRunOfAction(tx, a.id, now);
        const res = await tx.run(
          "UPDATE actions SET status = 'unknown_outcome', updated_at = ? WHERE id = ? AND status = 'executing'",
          [new Date(now).toISOString(), a.id],
        );
        if (res.changes === 1) {
          await this.audit.append(tx, {
            actor: 'system',
            type: 'action.unknown_outcome',
            subject: `action:${a.id}`,
            payload: {
              actionId: a.id,
              node: a.node_id,
              reason: 'the node executing it stopped before recording the outcome; not retried',
            },
          });
          recovered.push(a.id);
        }
      });
    }
    return recovered;
  }
}
