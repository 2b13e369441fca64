import type { Human } from '../identity/humans.js';
import type { Agent } from '../identity/agents.js';
import type { KillSwitches } from '../intervention/kill-switches.js';
import type { Decision, DecisionCheck } from '../policy/decide.js';
import type { Executor } from '../store/db.js';
import type { RegisteredTool, ToolRegistry } from '../tools/tool-registry.js';
import { DEFAULT_ACCESS_GROUPS, isAdmin } from '../identity/access.js';
import type { AccessGroups } from '../identity/access.js';

/** What the guards read. */
export interface GuardDeps {
  killSwitches: KillSwitches;
  tools: ToolRegistry;
  /** The configured admins group (an admin may reverse a paused or revoked agent's action). */
  groups?: Pick<AccessGroups, 'admins'>;
}

/** What the guards are asked about. */
export interface GuardParams {
  agent: Agent;
  tool: RegisteredTool;
  policyHash: string;
  /** The action reverses this one (an undo). */
  reversalOf: string | undefined;
  /** The human who asked for the reversal. */
  requestedBy: Human | undefined;
}

/** The guards' checks, and their deny when one failed. */
export interface GuardResult {
  checks: DecisionCheck[];
  deny?: Decision;
  /** The admin for whom the agent-status guard was waived (a reversal of a paused or revoked agent's action). */
  waiver?: string;
}

/** A deny made before policy ran (guard): same shape as a policy decision so receipts read alike. */
function guardDeny(id: string, reason: string, checks: DecisionCheck[], policyHash: string): Decision {
  return { outcome: 'deny', policies: [id], reasons: [reason], checks, risk: 0, policyHash, errors: [] };
}

/**
 * The checks that run before policy, in order, stopping at the first failure: the agent is active, no kill switch
 * covers it, the tool's definition is the pinned one. An admin's reversal of a paused or revoked agent's action
 * skips the agent-status check (recorded as `skip` with the admin's name); the others still run.
 */
export async function runGuards(tx: Executor, d: GuardDeps, p: GuardParams): Promise<GuardResult> {
  const { agent, tool, policyHash } = p;
  const checks: DecisionCheck[] = [];
  const waiver =
    agent.status !== 'active' &&
    p.reversalOf &&
    p.requestedBy &&
    isAdmin(p.requestedBy, d.groups ?? DEFAULT_ACCESS_GROUPS)
      ? p.requestedBy.id
      : undefined;
  const done = (deny?: Decision): GuardResult => ({
    checks,
    ...(deny ? { deny } : {}),
    ...(waiver ? { waiver } : {}),
  });

  if (waiver) {
    checks.push({
      name: 'agent-status',
      result: 'skip',
      detail: `agent is ${agent.status}; reversal of ${p.reversalOf} requested by admin ${waiver}`,
    });
  } else if (agent.status !== 'active') {
    checks.push({ name: 'agent-status', result: 'fail', detail: `agent is ${agent.status}` });
    return done(
      guardDeny(`builtin:agent-${agent.status}`, `agent ${agent.id} is ${agent.status}`, checks, policyHash),
    );
  } else {
    checks.push({ name: 'agent-status', result: 'pass', detail: 'active' });
  }

  const sw = await d.killSwitches.engagedFor(tx, agent);
  if (sw) {
    checks.push({ name: 'kill-switch', result: 'fail', detail: `${sw.scope} engaged` });
    return done(
      guardDeny(
        `killswitch:${sw.scope}`,
        `kill switch ${sw.scope} is engaged${sw.reason ? `: ${sw.reason}` : ''}`,
        checks,
        policyHash,
      ),
    );
  }
  checks.push({ name: 'kill-switch', result: 'pass', detail: 'none engaged' });

  const current = await d.tools.currentStatus(tx, tool.name);
  if (!current || current.status !== 'active' || current.approvedHash !== tool.definitionHash) {
    checks.push({
      name: 'tool-pin',
      result: 'fail',
      detail: 'definition changed upstream; quarantined until an admin approves it',
    });
    return done(
      guardDeny('builtin:tool-quarantined', `tool ${tool.name} is quarantined`, checks, policyHash),
    );
  }
  checks.push({
    name: 'tool-pin',
    result: 'pass',
    detail: `definition ${tool.definitionHash.slice(0, 12)} pinned`,
  });
  return done();
}
