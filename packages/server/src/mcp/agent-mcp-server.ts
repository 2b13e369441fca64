import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { AjvJsonSchemaValidator } from '@modelcontextprotocol/sdk/validation/ajv';
import { CallToolRequestSchema, ListToolsRequestSchema } from '@modelcontextprotocol/sdk/types.js';
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import type { Context } from '@autonomy-os/core';
import { callGatewayTool, listGatewayTools } from './gateway-calls.js';
import type { GatewayRequest } from './gateway-calls.js';
import { tracedToolCall } from './mcp-spans.js';

/** Options for {@link createAgentMcpServer}. */
export interface AgentMcpServerOptions extends GatewayRequest {
  version: string;
  /** The `MCP-Protocol-Version` header of the request, recorded on its spans. */
  protocolVersion?: string | undefined;
}

/** What the gateway tells every client about itself. */
export const SERVER_INSTRUCTIONS =
  'Every call is governed: it may be allowed, denied (the result says which policy and why) or held for a human approval (call aos_approval_status later).';

/**
 * One JSON-schema validator for every per-request server. The SDK otherwise builds a new Ajv (with its formats) in
 * each server's constructor, about 0.6 ms a request; the validator holds no per-request state.
 */
const SHARED_VALIDATOR = new AjvJsonSchemaValidator();

/**
 * The MCP server one request of a session-era client (protocol revisions 2024-11-05 to 2025-11-25, official SDK
 * 1.x) talks to: it lists the tools the calling agent may use and sends every call through the engine's pipeline.
 * It holds no state of its own (one is built per HTTP request), so any node can answer any request of a session.
 */
export function createAgentMcpServer(options: AgentMcpServerOptions): McpServer {
  const { version, protocolVersion: _protocolVersion, ...request } = options;
  const mcp = new McpServer(
    { name: 'autonomy-os', title: 'Autonomy OS', version },
    {
      capabilities: { tools: { listChanged: false } },
      instructions: SERVER_INSTRUCTIONS,
      jsonSchemaValidator: SHARED_VALIDATOR,
    },
  );

  mcp.server.setRequestHandler(ListToolsRequestSchema, async () => ({
    tools: await listGatewayTools(request),
  }));

  mcp.server.setRequestHandler(CallToolRequestSchema, async (req, extra): Promise<CallToolResult> => {
    const progressToken = extra._meta?.progressToken;
    const call = (traceParent: Context) =>
      callGatewayTool(request, {
        name: req.params.name,
        args: req.params.arguments ?? {},
        meta: req.params._meta as Record<string, unknown> | undefined,
        signal: extra.signal,
        traceParent,
        progress:
          progressToken === undefined
            ? undefined
            : (progress, total, message) =>
                extra.sendNotification({
                  method: 'notifications/progress',
                  params: { progressToken, progress, total, message },
                }),
      });
    const span = {
      tool: req.params.name,
      meta: req.params._meta,
      requestId: extra.requestId,
      protocolVersion: options.protocolVersion,
    };
    return tracedToolCall(request.engine, span, async (parent) => (await call(parent)).result);
  });

  return mcp;
}
