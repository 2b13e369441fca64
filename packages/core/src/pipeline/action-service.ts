import crypto from 'node:crypto';
import { bindingHash, subjectOf } from '../approvals/approvals.js';
import { previousComparable } from '../approvals/evidence.js';
import type { Approval, ApprovalService, EvidencePack, VoteInput } from '../approvals/approvals.js';
import type { AuditEvent, AuditLog } from '../audit/audit-log.js';
import type { BudgetService } from '../budgets/budgets.js';
import type { BudgetConfig } from '../config/config.js';
import type { ToolResult } from '../connectors/index.js';
import { hashJson } from '../crypto/canonical-json.js';
import { AosError, ConflictError, ForbiddenError, NotFoundError } from '../errors.js';
import type { EventBus } from '../events/event-bus.js';
import type { Agent, AgentRegistry } from '../identity/agents.js';
import { DEFAULT_ACCESS_GROUPS, isAdmin } from '../identity/access.js';
import type { AccessGroups } from '../identity/access.js';
import type { Human, HumanDirectory } from '../identity/humans.js';
import type { KillSwitches } from '../intervention/kill-switches.js';
import { decide } from '../policy/decide.js';
import type { Decision, DecisionOptions } from '../policy/decide.js';
import type { PolicyBundle } from '../policy/policy-bundle.js';
import { checkChanges, StaleRead, UnexpectedChanges } from '../store/db.js';
import type { Db, Executor, SqlValue, Statement } from '../store/db.js';
import type { RegisteredTool, ToolRegistry } from '../tools/tool-registry.js';
import { parseInput } from '../validation.js';
import { crashPoint } from './crash-points.js';
import type { NodeRegistry } from './node-registry.js';
import { guardFactsFrom, guardFactsRead, guardFactsStill, readGuardFacts, runGuards } from './guards.js';
import { checkOnBehalfOf, refuseMalformedUnicode, refuseReservedNames } from './request-guards.js';
import { SessionMemory } from './session-memory.js';
import { planUndo } from './undo.js';
import type { SessionScope } from './session-memory.js';
import { canonicalInput, requestHashOf } from './canonical-request.js';
import type { CanonicalInput } from './canonical-request.js';
import { actionRequestSchema } from './types.js';
import type { ActionListFilter, ActionRequest, ActionStatus, ActionView, StoredDecision } from './types.js';
import { wakeRun, wakeRunOfAction, wakeRunOfSessionStatements } from '../workflows/run-wake.js';
import type { Logger } from 'pino';
import { SpanKind, Tracing } from '../observability/tracing.js';
import type { Context, SpanRef } from '../observability/tracing.js';
import {
  actionSpanRef,
  emitActionSpan,
  emitApprovalWaitSpan,
  reserveActionTrace,
} from '../observability/action-spans.js';
import type { ActionTrace } from '../observability/action-spans.js';
import type { Anomaly, AnomalyDetector } from '../observability/anomalies/anomaly-detector.js';
import type { SecurityViews } from '../intervention/security-view.js';
import { holdForHuman } from './hold-for-human.js';

/** What the pipeline is built from. */
export interface ActionServiceDeps {
  db: Db;
  audit: AuditLog;
  agents: AgentRegistry;
  humans: HumanDirectory;
  tools: ToolRegistry;
  approvals: ApprovalService;
  budgets: BudgetService;
  killSwitches: KillSwitches;
  events: EventBus;
  nodes: NodeRegistry;
  /** The policy bundle in force now (may be reloaded between calls). */
  policies: () => PolicyBundle;
  options: DecisionOptions & { defaultEnvironment: string };
  /** The configured admins group, whose members may undo any agent's action. Default `admins`. */
  groups?: Pick<AccessGroups, 'admins'>;
  /** OpenTelemetry traces; default off. */
  tracing?: Tracing;
  /** Where each action's end is logged (ids and status, never arguments or results); default silent. */
  logger?: Logger;
  /** Anomaly detection per agent; none: off. */
  anomalies?: AnomalyDetector;
  /**
   * The node's security views (shared with authentication and the workflow gate): a decision whose transaction sees
   * the epoch of a view takes its agent and kill switches from it. None: both are read in every decision.
   */
  security?: SecurityViews;
}

interface Row {
  id: string;
  agent_id: string;
  tool: string;
  input_json: string;
  environment: string;
  session_id: string | null;
  idempotency_key: string | null;
  request_hash: string;
  reason: string | null;
  confidence: number | null;
  on_behalf_of: string | null;
  reversal_of: string | null;
  outcome: ActionView['outcome'];
  status: ActionStatus;
  decision_json: string;
  policy_hash: string;
  risk: number;
  approval_id: string | null;
  result_json: string | null;
  error_json: string | null;
  cached: number;
  created_at: string;
  updated_at: string;
  started_at: string | null;
  finished_at: string | null;
  trace_id: string | null;
  span_id: string | null;
  parent_span_id: string | null;
}

/** The action an agent's idempotency key names, if any. */
function idempotencyRead(agentId: string, key: string): Statement {
  return { sql: 'SELECT * FROM actions WHERE agent_id = ? AND idempotency_key = ?', params: [agentId, key] };
}

/** What a decision's transaction answers: the decided action, or the earlier action its idempotency key names. */
type Decided =
  | {
      view: ActionView;
      anomalies: Anomaly[];
      toolRecorded: boolean;
      /** What the anomaly check saw first, once the decision committed (AnomalyCheck.committed). */
      committed?: () => void;
    }
  | { prior: Row };

/** What {@link ActionService}'s decision is made from. */
interface DecisionParams {
  agent: Agent;
  tool: RegisteredTool;
  r: ReturnType<typeof actionRequestSchema.parse>;
  input: CanonicalInput;
  environment: string;
  requestHash: string;
  reversalOf: string | undefined;
  forceApproval: boolean;
  budgets: readonly BudgetConfig[];
  system: boolean;
  requestedBy: Human | undefined;
  trace: ActionTrace | undefined;
  principalEpoch: number | undefined;
}

/** A decision read outside a transaction needs one after all: it has writes beyond its own record. */
class NeedsTransaction extends Error {
  constructor() {
    super('the decision needs a transaction');
    this.name = 'NeedsTransaction';
  }
}

/**
 * Reads outside any transaction, for a decision written alone. A write before the decision's own throws
 * {@link NeedsTransaction}, so the decision is made again in a transaction; one after it (`written`) is a defect
 * that must not make it again.
 */
class ReadsOnly implements Executor {
  written = false;
  constructor(private readonly db: Db) {}
  all<T = Record<string, unknown>>(sql: string, params?: readonly SqlValue[]): Promise<T[]> {
    return this.db.all<T>(sql, params);
  }
  get<T = Record<string, unknown>>(sql: string, params?: readonly SqlValue[]): Promise<T | undefined> {
    return this.db.get<T>(sql, params);
  }
  run(): Promise<{ changes: number }> {
    return Promise.reject(this.refusal());
  }
  exec(): Promise<void> {
    return Promise.reject(this.refusal());
  }
  private refusal(): Error {
    return this.written ? new Error('a decision written alone tried to write again') : new NeedsTransaction();
  }
}

function toView(r: Row): ActionView {
  return {
    id: r.id,
    agentId: r.agent_id,
    tool: r.tool,
    input: JSON.parse(r.input_json) as Record<string, unknown>,
    environment: r.environment,
    sessionId: r.session_id,
    idempotencyKey: r.idempotency_key,
    reason: r.reason,
    confidence: r.confidence === null ? null : Number(r.confidence),
    onBehalfOf: r.on_behalf_of,
    reversalOf: r.reversal_of,
    outcome: r.outcome,
    status: r.status,
    decision: JSON.parse(r.decision_json) as StoredDecision,
    approvalId: r.approval_id,
    result: r.result_json ? (JSON.parse(r.result_json) as ToolResult) : null,
    error: r.error_json ? (JSON.parse(r.error_json) as { code: string; message: string }) : null,
    risk: Number(r.risk),
    policyHash: r.policy_hash,
    cached: !!Number(r.cached),
    createdAt: r.created_at,
    updatedAt: r.updated_at,
    startedAt: r.started_at,
    finishedAt: r.finished_at,
    traceId: r.trace_id ?? null,
    spanId: r.span_id ?? null,
    parentSpanId: r.parent_span_id ?? null,
  };
}

const OUTCOME: Record<Decision['outcome'], ActionView['outcome']> = {
  allow: 'allowed',
  approval: 'pending_approval',
  deny: 'denied',
};

/** Thrown inside an outcome's transaction to roll it back: the action was no longer `executing`. */

function isUniqueViolation(err: unknown): boolean {
  const code = (err as { code?: string }).code;
  return code === '23505' || code === 'SQLITE_CONSTRAINT_UNIQUE' || code === 'SQLITE_CONSTRAINT_PRIMARYKEY';
}

/** Pipeline options a front may set beyond the agent's request. */
export interface SubmitExtra {
  /** The action undoes this earlier action. */
  reversalOf?: string;
  /**
   * Hold an action policy would allow for a human approval (the default approval group) anyway. Never turns a
   * deny into anything else.
   */
  forceApproval?: boolean;
  /**
   * Budgets the caller adds to those configured for the agent (a workflow run's own budget). Only internal fronts
   * pass these; no request field can.
   */
  budgets?: readonly BudgetConfig[];
  /**
   * The engine itself submits (a workflow step, an undo): it may use the reserved `undo:` and `wf:` idempotency
   * keys, and the `wf:` session it names is opened for the agent on first use. Never set from a request.
   */
  system?: boolean;
  /**
   * The authenticated human who asked for this reversal. The action is recorded on their behalf and audited as
   * theirs; a member of the admins group may reverse the actions of a paused or revoked agent.
   */
  requestedBy?: Human;
  /**
   * The span the action runs under: the front's request span (MCP `tools/call`, the HTTP request's `traceparent`)
   * or a workflow step's. The action's `execute_tool` span becomes its child.
   */
  traceParent?: Context | SpanRef;
  /**
   * The security epoch the caller's principal was authenticated under and not read again for this request
   * (`Authenticator.recall`). The decision reads the epoch first; when it is another, nothing is decided or
   * answered and {@link StalePrincipal} is thrown, for the caller to authenticate again.
   */
  principalEpoch?: number;
}

/**
 * The security epoch moved since the caller's principal was authenticated (`SubmitExtra.principalEpoch`): nothing
 * was decided. The caller authenticates the request again, and submits again if it still may.
 */
export class StalePrincipal extends Error {
  constructor() {
    super("the caller's principal was authenticated under an earlier security epoch");
    this.name = 'StalePrincipal';
  }
}

/**
 * The one path every action takes, whatever the front: guard (agent status, kill switches, tool quarantine) →
 * decide (tier rules, Cedar, approval rules) → budget reservation → record the decision durably (one transaction,
 * with its audit record) → wait for approval when needed → execute through the connector → record the outcome.
 *
 * Nothing executes without a committed decision record. An action whose execution started but whose outcome was
 * never recorded is marked `unknown_outcome` by {@link NodeRegistry.recoverOrphans} and never retried.
 */
export class ActionService {
  private readonly sessions = new SessionMemory();
  /** Decisions this node is making now, per agent (see {@link decide}). */
  private readonly deciding = new Map<string, number>();
  private readonly tracing: Tracing;

  constructor(private readonly d: ActionServiceDeps) {
    this.tracing = d.tracing ?? Tracing.off();
  }

  /**
   * Opens a session for an agent: calls naming it are decided on what was done in it alone, a fresh start. Any
   * other session id (or none) is decided under the agent scope — everything the agent did. `sessionId` names the
   * session for the engine's own fronts (the MCP gateway's `mcp:` ids); otherwise one is minted (`ses_…`).
   */
  openSession(agentId: string, sessionId?: string): Promise<string> {
    return this.sessions.open(this.d.db, agentId, sessionId);
  }

  /** An action by id. */
  async get(id: string, tx: Executor = this.d.db): Promise<ActionView | undefined> {
    const row = await tx.get<Row>('SELECT * FROM actions WHERE id = ?', [id]);
    return row ? toView(row) : undefined;
  }

  /** The action, or a {@link NotFoundError}. */
  async require(id: string): Promise<ActionView> {
    const a = await this.get(id);
    if (!a) throw new NotFoundError('action', id, 'action');
    return a;
  }

  /** Actions that reverse `id` (runs of its registered undo), oldest first. */
  async reversalsOf(id: string): Promise<ActionView[]> {
    return (
      await this.d.db.all<Row>('SELECT * FROM actions WHERE reversal_of = ? ORDER BY created_at, id', [id])
    ).map(toView);
  }

  /** Recent actions, newest first. */
  async list(filter: ActionListFilter = {}): Promise<ActionView[]> {
    const where: string[] = [];
    const params: (string | number)[] = [];
    if (filter.agentId) {
      where.push('agent_id = ?');
      params.push(filter.agentId);
    }
    if (filter.tool) {
      where.push('tool = ?');
      params.push(filter.tool);
    }
    if (filter.before) {
      // Keyset paging on (created_at, id), the order of the list: stable while new actions arrive.
      where.push('(created_at < ? OR (created_at = ? AND id < ?))');
      params.push(filter.before.createdAt, filter.before.createdAt, filter.before.id);
    }
    if (filter.status) {
      where.push('status = ?');
      params.push(filter.status);
    }
    if (filter.since) {
      where.push('created_at >= ?');
      params.push(filter.since);
    }
    params.push(Math.min(Math.max(filter.limit ?? 100, 1), 1000));
    const rows = await this.d.db.all<Row>(
      `SELECT * FROM actions${where.length ? ` WHERE ${where.join(' AND ')}` : ''} ORDER BY created_at DESC, id DESC LIMIT ?`,
      params,
    );
    return rows.map(toView);
  }

  /**
   * Submits an action for an authenticated agent. Bad input (unknown tool, input failing the tool's schema) is a
   * {@link UserError} and leaves nothing behind. Everything else is decided and recorded, and executed if allowed.
   */
  async submit(
    agent: Agent,
    request: ActionRequest,
    extra: SubmitExtra = {},
  ): Promise<ActionView & { replayed?: boolean }> {
    const r = parseInput(actionRequestSchema, request);
    if (!extra.system) refuseReservedNames(r);
    const tool = this.d.tools.get(r.tool);
    if (!tool || tool.status === 'removed') throw new NotFoundError('tool', r.tool, 'tool');
    this.d.tools.validateInput(tool, r.input);
    refuseMalformedUnicode(r.input, 'input');
    for (const field of ['reason', 'sessionId', 'idempotencyKey', 'onBehalfOf'] as const)
      refuseMalformedUnicode(r[field], field);
    if (extra.requestedBy) r.onBehalfOf = extra.requestedBy.id;
    else if (r.onBehalfOf) await checkOnBehalfOf(this.d.db, this.d.humans, agent, r.onBehalfOf);
    const environment = r.environment ?? this.d.options.defaultEnvironment;
    // Canonicalised and hashed once: the request hash, the stored input, the cache key and the evidence all use it.
    const input = canonicalInput(r.input);
    const requestHash = requestHashOf({
      tool: r.tool,
      input,
      environment,
      reversalOf: extra.reversalOf ?? null,
    });

    const trace = reserveActionTrace(this.tracing, extra.traceParent);
    const decisionStarted = performance.now();
    let decided: Decided;
    try {
      decided = await this.tracing.span('aos.decision', { parent: trace?.ref }, async (span) => {
        const out = await this.decide({
          agent,
          tool,
          r,
          input,
          environment,
          requestHash,
          reversalOf: extra.reversalOf,
          forceApproval: extra.forceApproval === true,
          budgets: extra.budgets ?? [],
          system: extra.system === true,
          requestedBy: extra.requestedBy,
          trace,
          principalEpoch: extra.principalEpoch,
        });
        if ('prior' in out) span.setAttributes({ 'aos.replayed': true });
        else
          span.setAttributes({
            'aos.decision': out.view.outcome,
            'aos.policies': out.view.decision.policies,
            'aos.policy.hash': out.view.policyHash,
            'aos.risk': out.view.risk,
          });
        return out;
      });
    } catch (err) {
      if (r.idempotencyKey && isUniqueViolation(err)) {
        const prior = await this.byIdempotencyKey(agent.id, r.idempotencyKey);
        if (prior) return this.replay(prior, requestHash);
      }
      throw err;
    }
    // The idempotency key was used before: the decision's reads found its action, and nothing was written.
    if ('prior' in decided) return this.replay(decided.prior, requestHash);
    const { view, anomalies, toolRecorded } = decided;
    this.announce(view, { connector: tool.connector, decisionMs: performance.now() - decisionStarted });
    this.announceAnomalies(anomalies);
    if (view.status === 'executing') {
      crashPoint('action.after-decision');
      return this.execute(view, tool, agent, input.hash, { toolRecorded });
    }
    if (view.status !== 'pending_approval') this.finished(view, agent);
    return view;
  }

  private async byIdempotencyKey(agentId: string, key: string): Promise<Row | undefined> {
    const read = idempotencyRead(agentId, key);
    return this.d.db.get<Row>(read.sql, read.params);
  }

  private replay(prior: Row, requestHash: string): ActionView & { replayed: boolean } {
    if (prior.request_hash !== requestHash) {
      throw new ConflictError('idempotency key was already used for a different request', {
        field: 'idempotencyKey',
      });
    }
    if (prior.status === 'executing') {
      throw new ConflictError(`action ${prior.id} with this idempotency key is still in flight`, {
        field: 'idempotencyKey',
      });
    }
    return { ...toView(prior), replayed: true };
  }

  /** The latest actions of a scope, oldest first, for an approver's evidence pack. */
  private async recentActions(tx: Executor, agentId: string, scope: SessionScope) {
    const rows = await tx.all<{ id: string; tool: string; status: string; created_at: string }>(
      scope.kind === 'session'
        ? 'SELECT id, tool, status, created_at FROM actions WHERE agent_id = ? AND session_id = ? ORDER BY created_at DESC, id DESC LIMIT 50'
        : 'SELECT id, tool, status, created_at FROM actions WHERE agent_id = ? ORDER BY created_at DESC, id DESC LIMIT 50',
      scope.kind === 'session' ? [agentId, scope.sessionId] : [agentId],
    );
    return rows.reverse().map((t) => ({ actionId: t.id, tool: t.tool, status: t.status, at: t.created_at }));
  }

  /**
   * Decides a call and records the decision. Where the store has row versions (PostgreSQL) and this node is deciding
   * nothing else for the agent, the decision reads outside a transaction and is written alone, in one statement
   * that requires what it read to be unchanged: the security epoch and the tool's row, the agent's anomaly baseline
   * (by its version), each budget's room for a quiet charge. That is two round trips where a transaction takes
   * five. When one of them changed, or the decision needs more than its own writes (an approval, an answer from the
   * cache, a budget alert or an exceeded budget, an anomaly, a first sighting for the detector), nothing is written
   * and it is made again in a transaction, as everywhere else. Two of one agent's calls at once on this node take
   * the transaction, which its batch runs one after the other, rather than write alone and fail on the baseline.
   */
  private async decide(p: DecisionParams): Promise<Decided> {
    const agentId = p.agent.id;
    const busy = this.deciding.get(agentId) ?? 0;
    this.deciding.set(agentId, busy + 1);
    try {
      if (busy === 0 && this.d.db.rowVersion !== undefined) {
        try {
          return await this.decideAndRecord(new ReadsOnly(this.d.db), p, { alone: true, quiet: true });
        } catch (err) {
          if (!(
            err instanceof NeedsTransaction ||
            err instanceof StaleRead ||
            err instanceof UnexpectedChanges
          ))
            throw err;
        }
      }
      const inTx = (quiet: boolean) =>
        this.d.db.tx((tx) => this.decideAndRecord(tx, p, { alone: false, quiet }));
      let out: Decided;
      try {
        out = await inTx(true);
      } catch (err) {
        // A charge that would not fit quietly (an alert, an exceeded budget): the long way, which reads the rows.
        if (!(err instanceof UnexpectedChanges)) throw err;
        this.d.budgets.noteLoud(p.agent, p.budgets);
        out = await inTx(false);
      }
      if ('committed' in out) out.committed?.();
      return out;
    } finally {
      const left = (this.deciding.get(agentId) ?? 1) - 1;
      if (left > 0) this.deciding.set(agentId, left);
      else this.deciding.delete(agentId);
    }
  }

  /**
   * Decides a call and records it: in transaction `tx`, or (`alone`) from reads outside one ({@link ReadsOnly}),
   * written by one statement alone under the checks {@link decide} names. `quiet`: the budgets are charged by the
   * decision's write itself, each charge required to change its row (it fits and raises no alert), rather than
   * read and charged first ({@link BudgetService.reserve}): one round trip fewer on PostgreSQL.
   */
  private async decideAndRecord(
    tx: Executor,
    p: DecisionParams,
    { alone, quiet }: { alone: boolean; quiet: boolean },
  ): Promise<Decided> {
    const { tool, r, environment } = p;
    const bundle = this.d.policies();
    // What the guards judge, the session scope, the action an idempotency key names already and the anomaly
    // baseline (locked, or with its version when written alone): one round trip on PostgreSQL.
    const key = r.idempotencyKey;
    const baselineRead =
      this.d.anomalies && !p.requestedBy ? this.d.anomalies.baselineRead(p.agent.id, alone) : undefined;
    const read = await this.d.db.readTogether(tx, [
      guardFactsRead(tool.name),
      this.sessions.scopeRead(p.agent.id, r.sessionId),
      ...(key ? [idempotencyRead(p.agent.id, key)] : []),
      ...(baselineRead ? [baselineRead] : []),
    ]);
    const [guardRows, scopeRows] = read;
    // Before anything, an earlier action's answer included: a principal remembered under another epoch may be gone.
    if (p.principalEpoch !== undefined && Number(guardRows?.[0]?.epoch) !== p.principalEpoch)
      throw new StalePrincipal();
    const prior = key ? read[2]?.[0] : undefined;
    if (prior) return { prior: prior as unknown as Row };
    const baselineRows = baselineRead ? read[key ? 3 : 2] : undefined;
    const facts = await guardFactsFrom(tx, this.d, p.agent, guardRows?.[0], alone);
    const { agent } = facts;
    // The engine's own submissions open their session (a workflow run's) with the call: its count creates the row.
    const scope = this.sessions.scopeFrom(scopeRows ?? [], r.sessionId, { opens: p.system });
    const session = scope.summary;

    const guards = runGuards(this.d, {
      facts,
      tool,
      policyHash: bundle.hash,
      reversalOf: p.reversalOf,
      requestedBy: p.requestedBy,
    });
    const { checks, waiver } = guards;
    let decision: StoredDecision | undefined = guards.deny;
    if (!decision) {
      const d = decide(
        {
          agent,
          tool: {
            name: tool.name,
            connector: tool.connector,
            metadata: tool.metadata,
            inputSchema: tool.definition.inputSchema,
          },
          input: r.input,
          environment,
          reason: r.reason,
          confidence: r.confidence,
          session,
        },
        bundle,
        this.d.options,
      );
      decision = {
        ...d,
        checks: [
          ...checks,
          { name: 'input-schema', result: 'pass', detail: 'input matches the pinned schema' },
          ...d.checks,
        ],
      };
    }

    if (waiver) decision = { ...decision, statusWaivedBy: waiver };

    // Judged only for calls the guards let through: a paused agent's refused calls are not its behaviour.
    const anomaly =
      this.d.anomalies && !guards.deny && !p.requestedBy
        ? await this.d.anomalies.check(
            tx,
            {
              agent,
              tool: { name: tool.name, connector: tool.connector, effect: tool.metadata.effect },
              resource: resourceOf(tool, r.input),
              readUntrusted: session.readUntrusted,
            },
            baselineRows,
          )
        : undefined;
    if (anomaly?.pause) {
      const kinds = anomaly.anomalies.map((a) => a.kind).join(', ');
      decision = {
        ...decision,
        outcome: 'deny',
        policies: ['builtin:agent-paused', 'builtin:anomaly'],
        reasons: [`agent ${agent.id} is paused: anomaly (${kinds})`],
      };
      delete decision.approval;
      decision.checks.push({ name: 'anomaly', result: 'fail', detail: `paused on ${kinds}` });
    } else if (anomaly?.holdWrites && decision.outcome === 'allow') {
      decision = holdForHuman(decision, {
        id: 'builtin:anomaly-hold',
        reason: "an anomaly holds this agent's writes for a human approval",
        check: 'anomaly',
        options: this.d.options,
      });
    } else if (anomaly && anomaly.anomalies.length > 0) {
      decision.checks.push({
        name: 'anomaly',
        result: 'pass',
        detail: `raised ${anomaly.anomalies.map((a) => a.kind).join(', ')} (alert)`,
      });
    }

    if (p.forceApproval && decision.outcome === 'allow') {
      // The agent asked for a human to look first: this only ever tightens an allow, never loosens a deny.
      decision = holdForHuman(decision, {
        id: 'builtin:agent-requested-approval',
        reason: 'the agent asked for a human approval',
        check: 'agent-request',
        detail: 'approval requested by the agent',
        options: this.d.options,
      });
    }

    let alerts: Awaited<ReturnType<BudgetService['reserve']>> | undefined;
    // Charged quietly, the charges go with the decision's writes, each required to charge its row.
    let charges: Statement[] = [];
    if (decision.outcome !== 'deny') {
      const quietly = quiet ? this.d.budgets.quietCharges(agent, tool.cost, { extra: p.budgets }) : undefined;
      if (alone && !quietly) throw new NeedsTransaction();
      if (quietly) {
        charges = quietly;
        alerts = { ok: true, alerts: [] };
      } else alerts = await this.d.budgets.reserve(tx, agent, tool.cost, { extra: p.budgets });
      if (!alerts.ok) {
        const b = alerts.exceeded.budget;
        const id = `budget:${b.scope}/${b.period}`;
        const detail = `${b.scope} ${b.period} budget spent (${alerts.exceeded.calls} calls, ${alerts.exceeded.cost} cost units)`;
        if (b.onExceed === 'deny') {
          decision = { ...decision, outcome: 'deny', policies: [id], reasons: [`over budget: ${detail}`] };
          decision.checks.push({ name: 'budget', result: 'fail', detail });
        } else {
          decision = {
            ...decision,
            outcome: 'approval',
            overBudget: true,
            policies: [...decision.policies, id],
            reasons: [...decision.reasons, `over budget, needs approval: ${detail}`],
            approval: decision.approval ?? {
              group: b.approvers,
              quorum: 1,
              expirySec: this.d.options.defaultExpirySec,
              escalation: [],
              barOwner: false,
              policies: [id],
            },
          };
          decision.checks.push({ name: 'budget', result: 'approval', detail });
        }
      } else {
        decision.checks.push({
          name: 'budget',
          result: 'pass',
          detail: `reserved ${tool.cost} cost unit(s)`,
        });
      }
    }

    let cached: ToolResult | undefined;
    if (
      decision.outcome === 'allow' &&
      tool.cacheTtlSec > 0 &&
      tool.metadata.effect === 'read' &&
      tool.metadata.idempotent
    ) {
      const hit = await tx.get<{ result_json: string }>(
        'SELECT result_json FROM tool_cache WHERE agent_id = ? AND tool = ? AND input_hash = ? AND expires_at_ms > ?',
        [agent.id, tool.name, p.input.hash, Date.now()],
      );
      if (hit) cached = JSON.parse(hit.result_json) as ToolResult;
    }

    const id = `act_${crypto.randomBytes(10).toString('hex')}`;
    const now = new Date().toISOString();
    const status: ActionStatus =
      decision.outcome === 'deny'
        ? 'denied'
        : decision.outcome === 'approval'
          ? 'pending_approval'
          : cached
            ? 'succeeded'
            : 'executing';
    const decisionJson = JSON.stringify(decision);
    // The answer, built from what is written rather than read back: what `get(id)` answers afterwards, without a
    // query and a row parse. The input is the stored canonical form (keys sorted), as the connector would get it.
    const view: ActionView = {
      id,
      agentId: agent.id,
      tool: tool.name,
      input: JSON.parse(p.input.json) as Record<string, unknown>,
      environment,
      sessionId: r.sessionId ?? null,
      idempotencyKey: r.idempotencyKey ?? null,
      reason: r.reason ?? null,
      confidence: r.confidence ?? null,
      onBehalfOf: r.onBehalfOf ?? null,
      reversalOf: p.reversalOf ?? null,
      outcome: OUTCOME[decision.outcome],
      status,
      decision,
      approvalId: null,
      result: cached ?? null,
      error: null,
      risk: decision.risk,
      policyHash: decision.policyHash,
      cached: !!cached,
      createdAt: now,
      updatedAt: now,
      startedAt: status === 'executing' ? now : null,
      finishedAt: cached ? now : null,
      traceId: p.trace?.ref.traceId ?? null,
      spanId: p.trace?.ref.spanId ?? null,
      parentSpanId: p.trace?.parentSpanId ?? null,
    };
    // The action row, its count in the session scopes, the agent's anomaly baseline, the quiet budget charges (rows
    // of their own) and the audit records: writes none of the others touches, one round trip on PostgreSQL.
    const baseline = anomaly?.settle(decision.outcome);
    const toolRecorded = this.sessions.toolRecorded(scope, tool.name, r.sessionId);
    // An answer from the cache is a success the session learns from (a write to the rows the call's count writes).
    const learned = cached
      ? this.sessions.successWrites({
          agentId: agent.id,
          sessionId: r.sessionId ?? null,
          tool: tool.name,
          untrusted: tool.metadata.untrustedOutput,
          toolRecorded,
        })
      : [];
    // An approval, an anomaly and what the session learns write more than the decision's own records.
    if (alone && (decision.outcome === 'approval' || (anomaly?.anomalies.length ?? 0) > 0 || learned.length))
      throw new NeedsTransaction();
    const actor = p.requestedBy ? `human:${p.requestedBy.id}` : `agent:${agent.id}`;
    const audits: AuditEvent[] = [
      {
        actor,
        type: 'action.decided',
        subject: `action:${id}`,
        payload: {
          actionId: id,
          agent: {
            id: agent.id,
            role: agent.role,
            tier: agent.tier,
            owner: agent.owner,
            environments: agent.environments,
          },
          tool: tool.name,
          toolMetadata: tool.metadata,
          definitionHash: tool.definitionHash,
          // Replay converts the input to Cedar by the same declared types the decision used.
          inputSchema: tool.definition.inputSchema,
          input: r.input,
          environment,
          sessionId: r.sessionId ?? null,
          sessionScope: scope.kind,
          session,
          reason: r.reason ?? null,
          confidence: r.confidence ?? null,
          onBehalfOf: r.onBehalfOf ?? null,
          reversalOf: p.reversalOf ?? null,
          idempotencyKey: r.idempotencyKey ?? null,
          outcome: OUTCOME[decision.outcome],
          policies: decision.policies,
          reasons: decision.reasons,
          risk: decision.risk,
          policyHash: decision.policyHash,
          checks: decision.checks,
          ...(cached ? { cached: true, resultHash: hashJson(cached) } : {}),
        },
      },
      ...(alerts?.ok
        ? alerts.alerts.map((a) => ({
            actor: 'system',
            type: 'budget.alert',
            subject: `budget:${a.scope}`,
            payload: { ...a, actionId: id },
          }))
        : []),
    ];
    const expect = (w: Statement) => (w === baseline || charges.includes(w) ? 1 : undefined);
    const writes: Statement[] = [
      this.sessions.callStatement(agent.id, scope),
      ...(baseline ? [baseline] : []),
      {
        sql: `INSERT INTO actions (id, agent_id, tool, input_json, input_hash, environment, session_id, idempotency_key, request_hash, reason,
         confidence, on_behalf_of, reversal_of, outcome, status, decision_json, policy_hash, risk, approval_id, result_json, error_json,
         untrusted_output, cached, cost, node_id, created_at, updated_at, started_at, finished_at, trace_id, span_id, parent_span_id)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, NULL, ?, NULL, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
        params: [
          id,
          agent.id,
          tool.name,
          p.input.json,
          p.input.hash,
          environment,
          r.sessionId ?? null,
          r.idempotencyKey ?? null,
          p.requestHash,
          r.reason ?? null,
          r.confidence ?? null,
          r.onBehalfOf ?? null,
          p.reversalOf ?? null,
          OUTCOME[decision.outcome],
          status,
          decisionJson,
          decision.policyHash,
          decision.risk,
          cached ? JSON.stringify(cached) : null,
          cached && tool.metadata.untrustedOutput ? 1 : 0,
          cached ? 1 : 0,
          tool.cost,
          status === 'executing' ? this.d.nodes.id : null,
          now,
          now,
          status === 'executing' ? now : null,
          cached ? now : null,
          p.trace?.ref.traceId ?? null,
          p.trace?.ref.spanId ?? null,
          p.trace?.parentSpanId ?? null,
        ],
      },
      ...charges,
    ];
    if (alone) {
      const guardRow = guardRows?.[0];
      if (!guardRow) throw new Error('security_epoch row missing');
      await this.d.audit.appendAlone(audits, writes, {
        expect: writes.map(expect),
        require: [guardFactsStill(tool.name, guardRow)],
      });
      if (tx instanceof ReadsOnly) tx.written = true;
    } else await this.d.audit.appendWith(tx, audits, writes, writes.map(expect));
    for (const w of learned) await tx.run(w.sql, w.params);
    if (decision.outcome === 'approval' && decision.approval) {
      const evidence: EvidencePack = {
        agent: { id: agent.id, role: agent.role, tier: agent.tier, owner: agent.owner },
        tool: tool.name,
        input: r.input,
        canonicalInput: p.input.json,
        previous:
          (await previousComparable(tx, {
            agentId: agent.id,
            tool: tool.name,
            input: r.input,
            excludeId: id,
          })) ?? null,
        environment,
        reason: r.reason ?? null,
        confidence: r.confidence ?? null,
        risk: decision.risk,
        decision: { policies: decision.policies, reasons: decision.reasons },
        session: await this.recentActions(tx, agent.id, scope),
      };
      const approval = await this.d.approvals.create(tx, {
        actionId: id,
        binding: { agentId: agent.id, tool: tool.name, input: r.input, policyHash: decision.policyHash },
        requirement: decision.approval,
        evidence,
        requester: r.onBehalfOf ?? null,
        actor,
      });
      await tx.run('UPDATE actions SET approval_id = ? WHERE id = ?', [approval.id, id]);
      view.approvalId = approval.id;
    }
    const anomalies = anomaly ? await anomaly.conclude(tx, id) : [];
    return { view, anomalies, toolRecorded, ...(anomaly ? { committed: () => anomaly.committed() } : {}) };
  }

  private announceAnomalies(anomalies: readonly Anomaly[]): void {
    for (const a of anomalies) this.d.events.publish('anomaly.detected', { ...a }, `agent:${a.agentId}`);
    const paused = anomalies.find((a) => a.mode === 'pause');
    if (paused)
      this.d.events.publish(
        'agent.paused',
        { agentId: paused.agentId, status: 'paused', reason: 'anomaly' },
        `agent:${paused.agentId}`,
      );
  }

  /** An action reached a final status: its span is emitted and a log line names it by the ids traces use. */
  private finished(view: ActionView, agent?: Pick<Agent, 'displayName' | 'tier'>): void {
    emitActionSpan(this.tracing, view, agent);
    this.d.logger?.info(
      {
        actionId: view.id,
        agentId: view.agentId,
        tool: view.tool,
        status: view.status,
        outcome: view.outcome,
        ...(view.sessionId?.startsWith('wf:') ? { runId: view.sessionId.slice(3) } : {}),
        ...(view.approvalId ? { approvalId: view.approvalId } : {}),
        ...(view.traceId ? { traceId: view.traceId, spanId: view.spanId } : {}),
        ...(view.error ? { errorCode: view.error.code } : {}),
      },
      `action ${view.status}`,
    );
  }

  private announce(view: ActionView, timing: { connector: string; decisionMs: number }): void {
    // The decision's latency and connector travel with the event, for `/metrics`.
    this.d.events.publish(
      `action.${view.status}`,
      { actionId: view.id, agentId: view.agentId, tool: view.tool, outcome: view.outcome, ...timing },
      `action:${view.id}`,
    );
    if (view.approvalId)
      this.d.events.publish(
        'approval.requested',
        { approvalId: view.approvalId, actionId: view.id },
        `action:${view.id}`,
      );
  }

  /**
   * Calls the upstream for an action already marked `executing`, then records the outcome. `inputHash` is the
   * input's hash when the caller has it already (the answer cache key).
   */
  private async execute(
    view: ActionView,
    tool: RegisteredTool,
    agent?: Pick<Agent, 'displayName' | 'tier'>,
    inputHash: string = hashJson(view.input),
    known: { toolRecorded?: boolean } = {},
  ): Promise<ActionView> {
    let result: ToolResult | undefined;
    let error: { code: string; message: string } | undefined;
    let status: ActionStatus;
    const started = Date.now();
    const upstream = this.tracing.start(`aos.upstream_call ${tool.name}`, {
      parent: actionSpanRef(view),
      kind: SpanKind.CLIENT,
      attributes: { 'gen_ai.tool.name': tool.name, 'aos.connector': tool.connector },
    });
    let anomalies: Anomaly[] = [];
    try {
      result = await this.d.tools.call(tool, view.input, { trace: this.tracing.inject(upstream) });
      status = result.isError ? 'failed' : 'succeeded';
      this.tracing.end(upstream, result.isError ? 'tool_error' : undefined);
    } catch (err) {
      this.tracing.end(upstream, err instanceof AosError ? err.code : 'upstream_error');
      const code = err instanceof AosError ? err.code : 'upstream_error';
      error = { code, message: err instanceof AosError ? err.message : 'the upstream call failed' };
      // A call that may have reached the upstream is not a failure we can vouch for.
      status =
        code === 'upstream_outcome_unknown' || code === 'timeout' || code === 'aborted'
          ? 'unknown_outcome'
          : 'failed';
    }
    crashPoint('action.after-upstream');
    const now = new Date();
    const resultJson = result ? JSON.stringify(result) : null;
    // Whether this call recorded the outcome; if not (recovery got there first), the row says what happened.
    let recorded = false;
    // Not durable: nobody waits for this commit's fsync. The decision record already is; a crash that loses this
    // one leaves the action `executing`, which recovery flags `unknown_outcome` — never a second execution.
    const wakes = wakeRunOfSessionStatements(view.sessionId);
    const cacheable =
      status === 'succeeded' &&
      result !== undefined &&
      tool.cacheTtlSec > 0 &&
      tool.metadata.effect === 'read' &&
      tool.metadata.idempotent;
    // The run waiting for the action (if any) woken, the action's row, its cached answer and its audit record: one
    // round trip on PostgreSQL. When the row is no longer `executing` (recovery got there first), none of it is
    // written.
    const audits: AuditEvent[] = [
      {
        actor: 'system',
        type: 'action.completed',
        subject: `action:${view.id}`,
        payload: {
          actionId: view.id,
          status,
          durationMs: now.getTime() - started,
          ...(result ? { isError: result.isError, resultHash: hashJson(result) } : {}),
          ...(error ? { error } : {}),
        },
      },
    ];
    const writes: Statement[] = [
      ...wakes,
      {
        sql: `UPDATE actions SET status = ?, result_json = ?, error_json = ?, untrusted_output = ?, finished_at = ?, updated_at = ?
         WHERE id = ? AND status = 'executing'`,
        params: [
          status,
          resultJson,
          error ? JSON.stringify(error) : null,
          status === 'succeeded' && tool.metadata.untrustedOutput ? 1 : 0,
          now.toISOString(),
          now.toISOString(),
          view.id,
        ],
      },
      ...(cacheable
        ? [
            {
              sql: `INSERT INTO tool_cache (agent_id, tool, input_hash, result_json, expires_at_ms) VALUES (?, ?, ?, ?, ?)
           ON CONFLICT (agent_id, tool, input_hash) DO UPDATE SET result_json = excluded.result_json, expires_at_ms = excluded.expires_at_ms`,
              params: [
                view.agentId,
                tool.name,
                inputHash,
                resultJson,
                now.getTime() + tool.cacheTtlSec * 1000,
              ],
            },
          ]
        : []),
    ];
    const tracksFailures = status === 'failed' && !!this.d.anomalies;
    // What a success adds to the session memory (a tool new to the scope, an untrusted read): writes that depend
    // on no read, so they ride the outcome's statement.
    const learned =
      status === 'succeeded'
        ? this.sessions.successWrites({
            agentId: view.agentId,
            sessionId: view.sessionId,
            tool: tool.name,
            untrusted: tool.metadata.untrustedOutput,
            toolRecorded: known.toolRecorded === true,
          })
        : [];
    writes.push(...learned);
    // The action row must still be `executing`; the others may change any number of rows.
    const expect = writes.map((_, i) => (i === wakes.length ? 1 : undefined));
    const taken = (err: unknown) => {
      if (!(err instanceof UnexpectedChanges)) throw err;
    };
    if (!tracksFailures) {
      // Nothing read before the writes: one statement, which commits by itself when no other transaction waits.
      await this.d.audit
        .appendAlone(audits, writes, { durable: false, expect })
        .then(() => {
          recorded = true;
        })
        .catch(taken);
    } else
      await this.d.db
        .tx(
          async (tx) => {
            const { changes } = await this.d.audit.appendWith(tx, audits, writes);
            checkChanges(changes, expect);
            recorded = true;
            if (this.d.anomalies)
              anomalies = await this.d.anomalies.recordFailure(tx, view.agentId, tool.name, view.id);
          },
          { durable: false },
        )
        .catch(taken);
    this.announceAnomalies(anomalies);
    const done: ActionView = recorded
      ? {
          ...view,
          status,
          result: result ?? null,
          error: error ?? null,
          finishedAt: now.toISOString(),
          updatedAt: now.toISOString(),
        }
      : ((await this.get(view.id)) as ActionView);
    this.finished(done, agent);
    this.d.events.publish(
      `action.${done.status}`,
      {
        actionId: done.id,
        agentId: done.agentId,
        tool: done.tool,
        connector: tool.connector,
        executionMs: Date.now() - started,
        ...(error ? { errorCode: error.code } : result?.isError ? { errorCode: 'tool_error' } : {}),
      },
      `action:${done.id}`,
    );
    return done;
  }

  /**
   * Withdraws the pending approval request of an action in `tx` — the caller that asked for it no longer wants it
   * (a cancelled workflow run). The action ends `rejected` and can never execute. False when nothing was pending.
   */
  withdraw(tx: Executor, actionId: string, actor: string, reason: string): Promise<boolean> {
    return this.d.approvals.withdraw(tx, actionId, actor, reason);
  }

  /**
   * A human's vote on an approval. When it completes the quorum, the action is re-checked (binding, agent status,
   * kill switches, tool pin) and executed exactly once — the transition to `executing` is conditional, so racing
   * approvers cannot both start it.
   */
  async vote(params: VoteInput): Promise<{ approval: Approval; action: ActionView | null }> {
    let toExecute: ActionView | undefined;
    let voter: Agent | undefined;
    const approval = await this.d.db.tx(async (tx) => {
      const pending = await this.d.approvals.require(params.approvalId, tx);
      // A workflow approval step has no action: the vote wakes its run, which reads the decision on its next advance.
      // Its run learns of the decision through its wake, on whichever node claims it (run row before the approval's).
      if (pending.actionId === null) {
        if (pending.runId) await wakeRun(tx, pending.runId);
        return (await this.d.approvals.vote(tx, { ...params, agentOwner: null })).approval;
      }
      const action = await this.get(pending.actionId, tx);
      if (!action) throw new NotFoundError('action', pending.actionId, 'action');
      // A workflow step waiting for this decision is woken with it (its run row before the approval's).
      await wakeRunOfAction(tx, action.id);
      const agent = await this.d.agents.require(action.agentId, 'agent', tx);
      voter = agent;
      const vr = await this.d.approvals.vote(tx, { ...params, agentOwner: agent.owner });
      const now = new Date().toISOString();
      if (vr.decided === 'denied') {
        await tx.run(
          "UPDATE actions SET status = 'rejected', updated_at = ? WHERE id = ? AND status = 'pending_approval'",
          [now, action.id],
        );
      } else if (vr.decided === 'approved') {
        const blocked = await this.blockReason(tx, action, agent, vr.approval);
        if (blocked) {
          await tx.run(
            "UPDATE actions SET status = 'blocked', updated_at = ? WHERE id = ? AND status = 'pending_approval'",
            [now, action.id],
          );
          await this.d.audit.append(tx, {
            actor: 'system',
            type: 'action.blocked',
            subject: `action:${action.id}`,
            payload: { actionId: action.id, reason: blocked },
          });
        } else {
          if (action.decision.overBudget)
            await this.d.budgets.reserve(tx, agent, this.d.tools.get(action.tool)?.cost ?? 1, {
              force: true,
            });
          const res = await tx.run(
            "UPDATE actions SET status = 'executing', node_id = ?, started_at = ?, updated_at = ? WHERE id = ? AND status = 'pending_approval'",
            [this.d.nodes.id, now, now, action.id],
          );
          if (res.changes === 1) toExecute = (await this.get(action.id, tx)) as ActionView;
        }
      }
      return vr.approval;
    });
    // A vote on a workflow approval step (no action) is the workflow's crash point; on an action's, the pipeline's.
    crashPoint(approval.actionId === null ? 'workflow.after-approval-vote' : 'approval.after-vote');
    this.d.events.publish(
      `approval.${approval.status === 'pending' ? 'vote' : approval.status}`,
      {
        approvalId: approval.id,
        actionId: approval.actionId,
        ...(approval.runId ? { runId: approval.runId, stepId: approval.stepId } : {}),
        ...(approval.status !== 'pending' ? { waitMs: Date.now() - Date.parse(approval.createdAt) } : {}),
      },
      subjectOf(approval),
    );
    if (approval.actionId === null) return { approval, action: null };
    if (approval.status !== 'pending') {
      const decided = toExecute ?? (await this.require(approval.actionId));
      emitApprovalWaitSpan(this.tracing, decided, approval.status);
      if (!toExecute) this.finished(decided, voter);
    }
    if (toExecute) {
      const tool = this.d.tools.get(toExecute.tool);
      if (tool) return { approval, action: await this.execute(toExecute, tool, voter) };
    }
    return { approval, action: await this.require(approval.actionId) };
  }

  private async blockReason(
    tx: Executor,
    action: ActionView,
    agent: Agent,
    approval: Approval,
  ): Promise<string | undefined> {
    const expected = bindingHash({
      agentId: action.agentId,
      tool: action.tool,
      input: action.input,
      policyHash: action.policyHash,
    });
    if (expected !== approval.bindingHash) return 'the action no longer matches what was approved';
    if (agent.status !== 'active' && !action.decision.statusWaivedBy)
      return `agent ${agent.id} is ${agent.status}`;
    const facts = await readGuardFacts(tx, this.d, agent, action.tool);
    const sw = facts.killSwitch;
    if (sw) return `kill switch ${sw.scope} is engaged`;
    const tool = this.d.tools.get(action.tool);
    const current = facts.tool;
    if (!tool || !current || current.status !== 'active' || current.approvedHash !== tool.definitionHash)
      return `tool ${action.tool} is quarantined`;
    return undefined;
  }

  /**
   * Runs the registered reversal of a succeeded action through the same pipeline, as the same agent, on behalf of
   * the human who asked (audited as theirs); see {@link planUndo} for which attempt runs. A member of the admins
   * group may reverse the actions of a paused or revoked agent; kill switches, policy and approvals still apply.
   */
  async undo(actionId: string, human: Human, reason?: string): Promise<ActionView> {
    const original = await this.require(actionId);
    const owner = (await this.d.agents.require(original.agentId, 'agent')).owner;
    const groups = this.d.groups ?? DEFAULT_ACCESS_GROUPS;
    if (human.id !== owner && !isAdmin(human, groups))
      throw new ForbiddenError(
        `undoing action ${actionId} needs membership of ${groups.admins} or being its agent's owner ${owner}`,
      );
    const plan = await planUndo(
      { actions: this, tools: this.d.tools, agents: this.d.agents },
      { actionId, human, reason },
    );
    return this.submit(plan.agent, plan.request, {
      reversalOf: actionId,
      system: true,
      requestedBy: human,
    });
  }
}

/** The value of the argument a tool names as its `resource`, when it is a string or a number. */
function resourceOf(tool: RegisteredTool, input: Record<string, unknown>): string | undefined {
  if (!tool.resource) return undefined;
  const v = input[tool.resource];
  return typeof v === 'string' || typeof v === 'number' ? String(v).slice(0, 256) : undefined;
}
