import { AosApiError } from './errors.js';

/** What an agent asks to do. */
export interface ActParams {
  tool: string;
  input?: Record<string, unknown>;
  /** Why the agent wants this; shown to approvers. */
  reason?: string;
  /** The agent's confidence, 0 to 1. */
  confidence?: number;
  environment?: string;
  sessionId?: string;
  idempotencyKey?: string;
  onBehalfOf?: string;
}

/** An action as the API returns it. */
export interface Action {
  id: string;
  outcome: 'allowed' | 'pending_approval' | 'denied';
  status: string;
  agentId: string;
  tool: string;
  input: Record<string, unknown>;
  approvalId: string | null;
  result: { content: unknown[]; structuredContent?: unknown; isError: boolean } | null;
  error: { code: string; message: string } | null;
  decision: { policies: string[]; reasons: string[]; risk: number; policyHash: string };
  replayed?: boolean;
  [key: string]: unknown;
}

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

  getAction(id: string): Promise<Action> {
    return this.request('GET', `/v1/actions/${encodeURIComponent(id)}`);
  }

  /** The receipt: what, which data, which policy, which checks, who approved, how to reverse. */
  receipt(id: string): Promise<Record<string, unknown>> {
    return this.request('GET', `/v1/actions/${encodeURIComponent(id)}/receipt`);
  }

  /** Runs the registered reversal of an action (human token: the agent's owner or an admin). */
  undo(id: string, reason?: string): Promise<Action> {
    return this.request('POST', `/v1/actions/${encodeURIComponent(id)}/undo`, reason ? { reason } : {});
  }

  listApprovals(
    status?: 'pending' | 'approved' | 'denied' | 'expired',
  ): Promise<{ approvals: Record<string, unknown>[] }> {
    return this.request('GET', `/v1/approvals${status ? `?status=${status}` : ''}`);
  }

  getApproval(id: string): Promise<Record<string, unknown>> {
    return this.request('GET', `/v1/approvals/${encodeURIComponent(id)}`);
  }

  /** Approves (human token). `bindingHash`/`input` make sure you approve exactly what you saw. */
  approve(
    id: string,
    vote: { comment?: string; bindingHash?: string; input?: Record<string, unknown> } = {},
  ) {
    return this.request<{ approval: Record<string, unknown>; action: Action }>(
      'POST',
      `/v1/approvals/${encodeURIComponent(id)}/approve`,
      vote,
    );
  }

  deny(id: string, vote: { comment?: string } = {}) {
    return this.request<{ approval: Record<string, unknown>; action: Action }>(
      'POST',
      `/v1/approvals/${encodeURIComponent(id)}/deny`,
      vote,
    );
  }

  /** Engages or releases a kill switch (admins). */
  killSwitch(params: {
    active: boolean;
    role?: string;
    agent?: string;
    reason?: string;
  }): Promise<Record<string, unknown>> {
    return this.request('POST', '/v1/killswitch', params);
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

  whoami(): Promise<Record<string, unknown>> {
    return this.request('GET', '/v1/whoami');
  }
}
