import type { BudgetService } from '../budgets/budgets.js';
import type { AosConfig } from '../config/config.js';
import type { LlmAgentConfig } from '../config/llm-agent-config.js';
import { UserError } from '../errors.js';
import type { EventBus } from '../events/event-bus.js';
import type { Agent } from '../identity/agents.js';
import type { KillSwitches } from '../intervention/kill-switches.js';
import type { ActionService } from '../pipeline/action-service.js';
import { resolveSecretRefs, secretRefNames } from '../secrets/index.js';
import type { SecretStore } from '../secrets/index.js';
import type { Store } from '../store/open-store.js';
import type { ToolRegistry } from '../tools/tool-registry.js';
import type { TaskQueue } from '../workflows/task-queue.js';
import { LlmAgent } from './llm-agent.js';
import type { AgentRunOptions, AgentRunResult, AgentTask } from './llm-agent.js';
import { ModelApiError } from './model-client.js';
import type { ModelClient } from './model-client.js';
import { createModelClient } from './providers.js';
import { EngineToolGateway } from './tool-gateway.js';
import type { AgentToolGateway } from './tool-gateway.js';
import type { Tracing } from '../observability/tracing.js';

/** The parts of the engine the runtime uses (an Engine fits). */
export interface AgentRuntimeEngine {
  store: Store;
  config: Pick<AosConfig, 'llmAgents'>;
  tools: ToolRegistry;
  killSwitches: KillSwitches;
  actions: ActionService;
  budgets: BudgetService;
  events: EventBus;
  workflows: { tasks: TaskQueue };
  /** Where each run's `invoke_agent` span goes. */
  tracing?: Tracing;
}

/** Options for {@link AgentRuntime.create}. */
export interface AgentRuntimeOptions {
  engine: AgentRuntimeEngine;
  /** Where `${secret:NAME}` API keys are resolved (the engine's secret store). */
  secrets: SecretStore;
  /** The agents to run; default the config's `llmAgents`. */
  agents?: readonly LlmAgentConfig[];
  /**
   * How an agent reaches its tools for one task; default the engine's pipeline in this process. Give an
   * {@link McpToolGateway} to go through the MCP gateway of an `aos serve` instead.
   */
  gateway?: (agent: Agent, sessionId: string) => Promise<AgentToolGateway>;
  /** A model client per agent instead of one built from its config (embedding). */
  model?: (config: LlmAgentConfig, apiKey: string | undefined) => ModelClient;
}

/** What the start-up check found for one agent. */
export interface AgentCheck {
  agent: string;
  ok: boolean;
  /** What is wrong, naming the agent and never the key. */
  problem?: string;
  code?: string;
}

/** The result of one task taken from the queue. */
export interface AgentTaskResult {
  taskId: string;
  result: AgentRunResult;
}

/**
 * The built-in LLM agents of one node: builds each agent's model client (its key resolved from the secret store),
 * checks at start-up that every agent is registered and its key accepted, and runs tasks, given directly with
 * {@link run} or taken from the workflow task queue for the agent's role ({@link workOnce}, {@link start}).
 *
 * @example
 * const runtime = await AgentRuntime.create({ engine, secrets });
 * for (const c of await runtime.check()) if (!c.ok) console.error(c.problem);
 * const result = await runtime.run('support-llm', { input: 'Order o-1: the customer asks for a refund of 40.' });
 */
export class AgentRuntime {
  readonly #agents = new Map<
    string,
    { config: LlmAgentConfig; model: ModelClient | undefined; problem?: AgentCheck }
  >();
  readonly #timers = new Set<NodeJS.Timeout>();
  readonly #running = new Map<string, AbortController>();
  #stopped = false;

  private constructor(private readonly o: AgentRuntimeOptions) {}

  /** Builds the runtime; a key that cannot be resolved is a problem {@link check} reports, not an exception. */
  static async create(options: AgentRuntimeOptions): Promise<AgentRuntime> {
    const rt = new AgentRuntime(options);
    for (const config of options.agents ?? options.engine.config.llmAgents) {
      let key: string | undefined;
      let problem: AgentCheck | undefined;
      if (config.model.apiKey) {
        try {
          key = await resolveSecretRefs(config.model.apiKey, options.secrets, {
            field: `llmAgents.${config.agent}.model.apiKey`,
          });
        } catch (err) {
          const names = secretRefNames(config.model.apiKey).join(', ');
          problem = {
            agent: config.agent,
            ok: false,
            code: 'model_key_missing',
            problem: `LLM agent '${config.agent}': its API key secret '${names}' is not set (${(err as Error).message})`,
          };
        }
      }
      const model = problem
        ? undefined
        : (options.model?.(config, key) ?? createModelClient({ config: config.model, apiKey: key }));
      rt.#agents.set(config.agent, { config, model, ...(problem ? { problem } : {}) });
    }
    return rt;
  }

  /** The ids of the configured agents. */
  ids(): string[] {
    return [...this.#agents.keys()];
  }

  /**
   * Checks every agent: registered, of the configured role, its key resolved and accepted by the model API (a
   * cheap authenticated request). Each problem is also audited as `agent.model_check_failed`.
   */
  async check(signal?: AbortSignal): Promise<AgentCheck[]> {
    const out: AgentCheck[] = [];
    for (const [id, entry] of this.#agents) {
      let c: AgentCheck = entry.problem ?? { agent: id, ok: true };
      if (c.ok) {
        const agent = await this.o.engine.store.agents.get(id);
        if (!agent)
          c = {
            agent: id,
            ok: false,
            code: 'agent_unknown',
            problem: `LLM agent '${id}' is not a registered agent (aos agents create ${id} …)`,
          };
        else if (entry.config.role && agent.role !== entry.config.role)
          c = {
            agent: id,
            ok: false,
            code: 'role_mismatch',
            problem: `LLM agent '${id}' has role '${agent.role}', not '${entry.config.role}' as configured`,
          };
        else {
          try {
            await entry.model?.check(signal);
          } catch (err) {
            const e = err instanceof ModelApiError ? err : undefined;
            c = {
              agent: id,
              ok: false,
              code: e?.code ?? 'model_error',
              problem: `LLM agent '${id}': ${e?.code === 'model_rejected_key' ? 'the model API rejected its API key' : 'the model API check failed'} (${(err as Error).message})`,
            };
          }
        }
      }
      if (!c.ok)
        await this.o.engine.store.audit.record({
          actor: 'runtime:llm-agents',
          type: 'agent.model_check_failed',
          subject: `agent:${id}`,
          payload: { code: c.code, problem: c.problem },
        });
      out.push(c);
    }
    return out;
  }

  /** The agent `id`, ready to run a task. */
  async agent(id: string): Promise<LlmAgent> {
    const entry = this.#agents.get(id);
    if (!entry) throw new UserError(`no LLM agent '${id}' is configured`, { field: 'agent' });
    if (!entry.model)
      throw new UserError(entry.problem?.problem ?? `LLM agent '${id}' has no model`, { field: 'agent' });
    const agent = await this.o.engine.store.agents.require(id, 'agent');
    const e = this.o.engine;
    return new LlmAgent({
      config: entry.config,
      agent,
      model: entry.model,
      store: e.store,
      budgets: e.budgets,
      events: e.events,
      tracing: e.tracing,
      gateway: (sessionId) =>
        this.o.gateway
          ? this.o.gateway(agent, sessionId)
          : Promise.resolve(
              new EngineToolGateway({
                deps: { store: e.store, tools: e.tools, killSwitches: e.killSwitches },
                actions: e.actions,
                agent,
                sessionId,
              }),
            ),
    });
  }

  /** Runs one task with the agent `id`, directly (not through the task queue). */
  async run(id: string, task: AgentTask, options: AgentRunOptions = {}): Promise<AgentRunResult> {
    return (await this.agent(id)).run(task, options);
  }

  /**
   * Takes one open task of the agent's role from the task queue, runs it, and completes it with the model's answer
   * (`{ text, actions }`) or fails it with the reason (retryable: the step's retry policy may give it to another agent
   * of the role, as the failing one is paused). Undefined when there
   * was nothing to take.
   */
  async workOnce(id: string): Promise<AgentTaskResult | undefined> {
    const llm = await this.agent(id);
    const agent = await this.o.engine.store.agents.require(id, 'agent');
    const queue = this.o.engine.workflows.tasks;
    const task = await queue.claim(agent);
    if (!task) return undefined;
    const controller = new AbortController();
    this.#running.set(task.id, controller);
    const beat = setInterval(
      () => {
        queue.heartbeat(agent, task.id).catch(() => controller.abort());
      },
      Math.max(1000, Math.floor(queue.leaseMs / 3)),
    );
    try {
      const result = await llm.run(
        {
          id: task.id,
          input: task.context.critique ? { task: task.input, critique: task.context.critique } : task.input,
        },
        { signal: controller.signal },
      );
      if (result.status === 'completed')
        await queue.complete(agent, task.id, {
          text: result.output,
          actions: result.actions.map((a) => a.actionId),
        });
      else
        await queue
          .fail(agent, task.id, { message: result.reason ?? result.status, retryable: true })
          .catch(() => undefined);
      return { taskId: task.id, result };
    } finally {
      clearInterval(beat);
      this.#running.delete(task.id);
    }
  }

  /**
   * Polls the task queue for every agent that takes tasks (or those of `agents`, e.g. the ones whose {@link check}
   * passed), one task per agent at a time, until {@link stop}.
   */
  start(options: { intervalMs?: number; agents?: readonly string[] } = {}): void {
    const interval = options.intervalMs ?? 1000;
    this.#stopped = false;
    for (const [id, entry] of this.#agents) {
      if (!entry.config.takesTasks || !entry.model) continue;
      if (options.agents && !options.agents.includes(id)) continue;
      let busy = false;
      const t = setInterval(() => {
        if (busy || this.#stopped) return;
        busy = true;
        this.workOnce(id)
          .catch(() => undefined)
          .finally(() => {
            busy = false;
          });
      }, interval);
      t.unref();
      this.#timers.add(t);
    }
  }

  /** Stops polling and aborts the tasks in flight (they fail retryable, so another node or a later start takes them). */
  stop(): void {
    this.#stopped = true;
    for (const t of this.#timers) clearInterval(t);
    this.#timers.clear();
    for (const c of this.#running.values()) c.abort();
  }
}
