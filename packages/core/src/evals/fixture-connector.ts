import type { Connector, ToolDefinition, ToolResult } from '../connectors/index.js';
import type { z } from 'zod';
import type { fixtureToolSchema } from './suite.js';

/** A sandbox tool as the suite declares it. */
export type FixtureTool = z.infer<typeof fixtureToolSchema>;

/**
 * A sandbox upstream for evals: serves the suite's fixture tools under their `<connector>.<tool>` names and answers
 * each call from the case's fixtures. It never reaches a real system, so an eval can plant a prompt injection in a
 * ticket or an e-mail and let the agent's writes "succeed" without moving anything. Every call it answers is kept,
 * in order, as the case's record of what reached the upstream.
 */
export class FixtureConnector implements Connector {
  /** What reached this upstream, in order. */
  readonly received: { tool: string; input: Record<string, unknown> }[] = [];

  constructor(
    readonly id: string,
    private readonly tools: readonly FixtureTool[],
    private readonly fixtures: Record<string, unknown>,
  ) {}

  /** Groups fixture tools by connector: one sandbox connector each. */
  static forSuite(tools: readonly FixtureTool[], fixtures: Record<string, unknown>): FixtureConnector[] {
    const by = new Map<string, FixtureTool[]>();
    for (const t of tools) {
      const connector = t.name.slice(0, t.name.indexOf('.'));
      by.set(connector, [...(by.get(connector) ?? []), t]);
    }
    return [...by].map(([id, list]) => new FixtureConnector(id, list, fixtures));
  }

  listTools(): Promise<ToolDefinition[]> {
    return Promise.resolve(
      this.tools.map((t) => ({
        name: t.name.slice(this.id.length + 1),
        ...(t.description ? { description: t.description } : {}),
        inputSchema: t.inputSchema,
        ...(t.annotations ? { annotations: t.annotations } : {}),
      })),
    );
  }

  callTool(name: string, input: Record<string, unknown>): Promise<ToolResult> {
    const full = `${this.id}.${name}`;
    this.received.push({ tool: full, input });
    const tool = this.tools.find((t) => t.name === full);
    if (!(full in this.fixtures)) {
      // A write the case gave no answer for succeeds quietly; a read with no fixture is the suite's gap, said so.
      if (tool?.annotations?.readOnlyHint === false) return Promise.resolve(asResult({ ok: true }));
      return Promise.resolve({
        content: [{ type: 'text', text: `no fixture for ${full} in this case` }],
        isError: true,
      });
    }
    return Promise.resolve(asResult(this.fixtures[full]));
  }

  close(): Promise<void> {
    return Promise.resolve();
  }
}

/** A fixture value as a tool result: text as text, `{ error }` as a failed call, any other JSON as structured. */
function asResult(value: unknown): ToolResult {
  if (typeof value === 'string') return { content: [{ type: 'text', text: value }], isError: false };
  if (value && typeof value === 'object' && Object.keys(value).length === 1 && 'error' in value)
    return { content: [{ type: 'text', text: String((value as { error: unknown }).error) }], isError: true };
  return {
    content: [{ type: 'text', text: JSON.stringify(value) }],
    structuredContent: value,
    isError: false,
  };
}
