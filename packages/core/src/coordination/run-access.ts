import { ForbiddenError, NotFoundError } from '../errors.js';
import type { Principal } from '../identity/authenticate.js';
import type { Executor } from '../store/db.js';
import type { WorkflowDefinition } from '../workflows/definition.js';

/** Who may read and write a run's context and messages. */
export type RunParticipant = Pick<Principal, 'kind' | 'id'> & { role?: string; status?: string };

/** The principal as a participant (agents carry their role and status). */
export function participantOf(p: Principal): RunParticipant {
  return p.kind === 'agent'
    ? { kind: 'agent', id: p.id, role: p.agent.role, status: p.agent.status }
    : { kind: 'human', id: p.id };
}

/** The roles and acting agents a definition names (task and review roles, action and compensation agents). */
export function participantsOf(def: WorkflowDefinition): { roles: Set<string>; agents: Set<string> } {
  const roles = new Set<string>();
  const agents = new Set<string>();
  for (const step of Object.values(def.steps) as Record<string, unknown>[]) {
    if (typeof step.role === 'string') roles.add(step.role);
    if (typeof step.as === 'string') agents.add(step.as);
    for (const k of ['compensate', 'fallback']) {
      const as = (step[k] as { as?: unknown } | undefined)?.as;
      if (typeof as === 'string') agents.add(as);
    }
  }
  return { roles, agents };
}

/**
 * Checks that `who` works on the run: any human; an active agent whose role the run's workflow names (or that
 * acts in one of its steps, or holds one of its tasks). Answers the run's workflow definition.
 * @throws NotFoundError for an unknown run; ForbiddenError for an agent outside the run.
 */
export async function requireRunAccess(
  tx: Executor,
  runId: string,
  who: RunParticipant,
): Promise<WorkflowDefinition> {
  const row = await tx.get<{ definition_json: string }>(
    'SELECT definition_json FROM workflow_runs WHERE id = ?',
    [runId],
  );
  if (!row) throw new NotFoundError('run', runId, 'runId');
  const def = JSON.parse(row.definition_json) as WorkflowDefinition;
  if (who.kind === 'human') return def;
  if (who.status !== 'active') throw new ForbiddenError(`agent ${who.id} is not active`);
  const { roles, agents } = participantsOf(def);
  if ((who.role && roles.has(who.role)) || agents.has(who.id)) return def;
  const task = await tx.get('SELECT 1 AS one FROM workflow_tasks WHERE run_id = ? AND agent_id = ?', [
    runId,
    who.id,
  ]);
  if (task) return def;
  throw new ForbiddenError(`agent ${who.id} does not work on run ${runId}`);
}
