import type { AosConfig } from '../config/config.js';
import { httpToolDefinition } from '../connectors/index.js';
import { toolMetadataFor } from '../tools/tool-registry.js';
import type { PolicyTool } from './type-check.js';

/** The tools an aos.yaml defines without connecting to anything, and the connectors whose tools are only known online. */
export interface ConfigPolicyTools {
  tools: PolicyTool[];
  /** MCP connectors: their tools are listed when `aos serve` connects, and checked then. */
  unlisted: string[];
}

/**
 * The tools of a configuration as the policy type check sees them: every HTTP operation (its definition as the
 * connector offers it, with the `tools:` settings applied). MCP connectors are named in `unlisted`.
 */
export function configPolicyTools(config: AosConfig): ConfigPolicyTools {
  const tools: PolicyTool[] = [];
  const unlisted: string[] = [];
  for (const c of config.connectors) {
    if (c.type !== 'http') {
      unlisted.push(c.id);
      continue;
    }
    for (const op of c.operations) {
      const def = httpToolDefinition(op);
      const name = `${c.id}.${op.name}`;
      tools.push({
        name,
        connector: c.id,
        metadata: toolMetadataFor(def, config.tools[name]),
        inputSchema: def.inputSchema,
      });
    }
  }
  return { tools, unlisted };
}
