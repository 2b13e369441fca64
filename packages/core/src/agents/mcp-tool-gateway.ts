import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { traceparentOf } from '../observability/tracing.js';
import type { AgentTool, AgentToolCall, AgentToolGateway, AgentToolResult } from './tool-gateway.js';

/** Options for {@link McpToolGateway.connect}. */
export interface McpToolGatewayOptions {
  /** The MCP endpoint of an `aos serve`, e.g. `http://127.0.0.1:7420/mcp`. */
  url: string;
  /** The agent's API token (Bearer); the gateway authenticates every request with it. */
  token: string;
  /** Built-in `aos_*` tools to offer the model besides the business tools; default none. */
  builtins?: readonly string[];
}

/** The `_meta` key under which the gateway says what the pipeline did with a call. */
const ACTION_META_KEY = 'autonomy-os/action';

/**
 * An agent's tools through the MCP gateway of an `aos serve`, with the official MCP SDK client over Streamable
 * HTTP: what an external agent sees, governed the same way. One connection is one MCP session, so what the agent
 * reads in a task (untrusted content) shapes the decisions on its later calls in that task.
 */
export class McpToolGateway implements AgentToolGateway {
  private constructor(
    private readonly client: Client,
    private readonly builtins: ReadonlySet<string>,
  ) {}

  /** Connects (initialize) as the agent. */
  static async connect(options: McpToolGatewayOptions): Promise<McpToolGateway> {
    const client = new Client({ name: 'autonomy-os-llm-agent', version: '1.0.0' });
    const transport = new StreamableHTTPClientTransport(new URL(options.url), {
      requestInit: { headers: { authorization: `Bearer ${options.token}` } },
    });
    await client.connect(transport);
    return new McpToolGateway(client, new Set(options.builtins ?? []));
  }

  async listTools(): Promise<AgentTool[]> {
    const out: AgentTool[] = [];
    let cursor: string | undefined;
    for (let page = 0; page < 50; page++) {
      const r = await this.client.listTools(cursor ? { cursor } : {});
      for (const t of r.tools) {
        if (t.name.startsWith('aos_') && !this.builtins.has(t.name)) continue;
        out.push({
          name: t.name,
          description: t.description ?? t.title ?? t.name,
          inputSchema: t.inputSchema as Record<string, unknown>,
        });
      }
      cursor = r.nextCursor;
      if (!cursor) break;
    }
    return out;
  }

  async call(c: AgentToolCall): Promise<AgentToolResult> {
    const r = await this.client.callTool({
      name: c.tool,
      arguments: c.input,
      _meta: {
        reason: c.reason,
        ...(c.confidence !== undefined ? { confidence: c.confidence } : {}),
        ...(c.traceParent ? { traceparent: traceparentOf(c.traceParent) } : {}),
      },
    });
    const content = (r.content ?? []) as { type: string; text?: string }[];
    const texts = content.filter((x) => x.type === 'text' && typeof x.text === 'string').map((x) => x.text);
    const meta = (r._meta?.[ACTION_META_KEY] ?? {}) as { actionId?: string; status?: string };
    return {
      text: texts.length ? texts.join('\n') : JSON.stringify(r.structuredContent ?? content),
      isError: r.isError === true,
      actionId: meta.actionId,
      status: meta.status,
    };
  }

  async blocked(): Promise<string | undefined> {
    const r = await this.client.callTool({ name: 'aos_whoami', arguments: {} });
    const blocked = (r.structuredContent as { blocked?: unknown } | undefined)?.blocked;
    return typeof blocked === 'string' && blocked ? blocked : undefined;
  }

  async close(): Promise<void> {
    await this.client.close();
  }
}
