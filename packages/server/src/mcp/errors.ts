import { ErrorCode, McpError } from '@modelcontextprotocol/sdk/types.js';
import { AosError, AuthenticationError, ForbiddenError, UserError } from '@autonomy-os/core';

/**
 * The one place engine errors become JSON-RPC errors on the MCP front. Bad input (unknown tool, a field failing its
 * schema) is `InvalidParams` with the field in `data`; a refused request is `InvalidRequest`; anything else is
 * `InternalError` with the engine's own (secret-free) message, or a generic one for errors we did not raise.
 */
export function toJsonRpcError(err: unknown): McpError {
  if (err instanceof McpError) return err;
  if (err instanceof UserError) {
    return new McpError(ErrorCode.InvalidParams, err.message, {
      code: err.code,
      ...(err.field ? { field: err.field } : {}),
    });
  }
  if (err instanceof AuthenticationError || err instanceof ForbiddenError) {
    return new McpError(ErrorCode.InvalidRequest, err.message, { code: err.code });
  }
  if (err instanceof AosError) return new McpError(ErrorCode.InternalError, err.message, { code: err.code });
  return new McpError(ErrorCode.InternalError, 'internal error', { code: 'internal_error' });
}

/** The body of an HTTP-level error on `/mcp`: a JSON-RPC error with no id, as the Streamable HTTP transport sends. */
export function jsonRpcErrorBody(code: number, message: string, data?: Record<string, unknown>) {
  return { jsonrpc: '2.0' as const, id: null, error: { code, message, ...(data ? { data } : {}) } };
}
