import { AosApiError } from './errors.js';
import type { components } from './generated/api.js';
import type {
  ActionFilter,
  AgentRecord,
  ApprovalRecord,
  AosEvent,
  AuditVerifyReport,
  KillSwitchRecord,
  Receipt,
  WhoAmI,
} from './console-types.js';
import { streamEvents } from './events.js';
import type { EventStreamOptions } from './events.js';
import type { Run, RunDetail, RunFilter, WorkflowSummary } from './runs.js';
import type { ReportSummary } from './reports.js';
import type {
  AuditBundleView,
  AuditCheckpoint,
  AuditQuery,
  AuditRecordView,
  BudgetUsage,
  RunBudgetUsage,
  PolicyFile,
  PolicyReplayReport,
  PolicySetView,
  ToolSummary,
} from './console-pages.js';

/** A query string from the fields that are set. */
function query(fields: Record<string, string | number | undefined>): string {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(fields)) if (v !== undefined && v !== '') q.set(k, String(v));
  const s = q.toString();
  return s ? `?${s}` : '';
}

/** What an agent asks to do. */
export interface ActParams {
  tool: string;
  input?: Record<string, unknown>;
  /** Why the agent wants this; shown to approvers. */
  reason?: string;
  /** The agent's confidence, 0 to 1. */
  confidence?: number;
  environment?: string;
  /** A session from {@link AosClient.openSession}; any other value is decided on everything the agent did. */
  sessionId?: string;
  idempotencyKey?: string;
  onBehalfOf?: string;
}

/**
 * An action as the API returns it: the generated `Action` component (the server's `actionSchema`), with its stored
 * decision; `replayed` is set on the 200 answer of an idempotent replay.
 */
export type Action = components['schemas']['Action'];

/** Options for {@link AosClient}. */
export interface AosClientOptions {
  /** Base URL, e.g. `http://127.0.0.1:7420`. */
  url: string;
  /** An agent or human bearer token (`aos_…` or a JWT). */
  token: string;
  /** A fetch implementation (default: the global one). */
  fetch?: typeof fetch;
}

/**
 * A small client for the Autonomy OS REST API. Browser-safe: it uses only `fetch`.
 *
 * @example
 * const aos = new AosClient({ url: 'http://127.0.0.1:7420', token: process.env.AOS_TOKEN });
 * const a = await aos.act({ tool: 'payments.refund', input: { orderId: 'o-1', amount: 50 }, reason: 'lost parcel', confidence: 0.9 });
 * if (a.outcome === 'pending_approval') console.log('waiting for', a.approvalId);
 */
export class AosClient {
  private readonly base: string;
  private readonly fetchImpl: typeof fetch;

  constructor(private readonly options: AosClientOptions) {
    this.base = options.url.replace(/\/+$/, '');
    this.fetchImpl = options.fetch ?? ((...args) => globalThis.fetch(...args));
  }

  /**
   * Signs a human in with their id and password (`POST /v1/auth/sessions`, sent without any bearer token) and answers
   * a client carrying the short-lived session token, with when it expires. Throws {@link AosApiError} (401 for a
   * wrong password or unknown human, 429 after too many failures).
   *
   * @example
   * const { client } = await AosClient.signIn({ url: 'http://127.0.0.1:7420', human: 'frank', password });
   */
  static async signIn(p: {
    url: string;
    human: string;
    password: string;
    fetch?: typeof fetch;
  }): Promise<{ client: AosClient; token: string; expiresAt: string }> {
    const fetchImpl = p.fetch ?? ((...args: Parameters<typeof fetch>) => globalThis.fetch(...args));
    const res = await fetchImpl(`${p.url.replace(/\/+$/, '')}/v1/auth/sessions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ human: p.human, password: p.password }),
    });
    const text = await res.text();
    let parsed: unknown;
    try {
      parsed = text ? JSON.parse(text) : undefined;
    } catch {
      parsed = undefined;
    }
    if (!res.ok) throw new AosApiError(res.status, parsed as never);
    const body = parsed as { token: string; expiresAt: string };
    return {
      client: new AosClient({ url: p.url, token: body.token, ...(p.fetch ? { fetch: p.fetch } : {}) }),
      token: body.token,
      expiresAt: body.expiresAt,
    };
  }

  /** Signs out: revokes the sign-in session token this client carries. */
  async signOut(): Promise<void> {
    await this.request('DELETE', '/v1/auth/sessions/current');
  }

  /** Any API call: answers the parsed JSON body, or throws {@link AosApiError}. */
  async request<T>(
    method: string,
    path: string,
    body?: unknown,
    init: { signal?: AbortSignal } = {},
  ): Promise<T> {
    const res = await this.fetchImpl(`${this.base}${path}`, {
      method,
      ...(init.signal ? { signal: init.signal } : {}),
      headers: {
        authorization: `Bearer ${this.options.token}`,
        ...(body === undefined ? {} : { 'content-type': 'application/json' }),
      },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    const text = await res.text();
    let parsed: unknown;
    try {
      parsed = text ? JSON.parse(text) : undefined;
    } catch {
      parsed = undefined;
    }
    if (!res.ok) throw new AosApiError(res.status, parsed as never);
    return parsed as T;
  }

  /** Submits an action through the pipeline (agent token). */
  act(params: ActParams): Promise<Action> {
    return this.request('POST', '/v1/actions', { input: {}, ...params });
  }

  /**
   * Opens a session (agent token). Actions that pass its `sessionId` are decided on what was done in it alone; with
   * no `sessionId`, or one the server did not open for this agent, they are decided on everything the agent did.
   *
   * @example
   * const { sessionId } = await aos.openSession();
   * await aos.act({ tool: 'tickets.read_ticket', input: { id: 't-1' }, sessionId });
   */
  openSession(): Promise<{ sessionId: string }> {
    return this.request('POST', '/v1/sessions', {});
  }

  getAction(id: string): Promise<Action> {
    return this.request('GET', `/v1/actions/${encodeURIComponent(id)}`);
  }

  /** The receipt: what, which data, which policy, which checks, who approved, how to reverse. */
  receipt(id: string): Promise<Receipt> {
    return this.request('GET', `/v1/actions/${encodeURIComponent(id)}/receipt`);
  }

  /** Runs the registered reversal of an action (human token: the agent's owner or an admin). */
  undo(id: string, reason?: string): Promise<Action> {
    return this.request('POST', `/v1/actions/${encodeURIComponent(id)}/undo`, reason ? { reason } : {});
  }

  listApprovals(
    status?: 'pending' | 'approved' | 'denied' | 'expired',
  ): Promise<{ approvals: ApprovalRecord[] }> {
    return this.request('GET', `/v1/approvals${status ? `?status=${status}` : ''}`);
  }

  getApproval(id: string): Promise<ApprovalRecord> {
    return this.request('GET', `/v1/approvals/${encodeURIComponent(id)}`);
  }

  /** Approves (human token). `bindingHash`/`input` make sure you approve exactly what you saw. */
  approve(
    id: string,
    vote: { comment?: string; bindingHash?: string; input?: Record<string, unknown> } = {},
  ) {
    return this.request<{ approval: ApprovalRecord; action: Action }>(
      'POST',
      `/v1/approvals/${encodeURIComponent(id)}/approve`,
      vote,
    );
  }

  deny(id: string, vote: { comment?: string } = {}) {
    return this.request<{ approval: ApprovalRecord; action: Action }>(
      'POST',
      `/v1/approvals/${encodeURIComponent(id)}/deny`,
      vote,
    );
  }

  /** Engages or releases a kill switch (admins): global, or for one `role` or `agent`. */
  killSwitch(params: {
    active: boolean;
    role?: string;
    agent?: string;
    reason?: string;
  }): Promise<KillSwitchRecord> {
    return this.request('POST', '/v1/killswitch', params);
  }

  /** Every kill switch that has ever been set, engaged or not (human token). */
  async listKillSwitches(): Promise<KillSwitchRecord[]> {
    return (await this.request<{ switches: KillSwitchRecord[] }>('GET', '/v1/killswitch')).switches;
  }

  /**
   * Leader metrics for a period (`7d`, `24h`, or an ISO date; default 7d), per workflow and per agent (human token).
   * The same figures `aos report` prints.
   */
  getReportSummary(params: { since?: string } = {}): Promise<ReportSummary> {
    const q = params.since ? `?since=${encodeURIComponent(params.since)}` : '';
    return this.request('GET', `/v1/reports/summary${q}`);
  }

  /** The agent registry (human token). */
  async listAgents(filter: { role?: string; status?: AgentRecord['status'] } = {}): Promise<AgentRecord[]> {
    const q = new URLSearchParams(
      Object.entries(filter).filter((e): e is [string, string] => typeof e[1] === 'string'),
    ).toString();
    return (await this.request<{ agents: AgentRecord[] }>('GET', `/v1/agents${q ? `?${q}` : ''}`)).agents;
  }

  getAgent(id: string): Promise<AgentRecord> {
    return this.request('GET', `/v1/agents/${encodeURIComponent(id)}`);
  }

  /**
   * Pauses, resumes or kills (revokes) an agent. Admins may do all three; an agent's owner may pause it. A paused
   * or killed agent's next call is refused by the pipeline.
   */
  setAgentStatus(id: string, change: 'pause' | 'resume' | 'kill', reason?: string): Promise<AgentRecord> {
    return this.request('POST', `/v1/agents/${encodeURIComponent(id)}/${change}`, reason ? { reason } : {});
  }

  /** Promotes or demotes an agent to `tier` 0-3 (admins); audited with the reason. */
  setAgentTier(id: string, tier: 0 | 1 | 2 | 3, reason?: string): Promise<AgentRecord> {
    return this.request('POST', `/v1/agents/${encodeURIComponent(id)}/tier`, {
      tier,
      ...(reason ? { reason } : {}),
    });
  }

  /** Recent actions, newest first (a human sees all, an agent its own). */
  async listActions(filter: ActionFilter = {}): Promise<Action[]> {
    const q = new URLSearchParams();
    if (filter.agent) q.set('agent', filter.agent);
    if (filter.status) q.set('status', filter.status);
    if (filter.since) q.set('since', filter.since);
    if (filter.limit !== undefined) q.set('limit', String(filter.limit));
    const qs = q.toString();
    return (await this.request<{ actions: Action[] }>('GET', `/v1/actions${qs ? `?${qs}` : ''}`)).actions;
  }

  /**
   * One page of the agent registry, by id (human token); pass `nextCursor` back as `cursor` for the next.
   *
   * @example
   * let page = await aos.listAgentsPage({ limit: 200 });
   * while (page.nextCursor) page = await aos.listAgentsPage({ limit: 200, cursor: page.nextCursor });
   */
  listAgentsPage(
    q: {
      role?: string;
      status?: AgentRecord['status'];
      search?: string;
      limit?: number;
      cursor?: string;
    } = {},
  ): Promise<{ agents: AgentRecord[]; nextCursor: string | null }> {
    return this.request('GET', `/v1/agents${query({ limit: 100, ...q })}`);
  }

  /** One page of actions, newest first; pass `nextCursor` back as `cursor` for the next. */
  listActionsPage(
    q: ActionFilter & { tool?: string; cursor?: string } = {},
  ): Promise<{ actions: Action[]; nextCursor: string | null }> {
    return this.request('GET', `/v1/actions${query({ ...q })}`);
  }

  /** Searches the whole audit log, newest first, one page at a time (auditors or admins). */
  searchAudit(q: AuditQuery = {}): Promise<{ records: AuditRecordView[]; nextCursor: string | null }> {
    return this.request('GET', `/v1/audit${query({ ...q })}`);
  }

  /** The latest signed checkpoint (or null) and the head of the log (auditors or admins). */
  auditCheckpoint(): Promise<{ checkpoint: AuditCheckpoint | null; head: { seq: number; hash: string } }> {
    return this.request('GET', '/v1/audit/checkpoint');
  }

  /** Signs a checkpoint and exports the log up to it as a bundle `aos audit verify --bundle` checks offline. */
  exportAudit(): Promise<AuditBundleView> {
    return this.request('POST', '/v1/audit/export', {});
  }

  /** The active policy set: hash, policies and the source texts (human token). */
  getPolicies(): Promise<PolicySetView> {
    return this.request('GET', '/v1/policies');
  }

  /**
   * Re-decides the recorded decisions of the last `days` days under a proposed set and reports what would change
   * (admins or auditors). Nothing is written or deployed.
   */
  replayPolicies(proposal: {
    policies: PolicyFile[];
    approvals?: PolicyFile[];
    days?: number;
  }): Promise<PolicyReplayReport> {
    return this.request('POST', '/v1/policies/replay', proposal);
  }

  /** The tool catalogue: each tool's connector, status, metadata and cost units (any authenticated caller). */
  async listTools(): Promise<ToolSummary[]> {
    return (await this.request<{ tools: ToolSummary[] }>('GET', '/v1/tools')).tools;
  }

  /** Every configured budget with its use in the current period (human token). */
  async listBudgets(): Promise<BudgetUsage[]> {
    return (await this.budgetUse()).budgets;
  }

  /** The configured budgets' use, and the per-run budgets of the most recent runs that spent from one. */
  budgetUse(): Promise<{ budgets: BudgetUsage[]; runs: RunBudgetUsage[] }> {
    return this.request('GET', '/v1/budgets');
  }

  /** Retries a failed run from its failed step (admins or the workflow's owner). */
  retryRun(id: string): Promise<Run> {
    return this.request('POST', `/v1/runs/${encodeURIComponent(id)}/retry`, {});
  }

  /** Sends a named signal (an event a run may wait for) to a run. */
  signalRun(id: string, name: string, data?: unknown): Promise<Record<string, unknown>> {
    return this.request('POST', `/v1/runs/${encodeURIComponent(id)}/signals`, {
      name,
      ...(data === undefined ? {} : { data }),
    });
  }

  /** Checks the audit log's hash chain and signed checkpoints (auditors or admins). */
  verifyAudit(): Promise<AuditVerifyReport> {
    return this.request('GET', '/v1/audit/verify');
  }

  /**
   * The live event stream (human token), as an async iterable. Ends when the server closes it or `signal` aborts.
   *
   * @example
   * for await (const e of aos.events({ types: ['approval.requested'] })) console.log(e.data.approvalId);
   */
  events(options: EventStreamOptions = {}): AsyncGenerator<AosEvent> {
    return streamEvents({ url: this.base, token: this.options.token, fetch: this.fetchImpl }, options);
  }

  /** Workflow tasks, newest first (human token). */
  listTasks(
    filter: { run?: string; status?: string; role?: string } = {},
  ): Promise<{ tasks: Record<string, unknown>[] }> {
    const q = new URLSearchParams(
      Object.entries(filter).filter((e): e is [string, string] => typeof e[1] === 'string'),
    ).toString();
    return this.request('GET', `/v1/tasks${q ? `?${q}` : ''}`);
  }

  /** One task (a human, or the agent that claimed or delegated it). */
  getTask(id: string): Promise<Record<string, unknown>> {
    return this.request('GET', `/v1/tasks/${encodeURIComponent(id)}`);
  }

  /** Completes an escalated task with a human's output (the workflow owner or admins). */
  resolveTask(id: string, output: unknown): Promise<Record<string, unknown>> {
    return this.request('POST', `/v1/tasks/${encodeURIComponent(id)}/resolve`, { output });
  }

  /** Fails an escalated task for good (the workflow owner or admins). */
  rejectTask(id: string, message: string): Promise<Record<string, unknown>> {
    return this.request('POST', `/v1/tasks/${encodeURIComponent(id)}/reject`, { message });
  }

  /** Who the token belongs to: a human (with groups) or an agent. The console signs in only humans. */
  whoami(): Promise<WhoAmI> {
    return this.request('GET', '/v1/whoami');
  }

  /** The workflows the server has loaded (human token). */
  async listWorkflows(): Promise<WorkflowSummary[]> {
    return (await this.request<{ workflows: WorkflowSummary[] }>('GET', '/v1/workflows')).workflows;
  }

  /** Starts a run (admins or the workflow's owner); the input is checked against the workflow's input schema. */
  startRun(workflow: string, input: unknown = {}): Promise<Run> {
    return this.request('POST', `/v1/workflows/${encodeURIComponent(workflow)}/runs`, { input });
  }

  /** Recent runs, newest first. */
  async listRuns(filter: RunFilter = {}): Promise<Run[]> {
    const q = new URLSearchParams();
    if (filter.status) q.set('status', filter.status);
    if (filter.workflow) q.set('workflow', filter.workflow);
    if (filter.limit !== undefined) q.set('limit', String(filter.limit));
    const qs = q.toString();
    return (await this.request<{ runs: Run[] }>('GET', `/v1/runs${qs ? `?${qs}` : ''}`)).runs;
  }

  /** A run with its steps and event history. */
  getRun(id: string): Promise<RunDetail> {
    return this.request('GET', `/v1/runs/${encodeURIComponent(id)}`);
  }

  /** Cancels a run (admins or the workflow's owner); completed steps are compensated in reverse order. */
  cancelRun(id: string, reason?: string): Promise<Run> {
    return this.request('POST', `/v1/runs/${encodeURIComponent(id)}/cancel`, reason ? { reason } : {});
  }

  /** Pauses a running run (admins or the workflow's owner): no new step starts and nothing is submitted. */
  pauseRun(id: string, reason?: string): Promise<Run> {
    return this.request('POST', `/v1/runs/${encodeURIComponent(id)}/pause`, reason ? { reason } : {});
  }

  /** Resumes a paused run from where it was. */
  resumeRun(id: string): Promise<Run> {
    return this.request('POST', `/v1/runs/${encodeURIComponent(id)}/resume`, {});
  }

  /** Approves a run's approval step (a member of the step's group, not the human who started the run). */
  approveRunStep(id: string, step: string, comment?: string): Promise<RunDetail> {
    return this.request(
      'POST',
      `/v1/runs/${encodeURIComponent(id)}/steps/${encodeURIComponent(step)}/approve`,
      comment ? { comment } : {},
    );
  }

  /** Denies a run's approval step: the step fails and the run compensates. */
  denyRunStep(id: string, step: string, comment?: string): Promise<RunDetail> {
    return this.request(
      'POST',
      `/v1/runs/${encodeURIComponent(id)}/steps/${encodeURIComponent(step)}/deny`,
      comment ? { comment } : {},
    );
  }

  /**
   * Decides what became of a step's action whose outcome is unknown after a crash (the workflow's owner or admins):
   * `succeeded` (with `output`), `failed`, or `retry` (a new attempt; you vouch the effect did not happen).
   */
  resolveRunStep(
    id: string,
    step: string,
    decision: { outcome: 'succeeded' | 'failed' | 'retry'; output?: unknown; comment?: string },
  ): Promise<RunDetail> {
    return this.request(
      'POST',
      `/v1/runs/${encodeURIComponent(id)}/steps/${encodeURIComponent(step)}/resolve`,
      decision,
    );
  }

  /** A run's shared context entries (humans; agents working on the run). */
  getRunContext(runId: string): Promise<{ entries: RunContextEntry[] }> {
    return this.request('GET', `/v1/runs/${encodeURIComponent(runId)}/context`);
  }

  /** One entry of a run's shared context. */
  getRunContextEntry(runId: string, key: string): Promise<RunContextEntry> {
    return this.request('GET', `/v1/runs/${encodeURIComponent(runId)}/context/${encodeURIComponent(key)}`);
  }

  /**
   * Writes one entry of a run's shared context. With `expectVersion` (the version you read; 0 for a new key) it
   * fails with 409 instead of overwriting someone else's newer write.
   */
  setRunContext(
    runId: string,
    key: string,
    value: unknown,
    options: { expectVersion?: number } = {},
  ): Promise<RunContextEntry> {
    return this.request('PUT', `/v1/runs/${encodeURIComponent(runId)}/context/${encodeURIComponent(key)}`, {
      value,
      ...options,
    });
  }

  /** Sends a message to an agent (`to`) or a role (`toRole`) working on the same run (agent token). */
  sendMessage(runId: string, message: { to?: string; toRole?: string; body: unknown }): Promise<RunMessage> {
    return this.request('POST', `/v1/runs/${encodeURIComponent(runId)}/messages`, message);
  }

  /** The calling agent's inbox (its own and its role's messages); the messages answered are marked read. */
  readMessages(options: { runId?: string; unread?: boolean } = {}): Promise<{ messages: RunMessage[] }> {
    const q = new URLSearchParams();
    if (options.unread !== undefined) q.set('unread', String(options.unread));
    if (options.runId) q.set('runId', options.runId);
    const qs = q.toString();
    return this.request('GET', `/v1/messages${qs ? `?${qs}` : ''}`);
  }
}

/** One entry of a run's shared context. */
export interface RunContextEntry {
  key: string;
  value: unknown;
  version: number;
  /** `agent:<id>` or `human:<id>`. */
  writtenBy: string;
  updatedAt: string;
}

/** A message between the agents of a run. */
export interface RunMessage {
  id: string;
  runId: string;
  kind: string;
  from: string;
  to: string | null;
  toRole: string | null;
  body: unknown;
  createdAt: string;
  readAt: string | null;
}
