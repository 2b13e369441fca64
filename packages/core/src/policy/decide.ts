import { parseDurationSec } from '../config/duration.js';
import type { ToolMetadata } from '../connectors/index.js';
import { isAuthorized, prepareCedarRequest } from './cedar/index.js';
import type { CedarPolicy, CedarPolicyError, CedarPolicySet } from './cedar/index.js';
import { cedarEntityStoreFor, cedarRequestOf } from './cedar-request.js';
import type { PolicyBundle } from './policy-bundle.js';

/** Everything a decision is made from. Pure data: the same input always gives the same decision. */
export interface DecisionInput {
  agent: { id: string; role: string; tier: number; owner: string; environments: readonly string[] };
  tool: {
    name: string;
    connector: string;
    metadata: ToolMetadata;
    /**
     * The tool's JSON Schema for its input. With it, input converts to Cedar by the declared types (a `number` is a
     * `decimal`, an `integer` a Long) and only declared arguments reach policies — what the load-time type check
     * assumed. Without it, values convert by how they look.
     */
    inputSchema?: Record<string, unknown> | undefined;
  };
  input: Record<string, unknown>;
  environment: string;
  reason?: string | undefined;
  /** The agent's own confidence, 0 to 1. */
  confidence?: number | undefined;
  /** What the agent already did in this session. */
  session: { tools: readonly string[]; readUntrusted: boolean; calls: number };
}

/** Settings the built-in rules need. */
export interface DecisionOptions {
  productionEnvironments: readonly string[];
  /** Group that approves tier-1 proposals when no approval rule names one. */
  defaultApprovalGroup: string;
  defaultExpirySec: number;
}

/** Who must approve, how many, by when, and who next if nobody does. */
export interface ApprovalRequirement {
  group: string;
  quorum: number;
  expirySec: number;
  /** Groups the request moves to, in order, each time it expires undecided; after the last, it is denied. */
  escalation: string[];
  /** The agent's owner may not approve (separation of duties). */
  barOwner: boolean;
  /** The rules that asked for approval. */
  policies: string[];
}

/** One check that ran, for the receipt. */
export interface DecisionCheck {
  name: string;
  result: 'pass' | 'fail' | 'approval' | 'skip';
  detail: string;
}

/** The outcome and its receipts. */
export interface Decision {
  outcome: 'allow' | 'approval' | 'deny';
  /** Ids of the policies and built-in rules that determined the outcome. */
  policies: string[];
  /** One sentence per determining rule. */
  reasons: string[];
  checks: DecisionCheck[];
  /** 0-100. */
  risk: number;
  /** Content hash of the policy bundle the decision was made under. */
  policyHash: string;
  approval?: ApprovalRequirement;
  /**
   * Policies whose conditions errored. None of them allowed anything: an errored forbid denied, an errored approval
   * rule asked for approval, an errored permit did not permit, an errored exemption did not exempt.
   */
  errors: CedarPolicyError[];
}

const RISK_BASE = { low: 10, medium: 40, high: 70 } as const;

/** A 0-100 risk score from the tool's class and the circumstances; given to policies as `context.risk`. */
export function riskScore(d: DecisionInput, production: boolean): number {
  let r: number = RISK_BASE[d.tool.metadata.risk];
  if (d.tool.metadata.effect === 'write' && d.tool.metadata.destructive) r += 15;
  if (production) r += 10;
  if (d.session.readUntrusted && d.tool.metadata.effect === 'write') r += 15;
  if (d.confidence !== undefined && d.confidence < 0.5) r += 10;
  return Math.min(100, r);
}

function approvalFromPolicies(policies: CedarPolicy[], options: DecisionOptions): ApprovalRequirement {
  const reqs = policies.map((p) => {
    const a = p.annotations;
    const group = a.approvers
      ? a.approvers.includes(':')
        ? a.approvers
        : `approvers:${a.approvers}`
      : options.defaultApprovalGroup;
    const quorum = a.quorum ? Math.max(1, Math.min(100, Number.parseInt(a.quorum, 10) || 1)) : 1;
    const expirySec = a.expires
      ? parseDurationSec(a.expires, `policy ${p.id} @expires`)
      : options.defaultExpirySec;
    const escalation = a.escalate
      ? a.escalate
          .split(',')
          .map((g) => g.trim())
          .filter(Boolean)
      : [];
    return {
      group,
      quorum,
      expirySec,
      escalation,
      barOwner: 'barOwner' in a && a.barOwner !== 'false',
      policies: [p.id],
    };
  });
  // Several rules matched: the one asking for the largest quorum governs (ties: first by id); bars accumulate.
  reqs.sort(
    (x, y) => y.quorum - x.quorum || (x.policies[0] as string).localeCompare(y.policies[0] as string),
  );
  const top = reqs[0] as ApprovalRequirement;
  if (reqs.length === 1) return top;
  return { ...top, barOwner: reqs.some((r) => r.barOwner), policies: reqs.flatMap((r) => r.policies) };
}

function messageOf(errors: readonly CedarPolicyError[], id: string): string {
  return errors.find((e) => e.policyId === id)?.message ?? 'error';
}

function describeFailure(err: unknown): string {
  // A UserError's message already starts with the field at fault (`input.amount: …`).
  return err instanceof Error ? err.message : String(err);
}

/** Each set's policy positions by id, built once per set so a lookup does not scan the set. */
const positions = new WeakMap<CedarPolicySet, Map<string, number[]>>();

/** The policies of `set` with these ids, in set order. */
function byIds(set: CedarPolicySet, ids: readonly string[]): CedarPolicy[] {
  if (ids.length === 0) return [];
  let at = positions.get(set);
  if (!at) {
    const index = new Map<string, number[]>();
    set.policies.forEach((p, i) => {
      const list = index.get(p.id);
      if (list) list.push(i);
      else index.set(p.id, [i]);
    });
    positions.set(set, index);
    at = index;
  }
  const found = new Set<number>();
  for (const id of ids) for (const i of at.get(id) ?? []) found.add(i);
  return [...found].sort((a, b) => a - b).map((i) => set.policies[i] as CedarPolicy);
}

/**
 * Decides one action. Order: environment and tier rules (built in), then the Cedar permit/forbid set (default deny,
 * forbid wins), then the approval rules. An error is never a reason to allow: a forbid whose condition errors denies,
 * an approval rule whose condition errors asks for approval, a permit whose condition errors does not permit; any
 * other failure inside evaluation (input Cedar cannot hold, a malformed request) is a deny (`builtin:policy-error`).
 */
export function decide(d: DecisionInput, bundle: PolicyBundle, options: DecisionOptions): Decision {
  const production = options.productionEnvironments.includes(d.environment);
  const risk = riskScore(d, production);
  const checks: DecisionCheck[] = [];
  const denies: { id: string; reason: string }[] = [];
  const approvalsFrom: { id: string; reason: string }[] = [];
  let approval: ApprovalRequirement | undefined;
  const write = d.tool.metadata.effect === 'write';

  const deny = (id: string, reason: string) => denies.push({ id, reason });

  if (!d.agent.environments.includes(d.environment)) {
    deny('builtin:environment', `agent ${d.agent.id} may not act in ${d.environment}`);
    checks.push({
      name: 'environment',
      result: 'fail',
      detail: `${d.environment} not in ${d.agent.environments.join(', ')}`,
    });
  } else {
    checks.push({ name: 'environment', result: 'pass', detail: `${d.environment} is allowed` });
  }

  const tierCheck = (result: DecisionCheck['result'], detail: string) =>
    checks.push({ name: 'tier', result, detail });
  if (d.agent.tier === 0 && write) {
    deny('builtin:tier-0-read-only', `tier 0 agents only read; ${d.tool.name} writes`);
    tierCheck('fail', 'tier 0 reads only');
  } else if (d.agent.tier === 1 && write) {
    approvalsFrom.push({
      id: 'builtin:tier-1-propose-only',
      reason: 'tier 1 agents propose writes for a human to approve',
    });
    tierCheck('approval', 'tier 1 writes are proposals');
  } else if (d.agent.tier === 2 && write && production) {
    deny('builtin:tier-2-non-production', `tier 2 agents do not write in production (${d.environment})`);
    tierCheck('fail', 'tier 2 writes only outside production');
  } else {
    tierCheck('pass', `tier ${d.agent.tier} may ${write ? 'write' : 'read'} in ${d.environment}`);
  }

  let permitIds: string[] = [];
  const errors: CedarPolicyError[] = [];
  try {
    // Decoded once for both sets (context, entities and ancestry are shared by the permit and approval passes); the
    // entities, which depend only on the agent and the tool, are decoded once for all decisions about them.
    const request = prepareCedarRequest(cedarRequestOf(d, risk, production), cedarEntityStoreFor(d));
    const res = isAuthorized(bundle.permits, request);
    errors.push(...res.errors);
    // An error is never a reason to allow: a forbid that could not be evaluated denies as if it matched, and a permit
    // that could not be evaluated does not permit.
    const erroredForbids = byIds(
      bundle.permits,
      res.errors.map((e) => e.policyId),
    ).filter((p) => p.effect === 'forbid');
    const erroredPermits = res.errors.filter((e) => !erroredForbids.some((p) => p.id === e.policyId));
    const unevaluated = erroredPermits.length
      ? `; ${erroredPermits.map((e) => e.policyId).join(', ')} errored and did not permit`
      : '';
    for (const p of erroredForbids) {
      deny(
        p.id,
        `forbid ${p.id} could not be evaluated (${messageOf(res.errors, p.id)}); denied (fail closed)`,
      );
    }
    if (erroredForbids.length > 0) {
      checks.push({
        name: 'policy',
        result: 'fail',
        detail: `forbid ${erroredForbids.map((p) => p.id).join(', ')} errored; denied (fail closed)`,
      });
    }
    if (res.decision === 'allow') {
      if (erroredForbids.length === 0) permitIds = res.determining;
      checks.push({
        name: 'policy',
        result: erroredForbids.length === 0 ? 'pass' : 'fail',
        detail: `permitted by ${res.determining.join(', ')}${unevaluated}`,
      });
    } else if (res.determining.length > 0) {
      for (const id of res.determining) deny(id, `forbidden by policy ${id}`);
      checks.push({ name: 'policy', result: 'fail', detail: `forbidden by ${res.determining.join(', ')}` });
    } else if (erroredForbids.length === 0) {
      deny('builtin:default-deny', `no policy permits ${d.tool.name}`);
      checks.push({
        name: 'policy',
        result: 'fail',
        detail: `no policy permits it (default deny)${unevaluated}`,
      });
    }
    if (denies.length === 0) {
      const ar = isAuthorized(bundle.approvals, request);
      errors.push(...ar.errors);
      // An approval rule that could not be evaluated asks for approval; an exemption (a forbid in the approval set)
      // that could not be evaluated does not exempt, which isAuthorized already gives.
      const exempt = ar.decision === 'deny' && ar.determining.length > 0;
      const erroredRules = exempt
        ? []
        : byIds(
            bundle.approvals,
            ar.errors.map((e) => e.policyId),
          ).filter((p) => p.effect === 'permit');
      const matched = ar.decision === 'allow' ? ar.determining : [];
      const rules = [...matched, ...erroredRules.map((p) => p.id)];
      if (rules.length > 0) {
        approval = approvalFromPolicies(byIds(bundle.approvals, rules), options);
        for (const id of matched) approvalsFrom.push({ id, reason: `approval rule ${id} applies` });
        for (const p of erroredRules) {
          approvalsFrom.push({
            id: p.id,
            reason: `approval rule ${p.id} could not be evaluated (${messageOf(ar.errors, p.id)}); approval required (fail closed)`,
          });
        }
        checks.push({
          name: 'approval-rules',
          result: 'approval',
          detail: `required by ${rules.join(', ')}${erroredRules.length ? ` (${erroredRules.map((p) => p.id).join(', ')} errored)` : ''}`,
        });
      } else {
        checks.push({
          name: 'approval-rules',
          result: 'pass',
          detail: exempt ? `exempted by ${ar.determining.join(', ')}` : 'no approval rule applies',
        });
      }
    }
  } catch (err) {
    deny('builtin:policy-error', `policy evaluation failed: ${describeFailure(err)}`);
    checks.push({ name: 'policy', result: 'fail', detail: 'evaluation failed; denied (fail closed)' });
  }

  // Object literals rather than spreading a shared base: this is the hot path, and the key order (checks, risk,
  // policyHash, errors, outcome, …) is the one receipts have always had.
  const policyHash = bundle.hash;
  if (denies.length > 0) {
    return {
      checks,
      risk,
      policyHash,
      errors,
      outcome: 'deny',
      policies: denies.map((x) => x.id),
      reasons: denies.map((x) => x.reason),
    };
  }
  if (approvalsFrom.length > 0) {
    approval ??= {
      group: options.defaultApprovalGroup,
      quorum: 1,
      expirySec: options.defaultExpirySec,
      escalation: [],
      barOwner: false,
      policies: [],
    };
    approval.policies = [...new Set(approvalsFrom.map((a) => a.id))];
    return {
      checks,
      risk,
      policyHash,
      errors,
      outcome: 'approval',
      policies: [...permitIds, ...approval.policies],
      reasons: approvalsFrom.map((a) => a.reason),
      approval,
    };
  }
  return {
    checks,
    risk,
    policyHash,
    errors,
    outcome: 'allow',
    policies: permitIds,
    reasons: permitIds.map((id) => `permitted by policy ${id}`),
  };
}
