import type { AosConfig } from '../config/config.js';
import { parseDurationSec } from '../config/duration.js';
import { ConflictError, ForbiddenError, UserError } from '../errors.js';
import { isAdmin } from '../identity/access.js';
import type { Agent } from '../identity/agents.js';
import type { Human } from '../identity/humans.js';
import type { Store } from '../store/open-store.js';
import { EvalRunStore } from './eval-run-store.js';

/** What one gating suite showed. */
export interface SuiteGateStatus {
  suite: string;
  threshold: number;
  window: string;
  consecutive: number;
  /** The latest runs in the window, newest first (at most `consecutive`). */
  runs: { id: string; passRate: number; result: 'pass' | 'fail'; finishedAt: string }[];
  ok: boolean;
  /** What is missing, when not ok. */
  missing?: string;
}

/** Whether an agent may be promoted to a tier, and what is missing if not. */
export interface GateCheck {
  agentId: string;
  tier: number;
  ok: boolean;
  /** One sentence per missing piece (empty when ok). */
  missing: string[];
  suites: SuiteGateStatus[];
}

/**
 * Checks the gates of every tier from the agent's next one up to `tier` (a promotion from 1 to 3 must earn 2 and
 * 3). A tier with no gate configured is missing, never waved through: promotion is earned.
 */
export async function checkGates(
  deps: { store: Pick<Store, 'db' | 'audit'>; config: Pick<AosConfig, 'evals'> },
  agent: Agent,
  tier: number,
  now = new Date(),
): Promise<GateCheck> {
  const runs = new EvalRunStore(deps.store.db, deps.store.audit);
  const missing: string[] = [];
  const suites: SuiteGateStatus[] = [];
  for (let t = agent.tier + 1; t <= tier; t++) {
    const gate = deps.config.evals.gates[agent.id]?.[String(t) as '1' | '2' | '3'];
    if (!gate) {
      missing.push(`no gating suite is configured for tier ${t} (evals.gates.${agent.id}.${t})`);
      continue;
    }
    const since = new Date(now.getTime() - parseDurationSec(gate.window, 'evals.gates.window') * 1000);
    for (const suite of gate.suites) {
      const latest = await runs.list({
        agentId: agent.id,
        suite,
        since: since.toISOString(),
        limit: gate.consecutive,
      });
      const threshold = gate.threshold;
      const good = (r: (typeof latest)[number]) =>
        r.result === 'pass' && (threshold === undefined || r.passRate >= threshold);
      const status: SuiteGateStatus = {
        suite,
        threshold: threshold ?? latest[0]?.threshold ?? 0,
        window: gate.window,
        consecutive: gate.consecutive,
        runs: latest.map((r) => ({
          id: r.id,
          passRate: r.passRate,
          result: r.result,
          finishedAt: r.finishedAt,
        })),
        ok: latest.length >= gate.consecutive && latest.every(good),
      };
      if (!status.ok) {
        const bad = latest.find((r) => !good(r));
        status.missing =
          latest.length < gate.consecutive
            ? `suite ${suite}: ${latest.length} of ${gate.consecutive} passing run(s) needed in the last ${gate.window} for tier ${t}`
            : `suite ${suite}: run ${bad?.id} scored ${bad?.passRate.toFixed(1)}% (${bad?.result}), below the gate for tier ${t}${threshold !== undefined ? ` (${threshold.toFixed(1)}%)` : ''}`;
        missing.push(status.missing);
      }
      suites.push(status);
    }
  }
  return { agentId: agent.id, tier, ok: missing.length === 0, missing, suites };
}

/** The refusal of a promotion, naming everything that is missing. */
export class PromotionRefusedError extends ConflictError {
  constructor(readonly check: GateCheck) {
    super(`promotion of ${check.agentId} to tier ${check.tier} refused: ${check.missing.join('; ')}`, {
      field: 'tier',
    });
  }
}

/** Options for {@link promoteAgent}. */
export interface PromoteAgentParams {
  agentId: string;
  tier: number | string;
  /** The admin asking: must be in the admins group and not the agent's owner. */
  by: Human;
  /** The audit actor (`human:<id>`). */
  actor: string;
  reason?: string;
}

/**
 * Changes an agent's tier as an admin other than its owner. Raising it needs every gate between (see
 * {@link checkGates}); a refusal is audited and names what is missing. Lowering it needs no gate.
 */
export async function promoteAgent(
  deps: { store: Store; config: Pick<AosConfig, 'evals' | 'groups'> },
  p: PromoteAgentParams,
): Promise<{ agent: Agent; check?: GateCheck }> {
  const tier = Number(p.tier);
  if (!Number.isInteger(tier) || tier < 0 || tier > 3)
    throw new UserError('must be 0, 1, 2 or 3', { field: 'tier' });
  if (!isAdmin(p.by, deps.config.groups)) throw new ForbiddenError('changing a tier needs an admin');
  const agent = await deps.store.agents.require(p.agentId, 'agent');
  if (agent.owner === p.by.id)
    throw new ForbiddenError(
      `${p.by.id} owns ${agent.id}: an admin other than the agent's owner changes its tier`,
    );
  if (tier <= agent.tier) {
    return {
      agent: await deps.store.agents.setTier(agent.id, tier, p.actor, p.reason ?? 'demoted by an admin'),
    };
  }
  const check = await checkGates(deps, agent, tier);
  if (!check.ok) {
    await deps.store.audit.record({
      actor: p.actor,
      type: 'agent.promotion_refused',
      subject: `agent:${agent.id}`,
      payload: { from: agent.tier, to: tier, missing: check.missing },
    });
    throw new PromotionRefusedError(check);
  }
  const evidence = check.suites.flatMap((s) => s.runs.map((r) => r.id));
  const promoted = await deps.store.agents.setTier(
    agent.id,
    tier,
    p.actor,
    `${p.reason ? `${p.reason}; ` : ''}gates passed: ${check.suites.map((s) => s.suite).join(', ')} (runs ${evidence.join(', ')})`,
  );
  return { agent: promoted, check };
}
