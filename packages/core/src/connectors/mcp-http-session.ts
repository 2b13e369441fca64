import {
  Client,
  ClientCredentialsProvider,
  ProtocolError,
  SdkError,
  SdkErrorCode,
  SdkHttpError,
  StreamableHTTPClientTransport,
} from '@modelcontextprotocol/client';

/** OAuth client credentials for an upstream that requires a token (RFC 6749 §4.4, `client_secret_basic`). */
export interface McpOAuthClientCredentials {
  /** The authorization server's issuer URL; credentials are only ever sent to it (RFC 8414 metadata). */
  issuer: string;
  clientId: string;
  clientSecret: string;
  scope?: string;
}

/** Options for {@link openMcpHttpSession}. */
export interface McpHttpSessionOptions {
  url: string;
  headers?: Record<string, string> | undefined;
  oauth?: McpOAuthClientCredentials | undefined;
  clientInfo: { name: string; version: string };
  connectTimeoutMs: number;
  onClose(): void;
}

/** One live connection to an upstream over Streamable HTTP, whatever revision it speaks. */
export interface McpHttpSession {
  /** The revision negotiated: `2026-07-28` (stateless) or a session revision such as `2025-11-25`. */
  readonly protocolVersion: string | undefined;
  listTools(
    cursor: string | undefined,
    timeoutMs: number,
  ): Promise<{ tools: unknown[]; nextCursor?: string }>;
  callTool(
    name: string,
    input: Record<string, unknown>,
    options: { signal: AbortSignal; timeoutMs: number; meta?: Record<string, string> },
  ): Promise<Record<string, unknown>>;
  close(): Promise<void>;
}

/**
 * Opens an upstream over Streamable HTTP with the official SDK 2.x client in `auto` version negotiation: it probes
 * with `server/discover` and speaks 2026-07-28 (no initialize, no session) to a server that answers it, and falls
 * back to the `initialize` handshake of 2025-11-25 and earlier otherwise. With `oauth`, the SDK's client-credentials
 * provider gets a token from the upstream's authorization server when the upstream answers 401, and keeps it in
 * this process only: never stored, logged or handed to an agent.
 */
export async function openMcpHttpSession(options: McpHttpSessionOptions): Promise<McpHttpSession> {
  const transport = new StreamableHTTPClientTransport(new URL(options.url), {
    ...(options.headers ? { requestInit: { headers: options.headers } } : {}),
    ...(options.oauth
      ? {
          authProvider: new ClientCredentialsProvider({
            clientId: options.oauth.clientId,
            clientSecret: options.oauth.clientSecret,
            expectedIssuer: options.oauth.issuer,
            clientName: 'autonomy-os',
            ...(options.oauth.scope ? { scope: options.oauth.scope } : {}),
          }),
        }
      : {}),
  });
  const client = new Client(options.clientInfo, {
    capabilities: {},
    versionNegotiation: { mode: 'auto' },
  });
  client.onclose = options.onClose;
  // Transport errors also reject the pending request, which is where they are handled.
  client.onerror = () => undefined;
  try {
    await client.connect(transport, { timeout: options.connectTimeoutMs });
  } catch (error) {
    await client.close().catch(() => undefined);
    throw error;
  }
  return {
    get protocolVersion() {
      return client.getNegotiatedProtocolVersion?.() ?? undefined;
    },
    async listTools(cursor, timeoutMs) {
      const answer = await client.listTools(cursor === undefined ? {} : { cursor }, { timeout: timeoutMs });
      return { tools: answer.tools, ...(answer.nextCursor ? { nextCursor: answer.nextCursor } : {}) };
    },
    async callTool(name, input, { signal, timeoutMs, meta }) {
      return (await client.callTool(
        { name, arguments: input, ...(meta ? { _meta: meta } : {}) },
        // The SDK has its own default (60 s); keep it from firing before ours.
        { signal, timeout: timeoutMs + 1_000 },
      )) as Record<string, unknown>;
    },
    async close() {
      await client.close();
    },
  };
}

/** How an error of the SDK 2.x client reads to the connector. */
export type McpHttpFailure = 'timeout' | 'invalid_params' | 'protocol' | 'refused' | 'transport';

/** Classifies an error the SDK 2.x client threw; `undefined` for anything that is not one of its errors. */
export function classifyHttpFailure(error: unknown): McpHttpFailure | undefined {
  if (error instanceof ProtocolError) return error.code === -32602 ? 'invalid_params' : 'protocol';
  // The HTTP layer refused the POST (bad request, unknown session, unauthorised): no JSON-RPC handler ran.
  if (error instanceof SdkHttpError)
    return error.status >= 400 && error.status < 500 ? 'refused' : 'transport';
  if (error instanceof SdkError) {
    if (error.code === SdkErrorCode.RequestTimeout) return 'timeout';
    if (error.code === SdkErrorCode.NotConnected) return 'refused';
    return 'transport';
  }
  return undefined;
}
