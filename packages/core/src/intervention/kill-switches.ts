import { z } from 'zod';
import type { AuditLog } from '../audit/audit-log.js';
import type { Db, Executor } from '../store/db.js';
import { parseInput } from '../validation.js';
import { wakeHeldRuns } from '../workflows/run-wake.js';

/** An engaged or released switch. */
export interface KillSwitch {
  /** `global`, `role:<role>` or `agent:<id>`. */
  scope: string;
  active: boolean;
  reason: string | null;
  setBy: string;
  setAt: string;
}

const scopeSchema = z
  .string()
  .regex(
    /^(global|role:[a-z0-9][a-z0-9._-]{0,63}|agent:[a-z0-9][a-z0-9._-]{0,63})$/,
    'must be global, role:<role> or agent:<id>',
  );

interface Row {
  scope: string;
  active: number;
  reason: string | null;
  set_by: string;
  set_at: string;
}

const toSwitch = (r: Row): KillSwitch => ({
  scope: r.scope,
  active: !!Number(r.active),
  reason: r.reason,
  setBy: r.set_by,
  setAt: r.set_at,
});

/**
 * Kill switches: stop every action globally, for a role, or for one agent. The pipeline reads them from the store
 * inside every decision transaction, so a change made on any node holds on every node from the next action on.
 */
export class KillSwitches {
  constructor(
    private readonly db: Db,
    private readonly audit: AuditLog,
  ) {}

  /** Engages or releases a switch; audited. */
  async set(
    input: { scope: string; active: boolean; reason?: string | undefined },
    actor: string,
  ): Promise<KillSwitch> {
    const scope = parseInput(scopeSchema, input.scope, 'scope');
    const now = new Date().toISOString();
    return this.db.tx(async (tx) => {
      await tx.run(
        `INSERT INTO killswitches (scope, active, reason, set_by, set_at) VALUES (?, ?, ?, ?, ?)
         ON CONFLICT (scope) DO UPDATE SET active = excluded.active, reason = excluded.reason, set_by = excluded.set_by, set_at = excluded.set_at`,
        [scope, input.active ? 1 : 0, input.reason ?? null, actor, now],
      );
      // Workflow steps an intervention holds look again (a release lets them go on).
      await wakeHeldRuns(tx);
      await this.audit.append(tx, {
        actor,
        type: input.active ? 'killswitch.engaged' : 'killswitch.released',
        subject: scope === 'global' ? 'killswitch:global' : `killswitch:${scope}`,
        payload: { scope, ...(input.reason ? { reason: input.reason } : {}) },
      });
      return { scope, active: input.active, reason: input.reason ?? null, setBy: actor, setAt: now };
    });
  }

  async list(): Promise<KillSwitch[]> {
    return (await this.db.all<Row>('SELECT * FROM killswitches ORDER BY scope')).map(toSwitch);
  }

  /** The engaged switch that stops this agent, if any (global first, then role, then agent). */
  async engagedFor(tx: Executor, agent: { id: string; role: string }): Promise<KillSwitch | undefined> {
    const rows = await tx.all<Row>('SELECT * FROM killswitches WHERE active = 1 AND scope IN (?, ?, ?)', [
      'global',
      `role:${agent.role}`,
      `agent:${agent.id}`,
    ]);
    return stoppingSwitch(rows.map(toSwitch), agent);
  }

  /** Every engaged switch, in one read (few are engaged at once): {@link stoppingSwitch} picks one agent's. */
  async engaged(db: Executor = this.db): Promise<KillSwitch[]> {
    return (await db.all<Row>('SELECT * FROM killswitches WHERE active = 1 ORDER BY scope')).map(toSwitch);
  }
}

/** Of engaged switches, the one that stops `agent`: global first, then its role's, then its own. */
export function stoppingSwitch(
  engaged: readonly KillSwitch[],
  agent: { id: string; role: string },
): KillSwitch | undefined {
  for (const scope of ['global', `role:${agent.role}`, `agent:${agent.id}`]) {
    const sw = engaged.find((s) => s.active && s.scope === scope);
    if (sw) return sw;
  }
  return undefined;
}
