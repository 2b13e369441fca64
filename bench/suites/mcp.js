// MCP gateway: tools/call through `POST /mcp` (authenticate, guard, decide, durable records, audit, the upstream call
// through the MCP connector) against a baseline measured in the same run: the same tools/call made by the same MCP SDK
// client (Client + StreamableHTTPClientTransport) directly to the same upstream, @modelcontextprotocol/server-everything
// in Streamable HTTP mode on 127.0.0.1. On each backend.
import { spawn } from 'node:child_process';
import { createRequire } from 'node:module';
import net from 'node:net';
import path from 'node:path';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { EnvSecretStore, createEngine, parseConfig, policyBundleFromTexts } from '@autonomy-os/core';
import { buildServer } from '@autonomy-os/server';
import { backends, interleaved } from '../harness.js';

export const name = 'mcp';

const require = createRequire(import.meta.url);
const manifest = require.resolve('@modelcontextprotocol/server-everything/package.json');
const EVERYTHING = path.join(path.dirname(manifest), Object.values(require(manifest).bin)[0]);

// Binds the upstream to 127.0.0.1 only (it listens on every interface by default).
const LOOPBACK_ONLY = `import net from 'node:net';
const listen = net.Server.prototype.listen;
net.Server.prototype.listen = function (...args) {
  if (typeof args[0] === 'number' || (typeof args[0] === 'string' && /^[0-9]+$/.test(args[0]))) {
    return listen.call(this, { port: Number(args[0]), host: '127.0.0.1' }, ...args.filter((a) => typeof a === 'function'));
  }
  return listen.apply(this, args);
};`;

function freePort() {
  return new Promise((resolve) => {
    const s = net.createServer();
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

async function startEverything() {
  const port = await freePort();
  const child = spawn(
    process.execPath,
    [`--import=data:text/javascript,${encodeURIComponent(LOOPBACK_ONLY)}`, EVERYTHING, 'streamableHttp'],
    {
      env: { PATH: process.env.PATH ?? '', PORT: String(port) },
      stdio: ['ignore', 'ignore', 'pipe'],
    },
  );
  await new Promise((resolve, reject) => {
    let out = '';
    const timer = setTimeout(() => reject(new Error(`server-everything did not start: ${out}`)), 15_000);
    child.stderr.on('data', (d) => {
      out += d.toString();
      if (out.includes('listening on port')) {
        clearTimeout(timer);
        resolve();
      }
    });
  });
  return { url: `http://127.0.0.1:${port}/mcp`, stop: () => child.kill('SIGKILL') };
}

async function connect(url, headers = {}) {
  const client = new Client({ name: 'aos-bench', version: '1.0.0' });
  await client.connect(new StreamableHTTPClientTransport(new URL(url), { requestInit: { headers } }));
  return client;
}

export async function run({ quick }) {
  const n = quick ? 50 : 1000;
  const results = [];
  const upstream = await startEverything();
  try {
    for (const backend of await backends()) {
      const { store, cleanup } = await backend.open();
      let engine;
      let server;
      const clients = [];
      try {
        await store.humans.add({ id: 'owner' }, 'operator:bench');
        await store.agents.create(
          { id: 'bench-bot', role: 'bench', tier: 2, owner: 'owner' },
          'operator:bench',
        );
        const { token } = await store.tokens.issue(
          { subjectType: 'agent', subjectId: 'bench-bot' },
          'operator:bench',
        );
        const config = parseConfig({
          server: { host: '127.0.0.1', port: 0 },
          connectors: [{ id: 'everything', type: 'mcp', transport: 'http', url: upstream.url }],
        });
        const policies = policyBundleFromTexts([
          {
            file: 'bench.cedar',
            text: 'permit (principal in Role::"bench", action == Action::"everything.echo", resource);',
          },
        ]);
        engine = await createEngine({ store, config, policies, secrets: new EnvSecretStore({ env: {} }) });
        await engine.start({ background: false });
        server = buildServer({ engine, version: 'bench' });
        const base = await server.listen();
        const direct = await connect(upstream.url);
        const governed = await connect(`${base}/mcp`, { authorization: `Bearer ${token}` });
        clients.push(direct, governed);
        const call = (client, tool) => async (i) => {
          const res = await client.callTool({ name: tool, arguments: { message: `m${i}` } });
          if (res.isError) throw new Error(`${tool}: ${JSON.stringify(res.content).slice(0, 300)}`);
        };
        for (let i = 0; i < 20; i++) {
          await call(direct, 'echo')(i);
          await call(governed, 'everything.echo')(i);
        }
        const [d, g] = await interleaved(n, call(direct, 'echo'), call(governed, 'everything.echo'));
        results.push(
          {
            suite: name,
            backend: backend.name,
            metric: 'direct tools/call echo (baseline), calls/s',
            value: d.perSecond,
            note: `p50 ${Math.round(d.p50)} µs, p99 ${Math.round(d.p99)} µs`,
          },
          {
            suite: name,
            backend: backend.name,
            metric: 'gateway tools/call everything.echo, calls/s',
            value: g.perSecond,
            ratio: g.perSecond / d.perSecond,
            note: `p50 ${Math.round(g.p50)} µs, p99 ${Math.round(g.p99)} µs`,
          },
          {
            suite: name,
            backend: backend.name,
            metric: 'gateway added latency p50, µs',
            value: g.p50 - d.p50,
            note: 'gateway p50 − direct p50',
          },
          {
            suite: name,
            backend: backend.name,
            metric: 'gateway added latency p99, µs',
            value: g.p99 - d.p99,
            note: 'gateway p99 − direct p99',
          },
        );
      } finally {
        for (const c of clients) await c.close().catch(() => undefined);
        await server?.close();
        await engine?.close();
        await cleanup();
      }
    }
  } finally {
    upstream.stop();
  }
  return results;
}
