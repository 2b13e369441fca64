import { AosClient } from './client.js';
import { AosApiError } from './errors.js';

/** A workflow task as a worker receives it. */
export interface WorkerTask {
  id: string;
  runId: string;
  stepId: string;
  attempt: number;
  item: number;
  role: string;
  parentTaskId: string | null;
  depth: number;
  status: string;
  priority: number;
  /** What the step (or the delegating agent) gives the task. */
  input: unknown;
  /** `critique` from a rejected review; `notes` from handoffs and escalations. */
  context: { critique?: string; notes?: { kind: string; from: string; note: string; at: string }[] };
  agentId: string | null;
  leaseUntil: number;
  /** How long a claim lasts without a heartbeat. */
  leaseMs: number;
  output: unknown;
  error: { code: string; message: string; retryable: boolean } | null;
  [key: string]: unknown;
}

/** What a handler can do besides returning its output. */
export interface WorkerContext {
  /** Aborted when the lease is lost (another worker may have the task now) or the worker stops. */
  signal: AbortSignal;
  /** Extends the lease now (the worker also does it every leaseMs/3). */
  heartbeat(): Promise<void>;
  /** Delegates a sub-task to another role and resolves with its output once an agent of that role completes it. */
  delegate(role: string, input?: unknown): Promise<unknown>;
  /** Gives the task to another role or agent with a note; the handler's return value is then ignored. */
  handoff(to: { toRole?: string; toAgent?: string; context: string }): Promise<void>;
  /** Hands the task to a human (the workflow owner); the handler's return value is then ignored. */
  escalate(message: string): Promise<void>;
  /** The API client, as the worker's agent. */
  client: AosClient;
}

/** Handles one task; its return value is the task's output. Throw to fail it. */
export type TaskHandler = (task: WorkerTask, ctx: WorkerContext) => unknown;

/** Throw from a handler to fail a task for good (the step does not retry it). */
export class NonRetryableError extends Error {
  readonly retryable = false;
  constructor(message: string) {
    super(message);
    this.name = new.target.name;
  }
}

/** Options for {@link AosWorker}. */
export interface AosWorkerOptions {
  /** Base URL of an `aos serve`, e.g. `http://127.0.0.1:7420`. */
  url: string;
  /** The agent's token; the agent's role must be the one the worker handles. */
  token: string;
  /** Handlers running at once. Default 1. */
  concurrency?: number;
  /** Long-poll length of each `next` request, 0..30 s. Default 10. */
  waitSec?: number;
  /** How often `ctx.delegate` looks at its sub-task. Default 250 ms. */
  delegatePollMs?: number;
  /** A fetch implementation (default: the global one). */
  fetch?: typeof fetch;
}

const sleep = (ms: number, signal: AbortSignal) =>
  new Promise<void>((resolve) => {
    if (signal.aborted) return resolve();
    const t = setTimeout(resolve, ms);
    signal.addEventListener(
      'abort',
      () => {
        clearTimeout(t);
        resolve();
      },
      { once: true },
    );
  });

const FINAL = new Set(['completed', 'failed', 'cancelled']);

/**
 * Takes workflow tasks for one role over the REST API: long-polls `POST /v1/tasks/next`, runs up to `concurrency`
 * handlers, heartbeats each lease every leaseMs/3, completes with the handler's return value and fails with its
 * error's message (retryable unless the error has `retryable: false`). Browser-safe: fetch only.
 *
 * @example
 * const worker = new AosWorker({ url, token });
 * worker.handle('invoice-extractor', async (task, ctx) => extract(task.input));
 * await worker.start();
 * // …
 * await worker.stop();
 */
export class AosWorker {
  readonly client: AosClient;
  private readonly handlers = new Map<string, TaskHandler>();
  private stopping = new AbortController();
  private loops: Promise<void>[] = [];
  private handler: TaskHandler | undefined;

  constructor(private readonly options: AosWorkerOptions) {
    this.client = new AosClient({
      url: options.url,
      token: options.token,
      ...(options.fetch ? { fetch: options.fetch } : {}),
    });
  }

  /** Registers the handler for a role (the role of the worker's agent). */
  handle(role: string, handler: TaskHandler): this {
    this.handlers.set(role, handler);
    return this;
  }

  /** Checks the token's agent has a handled role, then starts taking tasks. */
  async start(): Promise<void> {
    if (this.loops.length) return;
    const me = (await this.client.whoami()) as { kind?: string; role?: string; id?: string };
    const handler = me.role ? this.handlers.get(me.role) : undefined;
    if (me.kind !== 'agent' || !handler)
      throw new Error(
        `agent ${me.id ?? '?'} has role '${me.role ?? 'none'}'; this worker handles ${[...this.handlers.keys()].join(', ') || 'no role'}`,
      );
    this.handler = handler;
    this.stopping = new AbortController();
    const n = Math.max(1, this.options.concurrency ?? 1);
    for (let i = 0; i < n; i++) this.loops.push(this.loop());
  }

  /** Stops taking tasks, aborts running handlers' signals and waits for the loops to end. */
  async stop(): Promise<void> {
    this.stopping.abort();
    await Promise.allSettled(this.loops);
    this.loops = [];
  }

  private async loop(): Promise<void> {
    const stop = this.stopping.signal;
    const waitSec = Math.min(Math.max(this.options.waitSec ?? 10, 0), 30);
    while (!stop.aborted) {
      let task: WorkerTask | undefined;
      try {
        task = await this.client.request<WorkerTask | undefined>(
          'POST',
          '/v1/tasks/next',
          { waitSec },
          { signal: stop },
        );
      } catch {
        // Server unreachable or restarting: back off, then ask again.
        await sleep(1000, stop);
        continue;
      }
      if (task) await this.run(task);
    }
  }

  private async run(task: WorkerTask): Promise<void> {
    const stop = this.stopping.signal;
    const lease = new AbortController();
    const onStop = () => lease.abort();
    stop.addEventListener('abort', onStop, { once: true });
    const path = `/v1/tasks/${encodeURIComponent(task.id)}`;
    let given = false; // handed off or escalated: no longer ours to complete
    let lost = false; // the lease ran out: the task may be another worker's now
    const heartbeat = async () => {
      try {
        await this.client.request('POST', `${path}/heartbeat`, {});
      } catch (err) {
        // 409: the lease ran out and the task may be someone else's now; 404: gone.
        if (err instanceof AosApiError && (err.status === 409 || err.status === 404)) {
          lost = true;
          lease.abort();
        }
      }
    };
    const timer = setInterval(
      () => void heartbeat(),
      Math.max(100, Math.floor((task.leaseMs || 60_000) / 3)),
    );
    const ctx: WorkerContext = {
      signal: lease.signal,
      client: this.client,
      heartbeat,
      delegate: async (role, input) => {
        const child = await this.client.request<WorkerTask>('POST', `${path}/delegate`, {
          role,
          input: input ?? null,
        });
        const childPath = `/v1/tasks/${encodeURIComponent(child.id)}`;
        for (;;) {
          if (lease.signal.aborted) throw new Error(`task ${task.id} stopped while waiting for ${child.id}`);
          const c = await this.client.request<WorkerTask>('GET', childPath);
          if (c.status === 'completed') return c.output;
          if (FINAL.has(c.status))
            throw new Error(`delegated task ${child.id} ${c.status}: ${c.error?.message ?? 'no output'}`);
          await sleep(this.options.delegatePollMs ?? 250, lease.signal);
        }
      },
      handoff: async (to) => {
        await this.client.request('POST', `${path}/handoff`, to);
        given = true;
      },
      escalate: async (message) => {
        await this.client.request('POST', `${path}/fail`, { message, escalate: true });
        given = true;
      },
    };
    try {
      let output: unknown;
      let failure: { message: string; retryable: boolean } | undefined;
      try {
        output = await (this.handler as TaskHandler)(task, ctx);
      } catch (err) {
        failure = {
          message: err instanceof Error ? err.message : String(err),
          retryable: (err as { retryable?: unknown } | null)?.retryable !== false,
        };
      }
      // A stopping worker still reports what its handler finished; a lost lease is not ours to report.
      if (given || lost) return;
      try {
        if (failure) await this.client.request('POST', `${path}/fail`, failure);
        else await this.client.request('POST', `${path}/complete`, { output: output ?? null });
      } catch {
        // Lease lost meanwhile (409) or server gone: the lease runs out and the task goes back to the queue.
      }
    } finally {
      clearInterval(timer);
      stop.removeEventListener('abort', onStop);
    }
  }
}
