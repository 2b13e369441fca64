import { hashJson } from '../crypto/canonical-json.js';
import type { ToolDefinition } from './types.js';

/**
 * A stable SHA-256 (hex) of the parts of a tool definition that change what the tool means: name, description,
 * input and output schema, annotations and binding. The display `title` is left out. Pin this when a tool is approved; if the
 * upstream later answers with another hash, the tool is quarantined until someone re-approves it (a changed
 * description or schema is how a "rug pull" by an upstream server shows).
 *
 * @example definitionHash({ name: 'echo', inputSchema: { type: 'object' } }) // '3f1c…'
 */
export function definitionHash(def: ToolDefinition): string {
  return hashJson({
    name: def.name,
    description: def.description,
    inputSchema: def.inputSchema,
    outputSchema: def.outputSchema,
    annotations: def.annotations,
    // Absent for MCP and HTTP tools (canonical JSON drops undefined members), so their pinned hashes are unchanged.
    binding: def.binding,
  });
}
