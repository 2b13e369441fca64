import { SpanKind, errorTypeOf } from '@autonomy-os/core';
import type { Context, Engine } from '@autonomy-os/core';

/** What the MCP conventions record of one `tools/call` the gateway serves. */
export interface ToolCallSpanParams {
  tool: string;
  /** The request's `params._meta`: it may carry `traceparent`, `tracestate` and `baggage`. */
  meta: unknown;
  requestId: string | number;
  /** The `MCP-Protocol-Version` the client sent, if any. */
  protocolVersion: string | undefined;
}

/**
 * Serves one `tools/call` inside a `tools/call {tool}` server span (OpenTelemetry MCP conventions), joined to the
 * trace the client passed in `params._meta`; `fn` gets the span's context to hand to the pipeline. A result with
 * `isError` marks the span `error.type=tool_error`; a JSON-RPC error (of either SDK), its numeric code. Both
 * revisions' adapters (session-era and 2026-07-28) serve their calls through it.
 */
export async function tracedToolCall<R extends object>(
  engine: Engine,
  p: ToolCallSpanParams,
  fn: (parent: Context) => Promise<R>,
): Promise<R> {
  const tracing = engine.tracing;
  const span = tracing.start(`tools/call ${p.tool}`, {
    parent: tracing.extract(p.meta),
    kind: SpanKind.SERVER,
    attributes: {
      'mcp.method.name': 'tools/call',
      'gen_ai.operation.name': 'execute_tool',
      'gen_ai.tool.name': p.tool,
      'jsonrpc.request.id': String(p.requestId),
      'network.transport': 'tcp',
      ...(p.protocolVersion ? { 'mcp.protocol.version': p.protocolVersion } : {}),
    },
  });
  try {
    const result = await fn(tracing.contextOf(span));
    tracing.end(span, (result as { isError?: unknown }).isError === true ? 'tool_error' : undefined);
    return result;
  } catch (err) {
    const code = (err as { code?: unknown } | null)?.code;
    tracing.end(span, typeof code === 'number' ? String(code) : errorTypeOf(err));
    throw err;
  }
}
