import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { ErrorCode, McpError } from '@modelcontextprotocol/sdk/types.js';

import { AosError, SystemError, UserError } from '../errors.js';
import { resolveSecretRefs, secretRefNames } from '../secrets/secret-store.js';
import type { SecretStore } from '../secrets/secret-store.js';
import { classifyHttpFailure, openMcpHttpSession } from './mcp-http-session.js';
import type { McpHttpSession, McpOAuthClientCredentials } from './mcp-http-session.js';
import { SecretRedactor } from './secret-redactor.js';
import type { CallToolOptions, Connector, ToolAnnotations, ToolDefinition, ToolResult } from './types.js';
import { withTimeout } from './with-timeout.js';

/** An MCP server started as a child process, spoken to over stdin/stdout. */
export interface McpStdioConfig {
  transport: 'stdio';
  /** The executable, for example `npx` or `/usr/bin/node`. */
  command: string;
  /** Arguments; these are visible in the process list, so put credentials in `env`, never here. */
  args?: string[];
  /**
   * Extra environment for the child; values may contain `${secret:NAME}`. The child does not inherit this process's
   * environment beyond the MCP SDK's safe list (HOME, LOGNAME, PATH, SHELL, TERM, USER).
   */
  env?: Record<string, string>;
  /** Working directory of the child. */
  cwd?: string;
}

/** An MCP server reached over Streamable HTTP. */
export interface McpHttpConfig {
  transport: 'http';
  /** The MCP endpoint, for example `https://mcp.example.com/mcp`. */
  url: string;
  /** Headers sent with every request; values may contain `${secret:NAME}` (for example `Bearer ${secret:crm}`). */
  headers?: Record<string, string>;
  /**
   * OAuth client credentials for an upstream that requires a token; `clientId` and `clientSecret` may be
   * `${secret:NAME}`. The token is the gateway's own, never the agent's.
   */
  oauth?: McpOAuthClientCredentials;
}

/** How to reach an upstream MCP server. */
export type McpConnectorConfig = (McpStdioConfig | McpHttpConfig) & {
  /** The connector id, unique in the organisation (for example `filesystem`). */
  id: string;
};

/** Runtime collaborators and limits for an {@link McpConnector}. */
export interface McpConnectorOptions {
  /** Resolves `${secret:NAME}` in `env` and `headers` at connect time. Required if the config has references. */
  secrets?: SecretStore;
  /** Default per-call timeout in milliseconds; default 30 000. */
  timeoutMs?: number;
  /** Timeout for starting and initialising a session; default 20 000. */
  connectTimeoutMs?: number;
  /** Receives the child's stderr (stdio only). Without it stderr is discarded; it may contain anything the server prints. */
  onStderr?: (text: string) => void;
  /** The client identity sent in `initialize`; default `{ name: 'autonomy-os', version: '0.1.0' }`. */
  clientInfo?: { name: string; version: string };
}

const MAX_TOOL_PAGES = 100;

/**
 * A connector for an upstream MCP server over stdio or Streamable HTTP, using the official MCP SDK client.
 *
 * It connects lazily on first use. After a transport failure it drops the session and reconnects once: `listTools`
 * is then retried, while `callTool` is retried only when the request is known not to have reached the server
 * (otherwise it rejects with `upstream_outcome_unknown`, because the tool may have run — the caller must not
 * blindly repeat a side effect). Secret values are resolved at connect time and scrubbed from every error message and tool result.
 *
 * @example
 * const fs = new McpConnector(
 *   { id: 'fs', transport: 'stdio', command: 'npx', args: ['-y', '@modelcontextprotocol/server-filesystem', '/data'] },
 * );
 * const tools = await fs.listTools();
 * const result = await fs.callTool('read_text_file', { path: '/data/a.txt' }, { timeoutMs: 5000 });
 * await fs.close();
 */
export class McpConnector implements Connector {
  readonly id: string;
  readonly #config: McpConnectorConfig;
  readonly #options: McpConnectorOptions;
  readonly #redactor = new SecretRedactor();
  #client: McpHttpSession | undefined;
  #stdio: StdioClientTransport | undefined;
  #connecting: Promise<McpHttpSession> | undefined;
  #closed = false;

  constructor(config: McpConnectorConfig, options: McpConnectorOptions = {}) {
    validateConfig(config);
    this.id = config.id;
    this.#config = config;
    this.#options = options;
  }

  /** The child process id while a stdio session is open (for operators and tests). */
  get pid(): number | undefined {
    return this.#stdio?.pid ?? undefined;
  }

  /** Whether a session is open now. */
  get connected(): boolean {
    return this.#client !== undefined;
  }

  /** The protocol revision the open session speaks (`2026-07-28` for a stateless HTTP upstream), if any. */
  get protocolVersion(): string | undefined {
    return this.#client?.protocolVersion;
  }

  async listTools(): Promise<ToolDefinition[]> {
    try {
      return await this.#withClient('always', async (client) => {
        const tools: ToolDefinition[] = [];
        let cursor: string | undefined;
        for (let page = 0; page < MAX_TOOL_PAGES; page++) {
          const answer = await client.listTools(cursor, this.#options.timeoutMs ?? 30_000);
          for (const tool of answer.tools)
            tools.push(toDefinition(tool as Parameters<typeof toDefinition>[0]));
          cursor = answer.nextCursor;
          if (cursor === undefined) return tools;
        }
        throw new SystemError(`MCP server ${this.id} listed more than ${MAX_TOOL_PAGES} pages of tools`, {
          code: 'upstream_error',
        });
      });
    } catch (error) {
      throw this.#mapError(error, 'tools/list');
    }
  }

  async callTool(
    name: string,
    input: Record<string, unknown>,
    options: CallToolOptions = {},
  ): Promise<ToolResult> {
    if (typeof name !== 'string' || name === '')
      throw new UserError('must be a tool name', { field: 'tool' });
    if (typeof input !== 'object' || input === null || Array.isArray(input)) {
      throw new UserError('must be an object', { field: 'input' });
    }
    const timeoutMs = options.timeoutMs ?? this.#options.timeoutMs ?? 30_000;
    try {
      return await withTimeout(
        (signal) =>
          this.#withClient('undelivered', async (client) => {
            // Trace context (traceparent, tracestate, baggage) goes upstream in `params._meta`.
            const meta = options.trace && Object.keys(options.trace).length ? options.trace : undefined;
            const result = await client.callTool(name, input, {
              signal,
              timeoutMs,
              ...(meta ? { meta } : {}),
            });
            // An upstream that echoes a credential it was given (env, headers) must not hand it to the agent.
            return this.#redactor.redactJson(toToolResult(result));
          }),
        { timeoutMs, signal: options.signal, what: `tool ${this.id}.${name}` },
      );
    } catch (error) {
      throw this.#mapError(error, `tools/call ${name}`);
    }
  }

  async close(): Promise<void> {
    this.#closed = true;
    const connecting = this.#connecting;
    if (connecting) await connecting.catch(() => undefined);
    // A server that is down or slow must not hold up shutdown.
    await withTimeout(() => this.#drop(), { timeoutMs: 2_000 }).catch(() => undefined);
  }

  /** Runs `op` on a live session, reconnecting once after a transport failure as described on the class. */
  async #withClient<T>(
    retry: 'always' | 'undelivered',
    op: (client: McpHttpSession) => Promise<T>,
  ): Promise<T> {
    const client = await this.#connect();
    try {
      return await op(client);
    } catch (error) {
      if (!isTransportFailure(error)) throw error;
      await this.#drop(client);
      if (retry === 'undelivered' && !isUndelivered(error)) {
        throw new SystemError(
          `the connection to MCP server ${this.id} failed during the call; the tool may or may not have run`,
          { code: 'upstream_outcome_unknown', cause: error },
        );
      }
    }
    return op(await this.#connect());
  }

  #connect(): Promise<McpHttpSession> {
    if (this.#closed) {
      return Promise.reject(new SystemError(`connector ${this.id} is closed`, { code: 'connector_closed' }));
    }
    if (this.#client) return Promise.resolve(this.#client);
    this.#connecting ??= this.#open().finally(() => {
      this.#connecting = undefined;
    });
    return this.#connecting;
  }

  async #open(): Promise<McpHttpSession> {
    const info = this.#options.clientInfo ?? { name: 'autonomy-os', version: '0.1.0' };
    const connectTimeoutMs = this.#options.connectTimeoutMs ?? 20_000;
    let session: McpHttpSession | undefined;
    const onClose = () => {
      if (session !== undefined && this.#client === session) {
        this.#client = undefined;
        this.#stdio = undefined;
      }
    };
    try {
      session =
        this.#config.transport === 'stdio'
          ? await this.#openStdio(info, connectTimeoutMs, onClose)
          : await openMcpHttpSession({
              url: this.#config.url,
              headers: await this.#resolveAll(this.#config.headers, 'headers'),
              oauth: await this.#resolveOAuth(this.#config.oauth),
              clientInfo: info,
              connectTimeoutMs,
              onClose,
            });
    } catch (error) {
      if (error instanceof UserError) throw error;
      throw new SystemError(
        `cannot connect to MCP server ${this.id}: ${this.#redactor.redact(errorText(error))}`,
        { code: 'upstream_unavailable' },
      );
    }
    if (this.#closed) {
      await session.close().catch(() => undefined);
      throw new SystemError(`connector ${this.id} is closed`, { code: 'connector_closed' });
    }
    this.#client = session;
    return session;
  }

  /** An upstream child process, spoken to with the SDK 1.x client (stdio servers of every revision). */
  async #openStdio(
    info: { name: string; version: string },
    connectTimeoutMs: number,
    onClose: () => void,
  ): Promise<McpHttpSession> {
    const config = this.#config as McpStdioConfig;
    const env = await this.#resolveAll(config.env, 'env');
    const transport = new StdioClientTransport({
      command: config.command,
      ...(config.args === undefined ? {} : { args: config.args }),
      ...(env === undefined ? {} : { env }),
      ...(config.cwd === undefined ? {} : { cwd: config.cwd }),
      stderr: this.#options.onStderr === undefined ? 'ignore' : 'pipe',
    });
    const onStderr = this.#options.onStderr;
    if (onStderr) transport.stderr?.on('data', (chunk: Buffer) => onStderr(chunk.toString('utf8')));
    const client = new Client(info, { capabilities: {} });
    client.onclose = onClose;
    client.onerror = () => undefined;
    try {
      await client.connect(transport, { timeout: connectTimeoutMs });
    } catch (error) {
      await client.close().catch(() => undefined);
      throw error;
    }
    this.#stdio = transport;
    return {
      get protocolVersion() {
        return undefined;
      },
      async listTools(cursor, timeoutMs) {
        const answer = await client.listTools(cursor === undefined ? {} : { cursor }, { timeout: timeoutMs });
        return { tools: answer.tools, ...(answer.nextCursor ? { nextCursor: answer.nextCursor } : {}) };
      },
      async callTool(name, input, { signal, timeoutMs, meta }) {
        // The SDK has its own default (60 s); keep it from firing before ours.
        return client.callTool({ name, arguments: input, ...(meta ? { _meta: meta } : {}) }, undefined, {
          signal,
          timeout: timeoutMs + 1_000,
        });
      },
      close: () => client.close(),
    };
  }

  async #resolveOAuth(
    oauth: McpOAuthClientCredentials | undefined,
  ): Promise<McpOAuthClientCredentials | undefined> {
    if (oauth === undefined) return undefined;
    const resolved = await this.#resolveAll(
      { clientId: oauth.clientId, clientSecret: oauth.clientSecret },
      'oauth',
    );
    return { ...oauth, clientId: resolved?.clientId ?? '', clientSecret: resolved?.clientSecret ?? '' };
  }

  async #resolveAll(
    values: Record<string, string> | undefined,
    field: 'env' | 'headers' | 'oauth',
  ): Promise<Record<string, string> | undefined> {
    if (values === undefined) return undefined;
    const resolved: Record<string, string> = {};
    for (const [key, template] of Object.entries(values)) {
      const path = `connectors.${this.id}.${field}.${key}`;
      if (template.includes('${secret:') && this.#options.secrets === undefined) {
        throw new UserError('refers to a secret but the connector has no secret store', { field: path });
      }
      const secrets = this.#options.secrets;
      if (secrets === undefined) {
        resolved[key] = template;
        continue;
      }
      resolved[key] = await resolveSecretRefs(template, secrets, { field: path });
      for (const name of secretRefNames(template)) this.#redactor.add((await secrets.get(name)) ?? '');
    }
    return resolved;
  }

  async #drop(client: McpHttpSession | undefined = this.#client): Promise<void> {
    if (client === undefined) return;
    if (this.#client === client) {
      this.#client = undefined;
      this.#stdio = undefined;
    }
    // For stdio this ends stdin, then SIGTERM and SIGKILL if the child lingers (the SDK's close sequence).
    await client.close().catch(() => undefined);
  }

  /** Maps any failure to an AosError whose message names the connector and carries no secret value. */
  #mapError(error: unknown, what: string): AosError {
    if (error instanceof AosError) {
      if (!this.#redactor.leaks(error.message)) return error;
      return new SystemError(this.#redactor.redact(error.message), { code: error.code });
    }
    const text = this.#redactor.redact(errorText(error));
    const http = classifyHttpFailure(error);
    if (http === 'timeout') {
      return new SystemError(`MCP server ${this.id} did not answer ${what} in time`, { code: 'timeout' });
    }
    if (http === 'invalid_params') {
      return new UserError(`MCP server ${this.id} rejected ${what}: ${text}`, { field: 'input' });
    }
    if (http === 'protocol') {
      return new SystemError(`MCP server ${this.id} failed ${what}: ${text}`, { code: 'upstream_error' });
    }
    if (error instanceof McpError) {
      if (error.code === ErrorCode.RequestTimeout) {
        return new SystemError(`MCP server ${this.id} did not answer ${what} in time`, { code: 'timeout' });
      }
      if (error.code === ErrorCode.InvalidParams) {
        return new UserError(`MCP server ${this.id} rejected ${what}: ${text}`, { field: 'input' });
      }
      return new SystemError(`MCP server ${this.id} failed ${what}: ${text}`, { code: 'upstream_error' });
    }
    return new SystemError(`MCP server ${this.id} unavailable for ${what}: ${text}`, {
      code: 'upstream_unavailable',
    });
  }
}

function validateConfig(config: McpConnectorConfig): void {
  if (typeof config.id !== 'string' || config.id === '')
    throw new UserError('must be a non-empty string', { field: 'id' });
  const at = `connectors.${config.id}`;
  if (config.transport === 'stdio') {
    if (typeof config.command !== 'string' || config.command === '') {
      throw new UserError('must be a non-empty string', { field: `${at}.command` });
    }
    return;
  }
  if ((config as { transport: unknown }).transport !== 'http') {
    throw new UserError("must be 'stdio' or 'http'", { field: `${at}.transport` });
  }
  let url: URL;
  try {
    url = new URL(config.url);
  } catch {
    throw new UserError('must be an absolute URL', { field: `${at}.url` });
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new UserError('must be an http or https URL', { field: `${at}.url` });
  }
  if (url.username !== '' || url.password !== '') {
    throw new UserError('must not carry credentials; use headers with ${secret:NAME}', {
      field: `${at}.url`,
    });
  }
}

/** A failure of the connection itself rather than an answer from the server. */
function isTransportFailure(error: unknown): boolean {
  if (error instanceof AosError) return false; // our own timeout or abort
  const http = classifyHttpFailure(error);
  if (http !== undefined) return http === 'refused' || http === 'transport';
  if (error instanceof McpError) return error.code === ErrorCode.ConnectionClosed;
  return true;
}

/** A transport failure that shows the request never reached (or was refused by) the server, so a retry is safe. */
function isUndelivered(error: unknown): boolean {
  if (classifyHttpFailure(error) === 'refused') return true;
  if (error instanceof Error && error.message === 'Not connected') return true;
  const cause = (error as { cause?: { code?: unknown } } | undefined)?.cause;
  return cause?.code === 'ECONNREFUSED' || cause?.code === 'ENOTFOUND' || cause?.code === 'EAI_AGAIN';
}

function errorText(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

function toDefinition(tool: {
  name: string;
  title?: string | undefined;
  description?: string | undefined;
  inputSchema: Record<string, unknown>;
  outputSchema?: Record<string, unknown> | undefined;
  annotations?: Record<string, unknown> | undefined;
}): ToolDefinition {
  const def: ToolDefinition = { name: tool.name, inputSchema: tool.inputSchema };
  if (tool.title !== undefined) def.title = tool.title;
  if (tool.description !== undefined) def.description = tool.description;
  if (tool.outputSchema !== undefined) def.outputSchema = tool.outputSchema;
  if (tool.annotations !== undefined) def.annotations = tool.annotations as ToolAnnotations;
  return def;
}

function toToolResult(result: Record<string, unknown>): ToolResult {
  if (Array.isArray(result.content)) {
    const out: ToolResult = { content: result.content as unknown[], isError: result.isError === true };
    if (result.structuredContent !== undefined) out.structuredContent = result.structuredContent;
    return out;
  }
  // Servers on the 2024-10-07 protocol answer `{ toolResult }`.
  return { content: [{ type: 'text', text: JSON.stringify(result.toolResult ?? null) }], isError: false };
}
