import type { AuditLog } from '../audit/audit-log.js';
import type { AuditRecord } from '../audit/chain.js';
import { parseDurationSec } from '../config/duration.js';
import type { ToolMetadata } from '../connectors/index.js';
import { UserError } from '../errors.js';
import { decide } from './decide.js';
import type { Decision, DecisionInput, DecisionOptions } from './decide.js';
import type { PolicyBundle } from './policy-bundle.js';

/** An outcome as `decide` names it. */
export type PolicyOutcome = Decision['outcome'];

/** One recorded decision whose outcome would differ under the proposed policies. */
export interface ReplayChange {
  actionId: string;
  /** Audit sequence number of the `action.decided` record. */
  seq: number;
  at: string;
  tool: string;
  agent: string;
  before: PolicyOutcome;
  after: PolicyOutcome;
  /** What determined the recorded outcome. */
  beforePolicies: string[];
  /** What determines the outcome under the proposed policies. */
  policies: string[];
}

/** A recorded decision that was not re-decided, and why. */
export interface ReplaySkip {
  actionId: string;
  seq: number;
  tool: string;
  agent: string;
  reason: string;
}

/** What replaying the recorded decisions under a proposed policy set found. */
export interface ReplayReport {
  /** Hash of the proposed policy set. */
  policyHash: string;
  /** Decisions re-decided (excludes skipped ones). */
  replayed: number;
  unchanged: number;
  changed: ReplayChange[];
  skipped: ReplaySkip[];
  /** Counts of changes by `before->after`, e.g. `{ "allow->deny": 2 }`. */
  transitions: Record<string, number>;
}

/** What {@link replayDecisions} needs. */
export interface ReplayOptions {
  audit: AuditLog;
  bundle: PolicyBundle;
  options: DecisionOptions;
  /** Only records at or after this instant (ISO 8601). */
  since?: string | undefined;
}

const RECORDED: Record<string, PolicyOutcome> = {
  allowed: 'allow',
  pending_approval: 'approval',
  denied: 'deny',
};

const PAGE = 1000;

/**
 * Turns `--since` into an ISO instant: an ISO date or date-time, or a duration back from `now` (`30m`, `24h`, `7d`).
 *
 * @example parseSince('7d') // seven days ago
 * @example parseSince('2025-01-31') // '2025-01-31T00:00:00.000Z'
 */
export function parseSince(value: string, now: Date = new Date()): string {
  if (/^\d{1,6}[smhd]$/.test(value.trim())) {
    return new Date(now.getTime() - parseDurationSec(value, 'since') * 1000).toISOString();
  }
  const t = /^\d{4}-\d{2}-\d{2}/.test(value) ? Date.parse(value) : Number.NaN;
  if (Number.isNaN(t)) {
    throw new UserError(
      `'${value}' is not a date (2025-01-31, 2025-01-31T09:00:00Z) or a duration (24h, 7d)`,
      {
        field: 'since',
      },
    );
  }
  return new Date(t).toISOString();
}

/**
 * Why a recorded decision is not a policy decision, or undefined when it is. Denials by the guard (agent paused or
 * killed, kill switch, quarantined tool) and budget outcomes were made before or after the policies ran, so the
 * policies cannot change them.
 */
export function guardReason(policies: readonly string[]): string | undefined {
  for (const id of policies) {
    const agent = /^builtin:agent-(.+)$/.exec(id);
    if (agent) return `agent ${agent[1]}`;
    if (id.startsWith('killswitch:')) return `kill switch ${id.slice('killswitch:'.length)} engaged`;
    if (id === 'builtin:tool-quarantined') return 'tool quarantined';
    if (id.startsWith('budget:')) return `over budget (${id.slice('budget:'.length)})`;
  }
  return undefined;
}

interface DecidedPayload {
  actionId: string;
  agent: { id: string; role: string; tier: number; owner: string; environments: string[] };
  tool: string;
  connector?: string;
  toolMetadata: ToolMetadata;
  /** The tool's input schema when it was decided (records from before it was recorded have none). */
  inputSchema?: Record<string, unknown>;
  input: Record<string, unknown>;
  environment: string;
  session: { tools: string[]; readUntrusted: boolean; calls: number };
  reason: string | null;
  confidence: number | null;
  outcome: string;
  policies: string[];
}

const isObject = (v: unknown): v is Record<string, unknown> =>
  !!v && typeof v === 'object' && !Array.isArray(v);

function asDecidedPayload(p: unknown): DecidedPayload | string {
  if (!isObject(p)) return 'record has no payload';
  const a = p.agent;
  if (typeof p.actionId !== 'string' || typeof p.tool !== 'string') return 'record lacks actionId or tool';
  if (!isObject(a) || typeof a.id !== 'string' || typeof a.role !== 'string' || typeof a.tier !== 'number') {
    return 'record lacks the agent snapshot';
  }
  if (!isObject(p.toolMetadata)) return 'record lacks the tool metadata';
  if (!isObject(p.input) || typeof p.environment !== 'string') return 'record lacks input or environment';
  if (!(typeof p.outcome === 'string' && p.outcome in RECORDED) || !Array.isArray(p.policies)) {
    return 'record lacks the outcome';
  }
  return p as unknown as DecidedPayload;
}

function toDecisionInput(p: DecidedPayload): DecisionInput {
  const dot = p.tool.indexOf('.');
  const session = isObject(p.session) ? p.session : { tools: [], readUntrusted: false, calls: 0 };
  return {
    agent: {
      id: p.agent.id,
      role: p.agent.role,
      tier: p.agent.tier,
      owner: typeof p.agent.owner === 'string' ? p.agent.owner : 'unknown',
      environments: Array.isArray(p.agent.environments) ? p.agent.environments : [],
    },
    tool: {
      name: p.tool,
      connector: p.connector ?? (dot > 0 ? p.tool.slice(0, dot) : p.tool),
      metadata: p.toolMetadata,
      inputSchema: isObject(p.inputSchema) ? p.inputSchema : undefined,
    },
    input: p.input,
    environment: p.environment,
    reason: p.reason ?? undefined,
    confidence: p.confidence ?? undefined,
    session: {
      tools: Array.isArray(session.tools) ? session.tools : [],
      readUntrusted: session.readUntrusted === true,
      calls: typeof session.calls === 'number' ? session.calls : 0,
    },
  };
}

/**
 * The decision input an `action.decided` audit record's payload was decided from: the agent snapshot, tool
 * metadata, input, environment, reason, confidence and the session history as it was then. The connector is the
 * tool name's prefix (`payments.refund` → `payments`) unless the record names one. A payload without these is a
 * {@link UserError}.
 */
export function decisionInputFromAuditPayload(payload: unknown): DecisionInput {
  const p = asDecidedPayload(payload);
  if (typeof p === 'string') throw new UserError(p, { field: 'payload' });
  return toDecisionInput(p);
}

function replayOne(r: AuditRecord, o: ReplayOptions, report: ReplayReport): void {
  const p = asDecidedPayload(r.payload);
  const raw = isObject(r.payload) ? r.payload : {};
  const ids = {
    actionId: typeof raw.actionId === 'string' ? raw.actionId : (r.subject ?? `seq ${r.seq}`),
    seq: r.seq,
    tool: typeof raw.tool === 'string' ? raw.tool : '?',
    agent: isObject(raw.agent) && typeof raw.agent.id === 'string' ? raw.agent.id : r.actor,
  };
  if (typeof p === 'string') {
    report.skipped.push({ ...ids, reason: p });
    return;
  }
  const guard = guardReason(p.policies);
  if (guard) {
    report.skipped.push({ ...ids, reason: guard });
    return;
  }
  const before = RECORDED[p.outcome] as PolicyOutcome;
  const after = decide(toDecisionInput(p), o.bundle, o.options);
  report.replayed += 1;
  if (after.outcome === before) {
    report.unchanged += 1;
    return;
  }
  const key = `${before}->${after.outcome}`;
  report.transitions[key] = (report.transitions[key] ?? 0) + 1;
  report.changed.push({
    ...ids,
    at: r.ts,
    before,
    after: after.outcome,
    beforePolicies: p.policies,
    policies: after.policies,
  });
}

/**
 * Re-decides every `action.decided` record (since `since`) under a proposed policy set, from the inputs recorded
 * with it, and reports the outcomes that would change. The session history is the one recorded (what had actually
 * run), not one re-simulated under the new policies. Guard and budget outcomes are skipped, with the reason.
 * Nothing is written.
 */
export async function replayDecisions(o: ReplayOptions): Promise<ReplayReport> {
  const report: ReplayReport = {
    policyHash: o.bundle.hash,
    replayed: 0,
    unchanged: 0,
    changed: [],
    skipped: [],
    transitions: {},
  };
  let after = 0;
  for (;;) {
    const page = await o.audit.list({ type: 'action.decided', afterSeq: after, limit: PAGE });
    for (const r of page) {
      if (!o.since || r.ts >= o.since) replayOne(r, o, report);
    }
    if (page.length < PAGE) break;
    after = (page[page.length - 1] as AuditRecord).seq;
  }
  return report;
}
