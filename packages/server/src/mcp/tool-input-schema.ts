import type { Tool } from '@modelcontextprotocol/sdk/types.js';
import { z } from 'zod';

/**
 * The MCP `inputSchema` of a built-in tool, from the zod schema that validates its arguments, so what a client is
 * shown is what the tool accepts. `io: 'input'` describes what a caller may send (a field with a default is
 * optional); the `$schema` marker is dropped because MCP fixes the dialect.
 *
 * @example inputSchema: toolInputSchema(z.object({ taskId: z.string() }).strict())
 */
export function toolInputSchema(schema: z.ZodObject): Tool['inputSchema'] {
  const { $schema: _dialect, ...rest } = z.toJSONSchema(schema, { io: 'input', unrepresentable: 'any' });
  return rest as Tool['inputSchema'];
}
