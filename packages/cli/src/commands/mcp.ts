import type { Command } from 'commander';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { StdioServerTransport } from '@modelcontextprotocol/sdk/server/stdio.js';
import { isJSONRPCRequest, isJSONRPCResultResponse } from '@modelcontextprotocol/sdk/types.js';
import type { JSONRPCMessage, RequestId } from '@modelcontextprotocol/sdk/types.js';
import { UserError } from '@autonomy-os/core';

/** Options for {@link runStdioBridge}. */
export interface StdioBridgeOptions {
  /** The server's base URL or its `/mcp` URL. */
  url: string;
  /** The agent's bearer token (`aos_…` or an OIDC JWT). */
  token: string;
}

/** `http://host:7420` and `http://host:7420/` mean the server's `/mcp`; any other path is taken as given. */
export function mcpEndpoint(url: string): URL {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw new UserError('must be an http(s) URL', { field: 'url' });
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:')
    throw new UserError('must be http(s)', { field: 'url' });
  if (u.pathname === '/' || u.pathname === '') u.pathname = '/mcp';
  return u;
}

/**
 * Bridges a local stdio MCP client (Claude Desktop, Claude Code, any MCP host) to a remote Autonomy OS `/mcp`:
 * messages pass through unchanged, the token goes only to the Autonomy OS server, as `Authorization: Bearer`.
 * Resolves when the stdio side closes.
 */
export async function runStdioBridge(options: StdioBridgeOptions): Promise<void> {
  const http = new StreamableHTTPClientTransport(mcpEndpoint(options.url), {
    requestInit: { headers: { authorization: `Bearer ${options.token}` } },
  });
  const stdio = new StdioServerTransport();
  const initializeIds = new Set<RequestId>();
  const log = (msg: string) => process.stderr.write(`aos mcp stdio: ${msg}\n`);

  stdio.onmessage = (message: JSONRPCMessage) => {
    if (isJSONRPCRequest(message) && message.method === 'initialize') initializeIds.add(message.id);
    http.send(message).catch(async (err: unknown) => {
      const reason = err instanceof Error ? err.message : String(err);
      log(reason);
      // Every request gets an answer, even when the gateway refuses it (401, 403) or cannot be reached.
      if (isJSONRPCRequest(message)) {
        await stdio
          .send({
            jsonrpc: '2.0',
            id: message.id,
            error: { code: -32000, message: `Autonomy OS gateway: ${reason}` },
          })
          .catch(() => undefined);
      }
    });
  };
  http.onmessage = (message: JSONRPCMessage) => {
    if (isJSONRPCResultResponse(message) && initializeIds.delete(message.id)) {
      const version = (message.result as { protocolVersion?: unknown }).protocolVersion;
      if (typeof version === 'string') http.setProtocolVersion(version);
    }
    stdio.send(message).catch((err: unknown) => log(err instanceof Error ? err.message : String(err)));
  };
  http.onerror = (err) => log(err.message);

  const closed = new Promise<void>((resolve) => {
    stdio.onclose = () => resolve();
    process.stdin.once('end', () => resolve());
  });
  await http.start();
  await stdio.start();
  await closed;
  await http.close().catch(() => undefined);
}

/** `aos mcp stdio`: the local bridge MCP hosts launch. */
export function registerMcp(program: Command): void {
  const mcp = program.command('mcp').description('the MCP gateway, from the agent side');
  mcp
    .command('stdio')
    .description('serve MCP on stdin/stdout, forwarding every message to a remote Autonomy OS /mcp')
    .requiredOption('--url <url>', 'Autonomy OS server URL (e.g. http://127.0.0.1:7420)')
    .option('--token <token>', 'agent token (default: $AOS_AGENT_TOKEN)')
    .action(async (o: { url: string; token?: string }) => {
      const token = o.token ?? process.env.AOS_AGENT_TOKEN;
      if (!token) throw new UserError('is required (or set AOS_AGENT_TOKEN)', { field: 'token' });
      await runStdioBridge({ url: o.url, token });
      process.exit(0);
    });
}
