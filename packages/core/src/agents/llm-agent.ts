import crypto from 'node:crypto';
import { Ajv } from 'ajv';
import type { ValidateFunction } from 'ajv';
import type { BudgetService } from '../budgets/budgets.js';
import type { LlmAgentConfig } from '../config/llm-agent-config.js';
import type { EventBus } from '../events/event-bus.js';
import type { Agent } from '../identity/agents.js';
import type { SpanRef, Tracing } from '../observability/tracing.js';
import type { Store } from '../store/open-store.js';
import { ModelApiError } from './model-client.js';
import type { ModelClient, ModelMessage, ModelReply, ModelTool, ModelUsage } from './model-client.js';
import type { AgentTool, AgentToolGateway } from './tool-gateway.js';
import { ToolNameMap } from './tool-names.js';

/** Arguments every tool gets besides its own, for the model to state why it calls and how sure it is. */
export const REASON_ARG = 'aos_reason';
export const CONFIDENCE_ARG = 'aos_confidence';

/** One piece of work for an LLM agent. */
export interface AgentTask {
  /** A workflow task's id, when the work came from the task queue. */
  id?: string;
  /** What to do: text, or any JSON (given to the model as JSON). */
  input: unknown;
}

/** How a task ended: the model said it was done, a step kept failing, or a cap, a kill switch or a pause stopped it. */
export type AgentRunStatus = 'completed' | 'failed' | 'stopped';

/** A failed step attempt, as recorded in the audit log. */
export interface AgentStepFailure {
  step: number;
  attempt: number;
  code: string;
  message: string;
}

/** What came of one task. */
export interface AgentRunResult {
  runId: string;
  status: AgentRunStatus;
  /** The model's last text (its answer, when completed). */
  output: string;
  /** Why it failed or stopped. */
  reason?: string;
  steps: number;
  usage: ModelUsage & { cost: number };
  /** Every call the agent made through the pipeline, in order. */
  actions: { actionId: string | undefined; tool: string; status: string | undefined; reason: string }[];
  failures: AgentStepFailure[];
}

/** Options for {@link LlmAgent}. */
export interface LlmAgentOptions {
  config: LlmAgentConfig;
  /** The registered agent the model acts as. */
  agent: Agent;
  model: ModelClient;
  store: Pick<Store, 'audit' | 'agents'>;
  budgets: BudgetService;
  events?: EventBus | undefined;
  /** Where the run's `invoke_agent` span goes (the engine's tracing); none, no span. */
  tracing?: Tracing | undefined;
  /** Opens the agent's way to its tools for one task; `sessionId` groups the task's calls in the pipeline. */
  gateway(sessionId: string): Promise<AgentToolGateway>;
}

/** Options for {@link LlmAgent.run}. */
export interface AgentRunOptions {
  /** Stops the loop (at the next step, or the model call in flight). */
  signal?: AbortSignal;
}

function matches(pattern: string, name: string): boolean {
  const re = new RegExp(`^${pattern.replace(/[.+?^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '[^.]*')}$`);
  return re.test(name);
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const t = setTimeout(done, ms);
    function done() {
      clearTimeout(t);
      signal.removeEventListener('abort', done);
      resolve();
    }
    signal.addEventListener('abort', done, { once: true });
  });
}

/** The parameters a model sees for a tool: its input schema plus the reason and confidence it must state. */
export function modelParameters(inputSchema: Record<string, unknown>): Record<string, unknown> {
  const properties = (inputSchema.properties ?? {}) as Record<string, unknown>;
  const required = Array.isArray(inputSchema.required) ? (inputSchema.required as string[]) : [];
  return {
    ...inputSchema,
    type: 'object',
    properties: {
      ...properties,
      [REASON_ARG]: {
        type: 'string',
        minLength: 1,
        maxLength: 4000,
        description: 'Why you make this call, for the humans who review it.',
      },
      [CONFIDENCE_ARG]: {
        type: 'number',
        minimum: 0,
        maximum: 1,
        description: 'How sure you are that this call is right, 0 to 1.',
      },
    },
    required: [...required.filter((r) => r !== REASON_ARG), REASON_ARG],
  };
}

/** One prepared call, or what was wrong with it. */
type Checked =
  | {
      ok: true;
      id: string;
      modelName: string;
      tool: string;
      input: Record<string, unknown>;
      reason: string;
      confidence?: number;
    }
  | { ok: false; id: string; modelName: string; problem: string };

/**
 * A built-in LLM agent: a model that works on a task by calling tools, every call going through the pipeline under
 * the agent's own identity (the gateway), with the reason and confidence it states recorded on the action. Model
 * usage (tokens, cost units) is charged to the agent's budgets. The loop stops at the step cap, the wall-clock cap,
 * an exhausted budget, a pause or a kill switch, and when its caller aborts.
 *
 * A step whose model call fails (down, slow, an error) or whose answer is garbage (a tool it was not offered,
 * arguments that are not a JSON object or fail the tool's schema) is recorded (`agent.step_failed`) and retried with
 * exponential back-off up to `retries.attempts`; a step that still fails fails the task, pauses the agent and tells its
 * owner (`agent.escalated`).
 *
 * @example
 * const result = await runtime.agent('support-llm').run({ input: 'Customer o-1 asks for a refund of 40.' });
 */
export class LlmAgent {
  readonly id: string;
  readonly #ajv = new Ajv({ allErrors: false, strict: false });

  constructor(private readonly o: LlmAgentOptions) {
    this.id = o.agent.id;
  }

  /** The tools the model may see, of those the gateway lists (the config's `tools` patterns, else all). */
  visible(tools: readonly AgentTool[]): AgentTool[] {
    const patterns = this.o.config.tools;
    return patterns ? tools.filter((t) => patterns.some((p) => matches(p, t.name))) : [...tools];
  }

  async #failure(runId: string, f: AgentStepFailure): Promise<void> {
    await this.o.store.audit.record({
      actor: `agent:${this.id}`,
      type: 'agent.step_failed',
      subject: `agent:${this.id}`,
      payload: { runId, ...f },
    });
    this.o.events?.publish('agent.step_failed', { agentId: this.id, runId, ...f }, `agent:${this.id}`);
  }

  /** Pauses the agent and tells its owner, in the audit log and on the live stream. */
  async #giveUp(runId: string, reason: string): Promise<void> {
    const actor = 'runtime:llm-agents';
    const agent = await this.o.store.agents.get(this.id);
    if (agent?.status === 'active')
      await this.o.store.agents
        .setStatus(this.id, 'pause', actor, `keeps failing: ${reason}`)
        .catch(() => undefined);
    const payload = { runId, owner: agent?.owner ?? this.o.agent.owner, reason, paused: true };
    await this.o.store.audit.record({ actor, type: 'agent.escalated', subject: `agent:${this.id}`, payload });
    this.o.events?.publish('agent.escalated', { agentId: this.id, ...payload }, `agent:${this.id}`);
  }

  #validator(tool: AgentTool): ValidateFunction | undefined {
    try {
      return this.#ajv.compile(modelParameters(tool.inputSchema));
    } catch {
      return undefined;
    }
  }

  #check(
    reply: ModelReply,
    names: ToolNameMap,
    tools: Map<string, { tool: AgentTool; validate: ValidateFunction | undefined }>,
  ): Checked[] {
    return reply.toolCalls.map((c): Checked => {
      const base = { id: c.id, modelName: c.name };
      const ours = names.fromModel(c.name);
      const entry = ours === undefined ? undefined : tools.get(ours);
      if (ours === undefined || !entry)
        return { ...base, ok: false, problem: `there is no tool named '${c.name.slice(0, 80)}'` };
      let args: unknown;
      try {
        args = c.arguments.trim() === '' ? {} : JSON.parse(c.arguments);
      } catch {
        return { ...base, ok: false, problem: `the arguments of ${c.name} are not JSON` };
      }
      if (!args || typeof args !== 'object' || Array.isArray(args))
        return { ...base, ok: false, problem: `the arguments of ${c.name} must be a JSON object` };
      if (entry.validate && !entry.validate(args)) {
        const e = entry.validate.errors?.[0];
        const where = e ? `${e.instancePath || '/'} ${e.message ?? 'is invalid'}` : 'do not match its schema';
        return { ...base, ok: false, problem: `the arguments of ${c.name} fail its schema: ${where}` };
      }
      const {
        [REASON_ARG]: reason,
        [CONFIDENCE_ARG]: confidence,
        ...input
      } = args as Record<string, unknown>;
      const stated =
        typeof reason === 'string' && reason.trim() ? reason.trim() : reply.text.trim() || 'no reason stated';
      return {
        ...base,
        ok: true,
        tool: ours,
        input,
        reason: stated.slice(0, 4000),
        ...(typeof confidence === 'number' ? { confidence } : {}),
      };
    });
  }

  /** Emits the run's `invoke_agent {agent}` span, from its start until now. */
  #emitRunSpan(p: { span: SpanRef; startMs: number; task: AgentTask; result: AgentRunResult }): void {
    const cfg = this.o.config;
    const { result } = p;
    this.o.tracing?.emit({
      name: `invoke_agent ${this.o.agent.displayName ?? this.id}`,
      ref: p.span,
      startMs: p.startMs,
      endMs: Date.now(),
      attributes: {
        'gen_ai.operation.name': 'invoke_agent',
        'gen_ai.provider.name': cfg.model.provider,
        'gen_ai.agent.id': this.id,
        'gen_ai.agent.name': this.o.agent.displayName ?? this.id,
        'gen_ai.request.model': cfg.model.model,
        'gen_ai.usage.input_tokens': result.usage.inputTokens,
        'gen_ai.usage.output_tokens': result.usage.outputTokens,
        'aos.agent.run.id': result.runId,
        'aos.agent.run.status': result.status,
        'aos.agent.run.steps': result.steps,
        ...(p.task.id ? { 'aos.task.id': p.task.id } : {}),
      },
      errorType: result.status === 'failed' ? 'agent_failed' : undefined,
    });
  }

  /** Works on one task until the model is done or something stops it. Never throws for the model's faults. */
  async run(task: AgentTask, options: AgentRunOptions = {}): Promise<AgentRunResult> {
    const cfg = this.o.config;
    const runId = `agr_${crypto.randomBytes(10).toString('hex')}`;
    const deadline = AbortSignal.timeout(cfg.maxRunSec * 1000);
    const signal = options.signal ? AbortSignal.any([options.signal, deadline]) : deadline;
    const result: AgentRunResult = {
      runId,
      status: 'completed',
      output: '',
      steps: 0,
      usage: { inputTokens: 0, outputTokens: 0, cost: 0 },
      actions: [],
      failures: [],
    };
    // One invoke_agent span per run (GenAI conventions); its id is fixed now so every governed call nests under it.
    const startMs = Date.now();
    const span = this.o.tracing?.reserve();
    const finish = async (status: AgentRunStatus, reason?: string): Promise<AgentRunResult> => {
      result.status = status;
      if (reason !== undefined) result.reason = reason;
      if (span) this.#emitRunSpan({ span, startMs, task, result });
      await this.o.store.audit
        .record({
          actor: `agent:${this.id}`,
          type: 'agent.task_finished',
          subject: `agent:${this.id}`,
          payload: {
            runId,
            ...(task.id ? { taskId: task.id } : {}),
            status,
            ...(reason ? { reason } : {}),
            steps: result.steps,
            usage: result.usage,
            actions: result.actions.map((a) => a.actionId).filter(Boolean),
          },
        })
        .catch(() => undefined);
      return result;
    };

    let gateway: AgentToolGateway;
    try {
      gateway = await this.o.gateway(`llm:${runId}`);
    } catch (err) {
      return await finish('failed', `cannot reach the agent's tools: ${(err as Error).message}`);
    }
    try {
      const stop = async (): Promise<string | undefined> => {
        if (deadline.aborted) return `the wall-clock cap of ${cfg.maxRunSec}s was reached`;
        if (options.signal?.aborted) return 'stopped by its runtime';
        const blocked = await gateway.blocked();
        if (blocked) return blocked;
        const over = await this.o.budgets.exhausted(this.o.agent);
        if (over) return `budget ${over.budget.scope} (${over.budget.period}) is used up`;
        return undefined;
      };
      const listed = this.visible(await gateway.listTools());
      const names = new ToolNameMap(listed.map((t) => t.name));
      const tools = new Map(listed.map((t) => [t.name, { tool: t, validate: this.#validator(t) }]));
      const modelTools: ModelTool[] = listed.map((t) => ({
        name: names.toModel(t.name),
        description: t.description,
        parameters: modelParameters(t.inputSchema),
      }));
      const messages: ModelMessage[] = [
        {
          role: 'user',
          text: typeof task.input === 'string' ? task.input : JSON.stringify(task.input, null, 2),
        },
      ];

      for (let step = 1; step <= cfg.maxSteps; step++) {
        const why = await stop();
        if (why) return await finish('stopped', why);
        result.steps = step;
        let accepted: Extract<Checked, { ok: true }>[] | undefined;
        let reply: ModelReply | undefined;
        for (let attempt = 1; accepted === undefined; attempt++) {
          let failure: { code: string; message: string; retryable: boolean };
          try {
            reply = await this.o.model.complete({
              system: cfg.systemPrompt,
              messages,
              tools: modelTools,
              signal,
            });
            const cost = Math.ceil(
              (reply.usage.inputTokens * cfg.model.price.inputPerMillion +
                reply.usage.outputTokens * cfg.model.price.outputPerMillion) /
                1_000_000,
            );
            result.usage.inputTokens += reply.usage.inputTokens;
            result.usage.outputTokens += reply.usage.outputTokens;
            result.usage.cost += cost;
            await this.o.budgets.chargeModelUsage(this.o.agent, { ...reply.usage, cost });
            const checked = this.#check(reply, names, tools);
            const bad = checked.filter((c): c is Extract<Checked, { ok: false }> => !c.ok);
            if (bad.length === 0) {
              accepted = checked as Extract<Checked, { ok: true }>[];
              break;
            }
            // Garbage goes back to the model as a note, not as tool calls: an API refuses a conversation that
            // echoes a tool name it would not accept.
            messages.push({
              role: 'user',
              text: `Your last answer was not run: ${bad.map((b) => b.problem).join('; ')}. Call only the tools you were given, with a JSON object of arguments that fits the tool's schema, and state ${REASON_ARG}.`,
            });
            failure = {
              code: 'model_bad_tool_call',
              message: bad.map((b) => b.problem).join('; '),
              retryable: true,
            };
          } catch (err) {
            if (signal.aborted) {
              const why = (await stop().catch(() => undefined)) ?? 'stopped';
              return await finish('stopped', why);
            }
            failure =
              err instanceof ModelApiError
                ? { code: err.code, message: err.message, retryable: err.retryable }
                : { code: 'agent_error', message: (err as Error).message, retryable: true };
          }
          const f = { step, attempt, code: failure.code, message: failure.message };
          result.failures.push(f);
          await this.#failure(runId, f);
          if (!failure.retryable || attempt > cfg.retries.attempts) {
            const reason = `step ${step} failed ${attempt} time(s): ${failure.message}`;
            await this.#giveUp(runId, reason);
            return await finish('failed', reason);
          }
          await sleep(Math.min(cfg.retries.backoffMs * 2 ** (attempt - 1), cfg.retries.maxBackoffMs), signal);
          const why = await stop();
          if (why) return await finish('stopped', why);
        }
        const answer = reply as ModelReply;
        result.output = answer.text;
        if (accepted.length === 0) return await finish('completed');
        messages.push({
          role: 'assistant',
          text: answer.text,
          toolCalls: accepted.map((c) => ({
            id: c.id,
            name: c.modelName,
            arguments: JSON.stringify({
              ...c.input,
              [REASON_ARG]: c.reason,
              ...(c.confidence !== undefined ? { [CONFIDENCE_ARG]: c.confidence } : {}),
            }),
          })),
        });
        for (const c of accepted) {
          let text: string;
          let isError: boolean;
          try {
            const r = await gateway.call({
              tool: c.tool,
              input: c.input,
              reason: c.reason,
              confidence: c.confidence,
              traceParent: span,
            });
            result.actions.push({ actionId: r.actionId, tool: c.tool, status: r.status, reason: c.reason });
            text = r.text;
            isError = r.isError;
          } catch (err) {
            // A refusal of the gateway (an unknown tool, a bad field) is the model's to read, not a crash.
            result.actions.push({ actionId: undefined, tool: c.tool, status: 'error', reason: c.reason });
            text = `The call failed: ${(err as Error).message}`;
            isError = true;
          }
          messages.push({
            role: 'tool',
            callId: c.id,
            name: c.modelName,
            text: text.slice(0, 20_000),
            isError,
          });
        }
      }
      return await finish('stopped', `the step cap of ${cfg.maxSteps} was reached`);
    } catch (err) {
      // Our side failed (the store, the gateway): the task fails with the reason, the process goes on.
      return await finish('failed', `the agent runtime failed: ${(err as Error).message}`);
    } finally {
      await gateway.close().catch(() => undefined);
    }
  }
}
