import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { mkdtemp, readFile, realpath, rm } from 'node:fs/promises';
import { createServer as createHttpServer, request as httpRequest } from 'node:http';
import { createServer } from 'node:net';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { SystemError, UserError } from '../errors.js';
import { EnvSecretStore } from '../secrets/index.js';
import { McpConnector, definitionHash, metadataFromAnnotations } from './index.js';
import type { ToolResult } from './index.js';

const require = createRequire(import.meta.url);

/** The bin script of an npm package, from its package.json. */
function binOf(pkg: string): string {
  const manifestPath = require.resolve(`${pkg}/package.json`);
  const manifest = require(manifestPath) as { bin: Record<string, string> };
  const bin = Object.values(manifest.bin)[0];
  if (bin === undefined) throw new Error(`${pkg} has no bin`);
  return join(dirname(manifestPath), bin);
}

const EVERYTHING = binOf('@modelcontextprotocol/server-everything');
const FILESYSTEM = binOf('@modelcontextprotocol/server-filesystem');
const SECRET = 'tok_7Hq2-very-secret-value';
const secrets = new EnvSecretStore({ env: { AOS_SECRET_UPSTREAM_TOKEN: SECRET } });

/**
 * Makes `server.listen(port)` bind 127.0.0.1 instead of every interface, preloaded into the upstream test server so
 * it never listens beyond loopback.
 */
const LOOPBACK_ONLY = `import net from 'node:net';
const listen = net.Server.prototype.listen;
net.Server.prototype.listen = function (...args) {
  if (typeof args[0] === 'number' || (typeof args[0] === 'string' && /^[0-9]+$/.test(args[0]))) {
    return listen.call(this, { port: Number(args[0]), host: '127.0.0.1' }, ...args.filter((a) => typeof a === 'function'));
  }
  return listen.apply(this, args);
};`;

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = createServer();
    probe.once('error', reject);
    probe.listen({ port: 0, host: '127.0.0.1' }, () => {
      const address = probe.address();
      probe.close(() =>
        typeof address === 'object' && address ? resolve(address.port) : reject(new Error('no port')),
      );
    });
  });
}

/** Starts server-everything in Streamable HTTP mode on 127.0.0.1:port; resolves once it listens (10 s at most). */
async function startEverythingHttp(port: number): Promise<ChildProcess> {
  const child = spawn(
    process.execPath,
    [`--import=data:text/javascript,${encodeURIComponent(LOOPBACK_ONLY)}`, EVERYTHING, 'streamableHttp'],
    { env: { PATH: process.env.PATH ?? '', PORT: String(port) }, stdio: ['ignore', 'ignore', 'pipe'] },
  );
  await new Promise<void>((resolve, reject) => {
    let output = '';
    const timer = setTimeout(() => reject(new Error(`server-everything did not start: ${output}`)), 10_000);
    child.stderr?.on('data', (chunk: Buffer) => {
      output += chunk.toString('utf8');
      if (output.includes('listening on port')) {
        clearTimeout(timer);
        resolve();
      }
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`server-everything exited with ${code}: ${output}`));
    });
  });
  return child;
}

async function stop(child: ChildProcess | undefined): Promise<void> {
  if (!child || child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.kill('SIGKILL');
  await exited;
}

function text(result: ToolResult): string {
  const first = result.content[0] as { type?: string; text?: string } | undefined;
  return first?.type === 'text' ? (first.text ?? '') : '';
}

async function caught(promise: Promise<unknown>): Promise<Error> {
  try {
    await promise;
  } catch (error) {
    return error as Error;
  }
  throw new Error('expected a rejection');
}

async function waitFor(condition: () => boolean, what: string): Promise<void> {
  for (let i = 0; i < 200; i++) {
    if (condition()) return;
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  throw new Error(`timed out waiting for ${what}`);
}

describe('McpConnector over stdio (server-everything)', () => {
  const connector = new McpConnector(
    {
      id: 'everything',
      transport: 'stdio',
      command: process.execPath,
      args: [EVERYTHING, 'stdio'],
      env: { UPSTREAM_TOKEN: 'Bearer ${secret:upstream_token}' },
    },
    { secrets, timeoutMs: 10_000 },
  );

  afterAll(async () => {
    await connector.close();
  });

  it('connects lazily and lists tools with their annotations', async () => {
    expect(connector.connected).toBe(false);
    const tools = await connector.listTools();
    expect(connector.connected).toBe(true);
    const echo = tools.find((tool) => tool.name === 'echo');
    expect(echo).toBeDefined();
    expect(echo?.inputSchema.type).toBe('object');
    expect(echo?.annotations).toMatchObject({
      readOnlyHint: true,
      destructiveHint: false,
      idempotentHint: true,
    });
    expect(metadataFromAnnotations(echo?.annotations)).toEqual({
      effect: 'read',
      destructive: false,
      idempotent: true,
      untrustedOutput: false,
      risk: 'low',
    });
    expect(definitionHash(echo!)).toMatch(/^[0-9a-f]{64}$/);
    expect(tools.find((tool) => tool.name === 'get-structured-content')?.outputSchema).toBeDefined();
  });

  it('calls tools and returns content and structured content', async () => {
    expect(text(await connector.callTool('echo', { message: 'hello' }, {}))).toBe('Echo: hello');
    expect(text(await connector.callTool('get-sum', { a: 2, b: 40 }, {}))).toContain('42');
    const weather = await connector.callTool('get-structured-content', { location: 'Chicago' }, {});
    expect(weather.isError).toBe(false);
    expect(weather.structuredContent).toMatchObject({ temperature: expect.any(Number) as number });
  });

  it('reports a tool failure as isError', async () => {
    const result = await connector.callTool('echo', {}, {});
    expect(result.isError).toBe(true);
  });

  it('injects resolved secrets into the child environment and nothing else of ours, and scrubs them from results', async () => {
    const env = JSON.parse(text(await connector.callTool('get-env', {}, {}))) as Record<string, string>;
    // The child had the secret (the redactor recognised it) and the caller never sees it.
    expect(env.UPSTREAM_TOKEN).toBe('Bearer [redacted]');
    expect(Object.keys(env).filter((key) => key.startsWith('AOS_'))).toEqual([]);
  });

  it('scrubs an upper-cased prefix of a secret the upstream echoes in a result', async () => {
    const echoed = SECRET.slice(0, 12).toUpperCase();
    const result = await connector.callTool('echo', { message: `token ${echoed}` }, {});
    expect(text(result)).toBe('Echo: token [redacted]');
    expect(JSON.stringify(result).toUpperCase()).not.toContain(SECRET.slice(0, 8).toUpperCase());
  });

  it('times out a slow call with a timeout error and keeps working', async () => {
    const error = await caught(
      connector.callTool('trigger-long-running-operation', { duration: 5, steps: 5 }, { timeoutMs: 50 }),
    );
    expect(error).toBeInstanceOf(SystemError);
    expect((error as SystemError).code).toBe('timeout');
    expect(text(await connector.callTool('echo', { message: 'still here' }, {}))).toBe('Echo: still here');
  });

  it('honours the caller abort signal', async () => {
    const controller = new AbortController();
    const pending = connector.callTool(
      'trigger-long-running-operation',
      { duration: 5, steps: 5 },
      {
        signal: controller.signal,
      },
    );
    controller.abort();
    expect(((await caught(pending)) as SystemError).code).toBe('aborted');
  });

  it('does not retry a call whose connection died in flight, and says the outcome is unknown', async () => {
    await connector.listTools();
    const pid = connector.pid!;
    const pending = connector.callTool('trigger-long-running-operation', { duration: 5, steps: 5 }, {});
    await new Promise((resolve) => setTimeout(resolve, 50));
    process.kill(pid, 'SIGKILL');
    const error = await caught(pending);
    expect(error).toBeInstanceOf(SystemError);
    expect((error as SystemError).code).toBe('upstream_outcome_unknown');
  });

  it('reconnects after the child process dies', async () => {
    await connector.listTools();
    const pid = connector.pid;
    expect(pid).toBeGreaterThan(0);
    process.kill(pid!, 'SIGKILL');
    await waitFor(() => !connector.connected, 'the connector to notice the dead child');
    expect(text(await connector.callTool('echo', { message: 'back' }, {}))).toBe('Echo: back');
    expect(connector.pid).not.toBe(pid);
  });

  it('kills the child on close and refuses further calls', async () => {
    const other = new McpConnector({
      id: 'short',
      transport: 'stdio',
      command: process.execPath,
      args: [EVERYTHING],
    });
    await other.listTools();
    const pid = other.pid!;
    await other.close();
    expect(() => process.kill(pid, 0)).toThrow();
    expect(((await caught(other.callTool('echo', { message: 'x' }, {}))) as SystemError).code).toBe(
      'connector_closed',
    );
  });

  it('names an unknown secret without starting anything', async () => {
    const bad = new McpConnector(
      {
        id: 'bad',
        transport: 'stdio',
        command: process.execPath,
        args: [EVERYTHING],
        env: { T: '${secret:nope}' },
      },
      { secrets },
    );
    const error = await caught(bad.listTools());
    expect(error).toBeInstanceOf(UserError);
    expect((error as UserError).field).toBe('connectors.bad.env.T');
    expect(error.message).toContain("'nope'");
    await bad.close();
  });

  it('reports a server that cannot start as unavailable', async () => {
    const missing = new McpConnector({
      id: 'missing',
      transport: 'stdio',
      command: '/nonexistent/mcp-server',
    });
    expect(((await caught(missing.listTools())) as SystemError).code).toBe('upstream_unavailable');
    await missing.close();
  });
});

describe('McpConnector over stdio (server-filesystem)', () => {
  let root: string;
  let connector: McpConnector;

  beforeAll(async () => {
    root = await realpath(await mkdtemp(join(tmpdir(), 'aos-fs-')));
    connector = new McpConnector(
      { id: 'fs', transport: 'stdio', command: process.execPath, args: [FILESYSTEM, root] },
      { timeoutMs: 10_000 },
    );
  });

  afterAll(async () => {
    await connector.close();
    await rm(root, { recursive: true, force: true });
  });

  it('writes then reads a file inside its root', async () => {
    const tools = await connector.listTools();
    const write = tools.find((tool) => tool.name === 'write_file');
    expect(metadataFromAnnotations(write?.annotations)).toMatchObject({
      effect: 'write',
      destructive: true,
      risk: 'high',
    });

    const path = join(root, 'note.txt');
    const written = await connector.callTool('write_file', { path, content: 'governed hello' }, {});
    expect(written.isError).toBe(false);
    expect(await readFile(path, 'utf8')).toBe('governed hello');
    const read = await connector.callTool('read_text_file', { path }, {});
    expect(text(read)).toBe('governed hello');
  });

  it('answers isError for a path outside its root', async () => {
    const result = await connector.callTool('read_text_file', { path: '/etc/hostname' }, {});
    expect(result.isError).toBe(true);
  });
});

describe('McpConnector over Streamable HTTP (server-everything)', () => {
  let port: number;
  let server: ChildProcess | undefined;
  let connector: McpConnector;

  beforeAll(async () => {
    port = await freePort();
    server = await startEverythingHttp(port);
    connector = new McpConnector(
      {
        id: 'everything-http',
        transport: 'http',
        url: `http://127.0.0.1:${port}/mcp`,
        headers: { Authorization: 'Bearer ${secret:upstream_token}' },
      },
      { secrets, timeoutMs: 10_000 },
    );
  });

  afterAll(async () => {
    await connector.close();
    await stop(server);
  });

  it('lists tools and calls them', async () => {
    const tools = await connector.listTools();
    expect(tools.map((tool) => tool.name)).toEqual(expect.arrayContaining(['echo', 'get-sum']));
    expect(text(await connector.callTool('get-sum', { a: 1, b: 2 }, {}))).toContain('3');
  });

  it('opens a new session after the server restarts and loses the old one', async () => {
    expect(text(await connector.callTool('echo', { message: 'one' }, {}))).toBe('Echo: one');
    await stop(server);
    server = await startEverythingHttp(port);
    expect(text(await connector.callTool('echo', { message: 'two' }, {}))).toBe('Echo: two');
  });

  it('sends the resolved secret header to the server', async () => {
    const authorizations: (string | undefined)[] = [];
    const proxy = createHttpServer((req, res) => {
      authorizations.push(req.headers.authorization);
      const upstream = httpRequest(
        { host: '127.0.0.1', port, path: req.url, method: req.method, headers: req.headers },
        (answer) => {
          res.writeHead(answer.statusCode ?? 502, answer.headers);
          answer.pipe(res);
        },
      );
      upstream.on('error', () => res.destroy());
      req.pipe(upstream);
    });
    await new Promise<void>((resolve) => proxy.listen({ port: 0, host: '127.0.0.1' }, resolve));
    const address = proxy.address();
    const proxied = new McpConnector(
      {
        id: 'proxied',
        transport: 'http',
        url: `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}/mcp`,
        headers: { Authorization: 'Bearer ${secret:upstream_token}' },
      },
      { secrets, timeoutMs: 10_000 },
    );
    try {
      expect(text(await proxied.callTool('echo', { message: 'via proxy' }, {}))).toBe('Echo: via proxy');
      expect(authorizations.length).toBeGreaterThan(0);
      expect(authorizations.every((value) => value === `Bearer ${SECRET}`)).toBe(true);
    } finally {
      await proxied.close();
      proxy.closeAllConnections();
      await new Promise<void>((resolve) => proxy.close(() => resolve()));
    }
  });

  it('reports an unreachable server without leaking the secret header', async () => {
    const down = new McpConnector(
      {
        id: 'down',
        transport: 'http',
        url: `http://127.0.0.1:${await freePort()}/mcp`,
        headers: { Authorization: 'Bearer ${secret:upstream_token}' },
      },
      { secrets, connectTimeoutMs: 5_000 },
    );
    const error = await caught(down.listTools());
    expect((error as SystemError).code).toBe('upstream_unavailable');
    expect(`${error.message} ${error.stack ?? ''}`).not.toContain(SECRET);
    await down.close();
  });

  it('rejects a URL carrying credentials', () => {
    expect(
      () => new McpConnector({ id: 'creds', transport: 'http', url: 'http://user:pw@127.0.0.1:1/mcp' }),
    ).toThrow(UserError);
  });
});
