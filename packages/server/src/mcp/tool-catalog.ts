import type { Tool } from '@modelcontextprotocol/sdk/types.js';
import { blockedReason, callableTools } from '@autonomy-os/core';
import type { RegisteredTool } from '@autonomy-os/core';

/** Re-exported from core, where the built-in LLM agents share them. */
export { blockedReason, callableTools };

/** A registry tool as MCP lists it: the pinned definition under its namespaced `<connector>.<tool>` name. */
export function toMcpTool(tool: RegisteredTool): Tool {
  const d = tool.definition;
  const schema = d.inputSchema && typeof d.inputSchema === 'object' ? d.inputSchema : {};
  return {
    name: tool.name,
    ...(d.title ? { title: d.title } : {}),
    ...(d.description ? { description: d.description } : {}),
    inputSchema: { ...schema, type: 'object' } as Tool['inputSchema'],
    ...(d.outputSchema
      ? { outputSchema: { ...d.outputSchema, type: 'object' } as Tool['outputSchema'] }
      : {}),
    ...(d.annotations ? { annotations: d.annotations } : {}),
  };
}
