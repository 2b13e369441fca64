import { McpServer, ProtocolError, inputRequired } from '@modelcontextprotocol/server';
import type {
  CallToolResult as ModernCallToolResult,
  InputRequiredResult,
} from '@modelcontextprotocol/server';
import { McpError } from '@modelcontextprotocol/sdk/types.js';
import { AjvJsonSchemaValidator } from '@modelcontextprotocol/server/validators/ajv';
import { canonicalJson } from '@autonomy-os/core';
import type { ActionView, Context } from '@autonomy-os/core';
import { SERVER_INSTRUCTIONS } from './agent-mcp-server.js';
import { callGatewayTool, listGatewayTools, resolveToolName, waitHeld } from './gateway-calls.js';
import type { GatewayRequest } from './gateway-calls.js';
import { tracedToolCall } from './mcp-spans.js';
import { actionResult } from './results.js';

/** The revision this adapter serves, recorded as `mcp.protocol.version` on its spans. */
const MODERN_REVISION = '2026-07-28';

/** Options for {@link createModernMcpServer}. */
export interface ModernMcpServerOptions extends GatewayRequest {
  version: string;
  /** The console page where a human decides an approval, for URL-mode elicitation. */
  approvalUrl(approvalId: string): string;
}

/** One JSON-schema validator (its Ajv built on first use) shared by every per-request server. */
const SHARED_VALIDATOR = new AjvJsonSchemaValidator();

/** A v1 SDK error (what the shared gateway code throws) as the v2 SDK sends it. */
function toProtocolError(err: unknown): unknown {
  if (err instanceof McpError)
    return new ProtocolError(err.code, err.message.replace(/^MCP error -?\d+: /, ''), err.data);
  return err;
}

/** Whether the request's client capabilities say it handles URL-mode elicitation. */
function elicitsUrls(capabilities: unknown): boolean {
  const e = (capabilities as { elicitation?: { url?: unknown } } | undefined)?.elicitation;
  return !!e && typeof e === 'object' && e.url !== undefined;
}

/**
 * The MCP server one request of a 2026-07-28 client talks to (official SDK 2.x): the same tools and the same
 * pipeline as {@link createAgentMcpServer}, with the revision's multi round-trip requests (MRTR). When a call is
 * still held after `mcp.approvalWaitMs` and the client declared URL-mode elicitation, the answer is an
 * `input_required` result asking the user to open the approval in the console; the client's retry (same call, the
 * echoed `requestState`) waits for the same action again and answers its result. Nothing runs twice: the retry
 * names the recorded action, never submits a new one.
 */
export function createModernMcpServer(options: ModernMcpServerOptions): McpServer {
  const { version, approvalUrl, ...request } = options;
  const mcp = new McpServer(
    { name: 'autonomy-os', title: 'Autonomy OS', version },
    {
      capabilities: { tools: { listChanged: false } },
      instructions: SERVER_INSTRUCTIONS,
      jsonSchemaValidator: SHARED_VALIDATOR,
    },
  );

  const heldAnswer = async (
    action: ActionView,
    result: CallToolResult,
    elicit: boolean,
  ): Promise<ModernCallToolResult | InputRequiredResult> => {
    if (action.status !== 'pending_approval' || !elicit || !action.approvalId)
      return result as ModernCallToolResult;
    return inputRequired({
      inputRequests: {
        approval: inputRequired.elicitUrl({
          message: `This call needs a human approval (${action.approvalId}). Ask an approver to decide it; the call continues when you retry.`,
          url: approvalUrl(action.approvalId),
        }),
      },
      requestState: action.id,
    });
  };

  mcp.server.setRequestHandler('tools/list', async () => {
    try {
      return { tools: (await listGatewayTools(request)) as never };
    } catch (err) {
      throw toProtocolError(err);
    }
  });

  mcp.server.setRequestHandler('tools/call', async (req, ctx) => {
    const progressToken = ctx.mcpReq._meta?.progressToken;
    const envelope = ctx.mcpReq.envelope as Record<string, unknown> | undefined;
    const elicit = elicitsUrls(envelope?.['io.modelcontextprotocol/clientCapabilities']);
    const call = {
      name: req.params.name,
      args: (req.params.arguments ?? {}) as Record<string, unknown>,
      meta: ctx.mcpReq._meta as Record<string, unknown> | undefined,
      signal: ctx.mcpReq.signal,
      progress:
        progressToken === undefined
          ? undefined
          : (progress: number, total: number, message: string) =>
              ctx.mcpReq.notify({
                method: 'notifications/progress',
                params: { progressToken, progress, total, message },
              }),
    };
    const span = {
      tool: req.params.name,
      meta: call.meta,
      requestId: ctx.mcpReq.id,
      protocolVersion: MODERN_REVISION,
    };
    const serve = async (traceParent: Context): Promise<ModernCallToolResult | InputRequiredResult> => {
      const state = ctx.mcpReq.requestState<string>();
      if (typeof state === 'string') {
        // A retry after input_required. The state is only an action id, and it counts only when it names one of
        // this agent's own actions with exactly this tool and these arguments: a forged or replayed state can
        // select nothing another caller could not already read with aos_approval_status.
        const action = await request.engine.actions.get(state);
        const tool = resolveToolName(request, call.name);
        if (
          !action ||
          action.agentId !== request.agent.id ||
          action.tool !== tool ||
          canonicalJson(action.input) !== canonicalJson(call.args)
        ) {
          throw new ProtocolError(
            -32602,
            'requestState: does not name a held call of yours with these arguments',
            {
              field: 'requestState',
            },
          );
        }
        const view = await waitHeld(request, action, call);
        const hasOutputSchema = !!request.engine.tools.get(tool)?.definition.outputSchema;
        return heldAnswer(view, await actionResult(request.engine, view, { hasOutputSchema }), elicit);
      }
      const outcome = await callGatewayTool(request, { ...call, traceParent });
      if (outcome.action) return heldAnswer(outcome.action, outcome.result, elicit);
      return outcome.result as ModernCallToolResult;
    };
    try {
      return await tracedToolCall(request.engine, span, serve);
    } catch (err) {
      throw toProtocolError(err);
    }
  });

  return mcp;
}

type CallToolResult = Awaited<ReturnType<typeof actionResult>>;
