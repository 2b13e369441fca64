import { ErrorCode, McpError } from '@modelcontextprotocol/sdk/types.js';
import type { CallToolResult, Tool } from '@modelcontextprotocol/sdk/types.js';
import { NotFoundError, ToolNameMap, UserError } from '@autonomy-os/core';
import type { ActionView, Agent, Context, Engine } from '@autonomy-os/core';
import { waitForAction } from './approval-wait.js';
import { offeredBuiltins } from './builtin-selection.js';
import { BUILTIN_TOOLS } from './builtin-tools.js';
import type { BuiltinContext } from './builtin-tools.js';
import { toJsonRpcError } from './errors.js';
import { actionResult, invalidInputResult } from './results.js';
import { blockedReason, callableTools, toMcpTool } from './tool-catalog.js';

/** How tool names are shown to a client: as registered, or as aliases model APIs accept. */
export type ToolNaming = 'dotted' | 'alias';

/**
 * What one MCP request is answered for, whatever the protocol revision: the agent it authenticated as, the
 * pipeline session its calls belong to, and how names are shown.
 */
export interface GatewayRequest {
  engine: Engine;
  agent: Agent;
  /** The pipeline session id (untrusted-output memory), if the request names one. */
  sessionId: string | undefined;
  naming: ToolNaming;
}

/** One tools/call as the revision's adapter hands it over. */
export interface GatewayToolCall {
  name: string;
  args: Record<string, unknown>;
  /** The request's `_meta` (reserved protocol keys removed). */
  meta: Record<string, unknown> | undefined;
  /** Aborted when the client goes away or cancels. */
  signal: AbortSignal;
  /** Sends a progress notification, when the request asked for them (a `progressToken`). */
  progress?: ((waitedMs: number, totalMs: number, message: string) => Promise<void>) | undefined;
  /** How long a held call waits for a decision; default `mcp.approvalWaitMs`. */
  waitMs?: number;
  /** The trace context of the gateway's `tools/call` span: the action's span becomes its child. */
  traceParent?: Context | undefined;
}

/** Per-call options an agent may pass in `_meta` of tools/call. */
interface CallMeta {
  reason?: string;
  confidence?: number;
  idempotencyKey?: string;
  environment?: string;
}

function callMeta(meta: Record<string, unknown> | undefined): CallMeta {
  const out: CallMeta = {};
  if (!meta) return out;
  for (const key of ['reason', 'idempotencyKey', 'environment'] as const) {
    const v = meta[key];
    if (v === undefined) continue;
    if (typeof v !== 'string') {
      throw new McpError(ErrorCode.InvalidParams, `_meta.${key}: must be a string`, {
        field: `_meta.${key}`,
      });
    }
    out[key] = v;
  }
  if (meta.confidence !== undefined) {
    if (typeof meta.confidence !== 'number') {
      throw new McpError(ErrorCode.InvalidParams, '_meta.confidence: must be a number between 0 and 1', {
        field: '_meta.confidence',
      });
    }
    out.confidence = meta.confidence;
  }
  return out;
}

/**
 * The alias mapping for an agent's tools: every registry tool and built-in, so a name maps the same way in
 * tools/list and tools/call whatever changed in between. The same {@link ToolNameMap} the built-in LLM agents use.
 */
export function toolNameMap(engine: Engine): ToolNameMap {
  return new ToolNameMap([...engine.tools.list().map((t) => t.name), ...BUILTIN_TOOLS.keys()]);
}

/** tools/list: the built-ins offered to this agent and the registry tools it may call at all. */
export async function listGatewayTools(r: GatewayRequest): Promise<Tool[]> {
  try {
    const blocked = await blockedReason(r.engine, r.agent);
    const builtins = offeredBuiltins(r.engine, r.agent, blocked).map((b) => b.definition);
    const tools = blocked ? [] : (await callableTools(r.engine, r.agent)).map(toMcpTool);
    const all = [...builtins, ...tools];
    if (r.naming === 'dotted') return all;
    const names = toolNameMap(r.engine);
    return all.map((t) => ({ ...t, name: names.toModel(t.name) }));
  } catch (err) {
    throw toJsonRpcError(err);
  }
}

/** The registry or built-in name a client's name stands for (an alias, or the name itself). */
export function resolveToolName(r: GatewayRequest, name: string): string {
  if (r.naming === 'dotted') return name;
  return toolNameMap(r.engine).fromModel(name) ?? name;
}

/** Waits for a held action like tools/call does, sending progress while it waits. */
export async function waitHeld(
  r: GatewayRequest,
  view: ActionView,
  call: Pick<GatewayToolCall, 'signal' | 'progress' | 'waitMs'>,
): Promise<ActionView> {
  const waitMs = call.waitMs ?? r.engine.config.mcp.approvalWaitMs;
  if (view.status !== 'pending_approval' || waitMs <= 0) return view;
  const message = `waiting for a human to decide approval ${view.approvalId ?? ''}`;
  const progress = call.progress;
  return waitForAction(r.engine, view.id, {
    timeoutMs: waitMs,
    signal: call.signal,
    onProgress: progress ? (waited) => progress(waited, waitMs, message) : undefined,
  });
}

/** A tools/call answered as MCP, with the action it recorded (if any) for revisions that follow it up. */
export interface GatewayCallOutcome {
  result: CallToolResult;
  action?: ActionView;
}

/**
 * tools/call: a built-in runs in the gateway; anything else becomes `engine.actions.submit` and, when held, waits
 * for a decision up to `mcp.approvalWaitMs`. Errors are JSON-RPC errors of the v1 SDK ({@link McpError}); each
 * revision's adapter sends them as its SDK does.
 */
export async function callGatewayTool(r: GatewayRequest, call: GatewayToolCall): Promise<GatewayCallOutcome> {
  const { engine, agent, sessionId } = r;
  const meta = callMeta(call.meta);
  let last: ActionView | undefined;

  const submit: BuiltinContext['submit'] = async (req) => {
    const tool = engine.tools.get(req.tool);
    if (!tool || tool.status === 'removed') {
      throw new McpError(ErrorCode.InvalidParams, `unknown tool '${req.tool}'`, { field: 'name' });
    }
    const hasOutputSchema = !!tool.definition.outputSchema;
    let view;
    try {
      view = await engine.actions.submit(
        agent,
        {
          tool: req.tool,
          input: req.input,
          ...meta,
          ...(req.reason !== undefined ? { reason: req.reason } : {}),
          ...(sessionId ? { sessionId } : {}),
        },
        {
          ...(req.forceApproval ? { forceApproval: true } : {}),
          ...(call.traceParent ? { traceParent: call.traceParent } : {}),
        },
      );
    } catch (err) {
      // Input the pinned schema refuses is the model's to fix: answer it as a tool error naming the field.
      if (err instanceof UserError && !(err instanceof NotFoundError) && err.field?.startsWith('input')) {
        return invalidInputResult(err.message, err.field, { hasOutputSchema });
      }
      throw toJsonRpcError(err);
    }
    view = await waitHeld(r, view, call);
    last = view;
    return actionResult(engine, view, { hasOutputSchema });
  };

  try {
    const name = resolveToolName(r, call.name);
    const builtin = BUILTIN_TOOLS.get(name);
    if (builtin) {
      const blocked = await blockedReason(engine, agent);
      if (blocked && builtin.kind === 'governed' && name !== 'aos_request_approval') {
        return { result: { content: [{ type: 'text', text: `Refused: ${blocked}.` }], isError: true } };
      }
      const result = await builtin.run(call.args, { engine, agent, blocked, submit });
      return { result, ...(last ? { action: last } : {}) };
    }
    const result = await submit({ tool: name, input: call.args });
    return { result, ...(last ? { action: last } : {}) };
  } catch (err) {
    throw toJsonRpcError(err);
  }
}
