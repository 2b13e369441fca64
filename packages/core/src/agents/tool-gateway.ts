import { NotFoundError, UserError } from '../errors.js';
import type { Agent } from '../identity/agents.js';
import type { ActionService } from '../pipeline/action-service.js';
import type { SpanRef } from '../observability/tracing.js';
import type { ActionView } from '../pipeline/types.js';
import { blockedReason, callableTools } from '../tools/callable-tools.js';
import type { ToolCatalogDeps } from '../tools/callable-tools.js';

/** A tool as an agent's gateway lists it, under our `<connector>.<tool>` name. */
export interface AgentTool {
  name: string;
  description: string;
  inputSchema: Record<string, unknown>;
}

/** One call an agent makes, with the reasoning and confidence it stated. */
export interface AgentToolCall {
  tool: string;
  input: Record<string, unknown>;
  reason: string;
  confidence?: number | undefined;
  /** The agent run's `invoke_agent` span: the call's action span becomes its child. */
  traceParent?: SpanRef | undefined;
}

/** What came of a call, as text for the model, and the action the pipeline recorded. */
export interface AgentToolResult {
  text: string;
  isError: boolean;
  actionId?: string | undefined;
  /** The action's status (`succeeded`, `denied`, `pending_approval`…), or `invalid_input`. */
  status?: string | undefined;
}

/**
 * How an LLM agent reaches its tools: always through the pipeline, under its own identity. Two gateways ship: the
 * engine's action service in the same process ({@link EngineToolGateway}) and the MCP gateway of an `aos serve`
 * over Streamable HTTP with the agent's token ({@link McpToolGateway}).
 */
export interface AgentToolGateway {
  /** The tools the agent may call now (none while it is blocked). */
  listTools(): Promise<AgentTool[]>;
  call(call: AgentToolCall): Promise<AgentToolResult>;
  /** Why the agent may not act at all now (paused, revoked, a kill switch), or undefined. */
  blocked(): Promise<string | undefined>;
  close(): Promise<void>;
}

/** The text a model reads for an action in any state. */
export function describeAction(a: ActionView): AgentToolResult {
  const policies = a.decision.policies.join(', ') || 'none';
  const reasons = a.decision.reasons.join('; ') || 'no reason recorded';
  const base = { actionId: a.id, status: a.status };
  switch (a.status) {
    case 'succeeded':
    case 'failed': {
      if (a.result) {
        const texts = (a.result.content as { type: string; text?: string }[])
          .filter((c) => c.type === 'text' && typeof c.text === 'string')
          .map((c) => c.text as string);
        const text = texts.length
          ? texts.join('\n')
          : JSON.stringify(a.result.structuredContent ?? a.result.content);
        return { ...base, text, isError: a.result.isError };
      }
      return {
        ...base,
        text: `The upstream call failed (${a.error?.code ?? 'upstream_error'}): ${a.error?.message ?? 'no detail'}.`,
        isError: true,
      };
    }
    case 'denied':
      return {
        ...base,
        text: `Denied by ${policies}: ${reasons}. Action ${a.id} is recorded; do not retry the same call.`,
        isError: true,
      };
    case 'pending_approval':
      return {
        ...base,
        text: `Waiting for a human approval (policies: ${policies}; ${reasons}). Action ${a.id}, approval ${a.approvalId ?? ''}; it runs once approved. Do not submit it again.`,
        isError: false,
      };
    default:
      return { ...base, text: `Action ${a.id} is ${a.status}.`, isError: a.status !== 'executing' };
  }
}

/** Options for {@link EngineToolGateway}. */
export interface EngineToolGatewayOptions {
  /** Where the catalog comes from (an Engine fits). */
  deps: ToolCatalogDeps;
  actions: ActionService;
  agent: Agent;
  /** The pipeline session of this task: what the agent read here (untrusted content) shapes later decisions. */
  sessionId: string;
}

/** The in-process gateway: the engine's action service, the same pipeline every front calls. */
export class EngineToolGateway implements AgentToolGateway {
  constructor(private readonly o: EngineToolGatewayOptions) {}

  async listTools(): Promise<AgentTool[]> {
    if (await this.blocked()) return [];
    return (await callableTools(this.o.deps, this.o.agent)).map((t) => ({
      name: t.name,
      description: t.definition.description ?? t.definition.title ?? t.name,
      inputSchema:
        t.definition.inputSchema && typeof t.definition.inputSchema === 'object'
          ? (t.definition.inputSchema as Record<string, unknown>)
          : { type: 'object' },
    }));
  }

  async call(c: AgentToolCall): Promise<AgentToolResult> {
    try {
      const view = await this.o.actions.submit(
        this.o.agent,
        {
          tool: c.tool,
          input: c.input,
          reason: c.reason,
          ...(c.confidence !== undefined ? { confidence: c.confidence } : {}),
          sessionId: this.o.sessionId,
        },
        c.traceParent ? { traceParent: c.traceParent } : {},
      );
      return describeAction(view);
    } catch (err) {
      // Input the pinned schema refuses is the model's to fix, as the MCP front answers it.
      if (err instanceof UserError && !(err instanceof NotFoundError) && err.field?.startsWith('input'))
        return {
          text: `Invalid input: ${err.field}: ${err.message}`,
          isError: true,
          status: 'invalid_input',
        };
      throw err;
    }
  }

  blocked(): Promise<string | undefined> {
    return blockedReason(this.o.deps, this.o.agent);
  }

  close(): Promise<void> {
    return Promise.resolve();
  }
}
