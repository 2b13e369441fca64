/**
 * MCP tool annotations (spec 2025-06-18). They are hints from the upstream server: useful defaults, never a security
 * boundary, so configuration can override every field (see {@link metadataFromAnnotations}).
 */
export interface ToolAnnotations {
  /** A human-readable title for the tool. */
  title?: string;
  /** The tool does not modify its environment. MCP default: false. */
  readOnlyHint?: boolean;
  /** The tool may perform destructive updates (meaningful only when not read-only). MCP default: true. */
  destructiveHint?: boolean;
  /** Repeating a call with the same arguments has no further effect. MCP default: false. */
  idempotentHint?: boolean;
  /** The tool interacts with an open world of external entities (the web, email, tickets). MCP default: true. */
  openWorldHint?: boolean;
}

/** A tool as an upstream offers it: the shape of an MCP `tools/list` entry. */
export interface ToolDefinition {
  /** The upstream's name for the tool, unique within one connector. */
  name: string;
  /** A display title. */
  title?: string;
  /** What the tool does, for agents and reviewers. */
  description?: string;
  /** JSON Schema of the tool's input (an object schema). */
  inputSchema: Record<string, unknown>;
  /** JSON Schema of the tool's structured output, when it declares one. */
  outputSchema?: Record<string, unknown>;
  /** Behaviour hints. */
  annotations?: ToolAnnotations;
  /**
   * How the connector reaches the tool, where that is not the upstream's own business (an OpenAPI operation's
   * method, URL template, parameter locations and security schemes). Pinned with the definition, so a change
   * quarantines the tool; never offered to agents. MCP tools have none.
   */
  binding?: Record<string, unknown>;
}

/** The governance view of a tool: what policy, approvals and budgets reason about. */
export interface ToolMetadata {
  /** `read` has no side effects; `write` changes something upstream. */
  effect: 'read' | 'write';
  /** The call may destroy or overwrite data. */
  destructive: boolean;
  /** Repeating the call with the same input is harmless. */
  idempotent: boolean;
  /** The output may carry content from outside the organisation (possible prompt injection). */
  untrustedOutput: boolean;
  /** The default risk class. */
  risk: 'low' | 'medium' | 'high';
}

/** What a tool call returned: the shape of an MCP `CallToolResult`. */
export interface ToolResult {
  /** Content items (`{ type: 'text', text }`, images, resource links…). */
  content: unknown[];
  /** Structured output, when the upstream gives one. */
  structuredContent?: unknown;
  /** The upstream reports that the tool failed (the call itself reached it). */
  isError: boolean;
}

/** Per-call options. */
export interface CallToolOptions {
  /** Cancels the call; the connector stops waiting and rejects with a SystemError code `aborted`. */
  signal?: AbortSignal;
  /** Gives up after this many milliseconds with a SystemError code `timeout`; defaults to the connector's. */
  timeoutMs?: number;
  /**
   * W3C trace context of the call (`traceparent`, `tracestate`, `baggage`): MCP connectors pass it in
   * `params._meta`, HTTP connectors as headers, so the upstream joins the action's trace.
   */
  trace?: Record<string, string>;
}

/**
 * One upstream system the control plane can call. The connector holds the upstream's credentials; callers only pass
 * tool names and inputs.
 *
 * Failures that prevent a call from completing reject with a `SystemError` (codes `timeout`, `aborted`,
 * `upstream_unavailable`, `upstream_outcome_unknown`, `upstream_error`); a tool that ran and failed resolves with
 * `isError: true`. No error message ever contains a secret value.
 */
export interface Connector {
  /** The connector's configured id (for example `crm`). */
  readonly id: string;
  /** The tools the upstream offers now. Pin them with {@link definitionHash}. */
  listTools(): Promise<ToolDefinition[]>;
  /** Calls one tool. */
  callTool(name: string, input: Record<string, unknown>, options: CallToolOptions): Promise<ToolResult>;
  /** Releases the connection (for stdio, ends the child process). Safe to call more than once. */
  close(): Promise<void>;
}
