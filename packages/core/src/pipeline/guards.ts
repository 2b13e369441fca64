import type { Human } from '../identity/humans.js';
import type { Agent, AgentRegistry } from '../identity/agents.js';
import type { KillSwitch, KillSwitches } from '../intervention/kill-switches.js';
import { stoppingSwitch } from '../intervention/kill-switches.js';
import type { SecurityViews } from '../intervention/security-view.js';
import type { Decision, DecisionCheck } from '../policy/decide.js';
import type { Executor, Statement } from '../store/db.js';
import type { RegisteredTool } from '../tools/tool-registry.js';
import { DEFAULT_ACCESS_GROUPS, isAdmin } from '../identity/access.js';
import type { AccessGroups } from '../identity/access.js';

/** What the guards read. */
export interface GuardDeps {
  agents: AgentRegistry;
  killSwitches: KillSwitches;
  /** The node's security views: while one holds the epoch a transaction reads, agent and switches come from it. */
  security?: SecurityViews | undefined;
  /** The configured admins group (an admin may reverse a paused or revoked agent's action). */
  groups?: Pick<AccessGroups, 'admins'>;
}

/** What the guards judge, as the decision's transaction sees the store: see {@link readGuardFacts}. */
export interface GuardFacts {
  /** The agent as stored now (the caller's copy if the row is gone). */
  agent: Agent;
  /** The engaged kill switch that stops the agent: global first, then its role's, then its own. */
  killSwitch: KillSwitch | undefined;
  /** The tool's stored status and approved definition hash; undefined when the tool has no row. */
  tool: { status: RegisteredTool['status']; approvedHash: string } | undefined;
}

/**
 * Reads what the guards judge, inside the decision's transaction: the agent, the kill switch that stops it, and
 * the tool's pin. One statement reads the security epoch with the tool's row. The database bumps the epoch on every
 * change to an agent and to a kill switch (migrations 13 and 15), so when this node holds a view of the epoch the
 * transaction sees ({@link SecurityViews.held}), the agent and the engaged switches are taken from it: they are what
 * the store holds now. Otherwise (the epoch moved, or the view is too old) two more statements read them in the
 * transaction, as before views existed. A pause, a revocation or a switch made by any node is seen by the next
 * decision either way. A decision read outside a transaction (written alone, on PostgreSQL) read a committed epoch,
 * so it makes the view of that epoch when the node holds none ({@link SecurityViews.of}).
 */
export async function readGuardFacts(
  tx: Executor,
  d: GuardDeps,
  agent: Agent,
  toolName: string,
): Promise<GuardFacts> {
  const read = guardFactsRead(toolName);
  return guardFactsFrom(tx, d, agent, await tx.get(read.sql, read.params));
}

/** {@link readGuardFacts}'s first statement: the security epoch with the tool's row, for reading with others. */
export function guardFactsRead(toolName: string): Statement {
  return {
    sql: 'SELECT e.n AS epoch, t.status AS status, t.approved_hash AS approved_hash FROM security_epoch e LEFT JOIN tools t ON t.name = ? WHERE e.id = 1',
    params: [toolName],
  };
}

/**
 * A query that answers a row only while the security epoch and the tool's status and pinned hash are still what
 * {@link guardFactsRead} answered (`read`): for a decision read outside a transaction and written alone, so a kill
 * switch, pause, revocation or quarantine committed in between is not missed ({@link Db.writeAlone}'s `require`).
 */
export function guardFactsStill(toolName: string, read: Record<string, unknown>): Statement {
  const row = read as { epoch: number | string; status: string | null; approved_hash: string | null };
  return {
    sql: 'SELECT 1 FROM security_epoch e LEFT JOIN tools t ON t.name = ? WHERE e.id = 1 AND e.n = ? AND t.status IS NOT DISTINCT FROM ? AND t.approved_hash IS NOT DISTINCT FROM ?',
    params: [toolName, Number(row.epoch), row.status, row.approved_hash],
  };
}

/** The rest of {@link readGuardFacts}, from the row its first statement ({@link guardFactsRead}) answered. */
export async function guardFactsFrom(
  tx: Executor,
  d: GuardDeps,
  agent: Agent,
  read: Record<string, unknown> | undefined,
  /** `read` was made outside any transaction, so its epoch is committed: the node's view of it may be made now. */
  committed = false,
): Promise<GuardFacts> {
  const row = read as
    | { epoch: number | string; status: RegisteredTool['status'] | null; approved_hash: string | null }
    | undefined;
  if (!row) throw new Error('security_epoch row missing');
  const tool =
    row.status === null || row.approved_hash === null
      ? undefined
      : { status: row.status, approvedHash: row.approved_hash };
  const view = committed ? d.security?.of(Number(row.epoch)) : d.security?.held(Number(row.epoch));
  if (view && d.security) {
    const [current, engaged] = await Promise.all([
      d.security.agent(view, agent.id),
      d.security.switches(view),
    ]);
    const now = current ?? agent;
    return { agent: now, killSwitch: stoppingSwitch(engaged, now), tool };
  }
  const now = (await d.agents.get(agent.id, tx)) ?? agent;
  return { agent: now, killSwitch: await d.killSwitches.engagedFor(tx, now), tool };
}

/** What the guards are asked about. */
export interface GuardParams {
  /** What the decision's transaction read ({@link readGuardFacts}). */
  facts: GuardFacts;
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
export function runGuards(d: Pick<GuardDeps, 'groups'>, p: GuardParams): GuardResult {
  const { tool, policyHash } = p;
  const { agent } = p.facts;
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

  const sw = p.facts.killSwitch;
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

  const current = p.facts.tool;
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
