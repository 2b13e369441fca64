import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import {
  CallToolRequestSchema,
  ErrorCode,
  ListToolsRequestSchema,
  McpError,
} from '@modelcontextprotocol/sdk/types.js';
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import { NotFoundError, UserError } from '@autonomy-os/core';
import type { Agent, Engine } from '@autonomy-os/core';
import { waitForAction } from './approval-wait.js';
import { BUILTIN_TOOLS } from './builtin-tools.js';
import type { BuiltinContext } from './builtin-tools.js';
import { toJsonRpcError } from './errors.js';
import { actionResult, invalidInputResult } from './results.js';
import { blockedReason, callableTools, toMcpTool } from './tool-catalog.js';
import { tracedToolCall } from './mcp-spans.js';
import type { Context } from '@autonomy-os/core';

/** Options for {@link createAgentMcpServer}. */
export interface AgentMcpServerOptions {
  engine: Engine;
  /** The agent this request authenticated as. */
  agent: Agent;
  /** The pipeline session id for this MCP session (untrusted-output memory), if the client has one. */
  sessionId: string | undefined;
  version: string;
  /** The `MCP-Protocol-Version` header of the request, recorded on its spans. */
  protocolVersion?: string | undefined;
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
 * The MCP server one request talks to: it lists the tools the calling agent may use and sends every call through
 * the engine's pipeline. It holds no state of its own (one is built per HTTP request), so any node can answer any
 * request of a session.
 */
export function createAgentMcpServer(options: AgentMcpServerOptions): McpServer {
  const { engine, agent, sessionId } = options;
  const mcp = new McpServer(
    { name: 'autonomy-os', title: 'Autonomy OS', version: options.version },
    {
      capabilities: { tools: { listChanged: false } },
      instructions:
        'Every call is governed: it may be allowed, denied (the result says which policy and why) or held for a human approval (call aos_approval_status later).',
    },
  );
  const waitMs = engine.config.mcp.approvalWaitMs;

  mcp.server.setRequestHandler(ListToolsRequestSchema, async () => {
    try {
      const blocked = await blockedReason(engine, agent);
      const builtins = [...BUILTIN_TOOLS.values()]
        .filter((b) => !blocked || b.kind === 'self')
        .map((b) => b.definition);
      const tools = blocked ? [] : (await callableTools(engine, agent)).map(toMcpTool);
      return { tools: [...builtins, ...tools] };
    } catch (err) {
      throw toJsonRpcError(err);
    }
  });

  mcp.server.setRequestHandler(CallToolRequestSchema, async (request, extra): Promise<CallToolResult> => {
    const { name } = request.params;
    const args = request.params.arguments ?? {};
    const progressToken = extra._meta?.progressToken;
    const meta = callMeta(request.params._meta as Record<string, unknown> | undefined);
    let traceParent: Context | undefined;

    const submit: BuiltinContext['submit'] = async (r) => {
      const tool = engine.tools.get(r.tool);
      if (!tool || tool.status === 'removed') {
        throw new McpError(ErrorCode.InvalidParams, `unknown tool '${r.tool}'`, { field: 'name' });
      }
      const hasOutputSchema = !!tool.definition.outputSchema;
      let view;
      try {
        view = await engine.actions.submit(
          agent,
          {
            tool: r.tool,
            input: r.input,
            ...meta,
            ...(r.reason !== undefined ? { reason: r.reason } : {}),
            ...(sessionId ? { sessionId } : {}),
          },
          { ...(r.forceApproval ? { forceApproval: true } : {}), ...(traceParent ? { traceParent } : {}) },
        );
      } catch (err) {
        // Input the pinned schema refuses is the model's to fix: answer it as a tool error naming the field.
        if (err instanceof UserError && !(err instanceof NotFoundError) && err.field?.startsWith('input')) {
          return invalidInputResult(err.message, err.field, { hasOutputSchema });
        }
        throw toJsonRpcError(err);
      }
      if (view.status === 'pending_approval' && waitMs > 0) {
        const message = `waiting for a human to decide approval ${view.approvalId ?? ''}`;
        view = await waitForAction(engine, view.id, {
          timeoutMs: waitMs,
          signal: extra.signal,
          onProgress:
            progressToken === undefined
              ? undefined
              : (waited) =>
                  extra.sendNotification({
                    method: 'notifications/progress',
                    params: {
                      progressToken,
                      progress: waited,
                      total: waitMs,
                      message,
                    },
                  }),
        });
      }
      return actionResult(engine, view, { hasOutputSchema });
    };

    const span = {
      tool: name,
      meta: request.params._meta,
      requestId: extra.requestId,
      protocolVersion: options.protocolVersion,
    };
    return tracedToolCall(engine, span, async (parent) => {
      traceParent = parent;
      try {
        const builtin = BUILTIN_TOOLS.get(name);
        if (builtin) {
          const blocked = await blockedReason(engine, agent);
          if (blocked && builtin.kind === 'governed' && name !== 'aos_request_approval') {
            return { content: [{ type: 'text', text: `Refused: ${blocked}.` }], isError: true };
          }
          return await builtin.run(args, { engine, agent, blocked, submit });
        }
        return await submit({ tool: name, input: args });
      } catch (err) {
        throw toJsonRpcError(err);
      }
    });
  });

  return mcp;
}
