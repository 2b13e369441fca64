// Profiles the governed server of the gateway suite: `node --cpu-prof --cpu-prof-dir=/tmp/prof
// bench/load/profile-server.js [rest|mcp|direct] [calls] [concurrency]` (BACKEND=postgres for PostgreSQL). The same
// setup as bench/suites/gateway.js (100 policies, no answer cache, load generator and upstream in processes of
// their own), so the profile holds only the server's event loop. Prints the server process's CPU time per call.
// With PROFILE=<file.cpuprofile> (and no --cpu-prof) only the measured calls are profiled, not start-up or warm-up.
// With ROUND_TRIPS=1 (BACKEND=postgres) it prints the queries the server sent PostgreSQL per measured call, by
// statement: every `pg` client's query, on the pool, the batch connection and the listener alike.
import fs from 'node:fs';
import { Session } from 'node:inspector/promises';
import pg from 'pg';
import { EnvSecretStore, createEngine } from '@autonomy-os/core';
import { buildServer } from '@autonomy-os/server';
import { backends } from '../harness.js';
import { PAYMENTS_KEY, sizedPolicyDirectory, supportDeskConfig } from '../support-desk.js';
import { startLoadProcess, startUpstreamProcess } from './processes.js';

const kind = process.argv[2] ?? 'rest';
const n = Number(process.argv[3] ?? 2000);
const concurrency = Number(process.argv[4] ?? 1);
const backend = (await backends()).find((b) => b.name === (process.env.BACKEND ?? 'sqlite'));
if (!backend) throw new Error(`no backend ${process.env.BACKEND}`);

const policies = sizedPolicyDirectory(100);
const upstream = await startUpstreamProcess();
const load = startLoadProcess();
const { store, cleanup } = await backend.open();
const config = supportDeskConfig(upstream.url, (raw) => {
  raw.server = { host: '127.0.0.1', port: 0 };
  raw.policies = policies.dir;
  delete raw.tools['payments.get_order'];
  raw.budgets = [{ scope: 'role:support', period: 'day', calls: 10_000_000, cost: 100_000_000 }];
});
await store.humans.add({ id: 'fiona', groups: ['approvers:finance'] }, 'operator:bench');
await store.agents.create(
  { id: 'refund-bot', role: 'support', tier: 2, owner: 'fiona', environments: ['dev', 'staging'] },
  'operator:bench',
);
const { token } = await store.tokens.issue(
  { subjectType: 'agent', subjectId: 'refund-bot' },
  'operator:bench',
);
const engine = await createEngine({
  store,
  config,
  secrets: new EnvSecretStore({ env: { AOS_SECRET_PAYMENTS_API_KEY: PAYMENTS_KEY } }),
});
await engine.start({ background: false });
const server = buildServer({ engine, version: 'bench' });
const base = await server.listen();
const headers = { authorization: `Bearer ${token}`, 'content-type': 'application/json' };
const jobs = {
  direct: { url: `${upstream.url}/orders/o-__SEQ__`, headers: { 'x-api-key': PAYMENTS_KEY } },
  rest: {
    url: `${base}/v1/actions`,
    method: 'POST',
    kind: 'action',
    headers,
    body: JSON.stringify({ tool: 'payments.get_order', input: { orderId: 'o-__SEQ__' } }),
  },
  mcp: {
    url: `${base}/mcp`,
    method: 'POST',
    kind: 'mcp',
    headers: {
      ...headers,
      accept: 'application/json, text/event-stream',
      'mcp-protocol-version': '2026-07-28',
      'mcp-method': 'tools/call',
      'mcp-name': 'payments.get_order',
    },
    body: JSON.stringify({
      jsonrpc: '2.0',
      id: 1,
      method: 'tools/call',
      params: {
        name: 'payments.get_order',
        arguments: { orderId: 'o-__SEQ__' },
        _meta: {
          'io.modelcontextprotocol/protocolVersion': '2026-07-28',
          'io.modelcontextprotocol/clientInfo': { name: 'aos-bench', version: '1.0.0' },
          'io.modelcontextprotocol/clientCapabilities': {},
        },
      },
    }),
  },
};
try {
  await load.run({ ...jobs[kind], n: 100, concurrency: 4 });
  const session = process.env.PROFILE ? new Session() : undefined;
  if (session) {
    session.connect();
    await session.post('Profiler.enable');
    await session.post('Profiler.start');
  }
  const trips = process.env.ROUND_TRIPS === '1' ? countRoundTrips() : undefined;
  const cpu0 = process.cpuUsage();
  const r = await load.run({ ...jobs[kind], n, concurrency });
  const cpu = process.cpuUsage(cpu0);
  if (trips) {
    const counts = trips.stop();
    const total = [...counts.values()].reduce((a, b) => a + b, 0);
    process.stdout.write(`round trips to PostgreSQL a call: ${(total / n).toFixed(2)}\n`);
    for (const [sql, c] of [...counts].sort((a, b) => b[1] - a[1]))
      process.stdout.write(`  ${(c / n).toFixed(2).padStart(6)}  ${sql}\n`);
  }
  if (session) {
    const { profile } = await session.post('Profiler.stop');
    fs.writeFileSync(process.env.PROFILE, JSON.stringify(profile));
    session.disconnect();
  }
  // CPU time of this process (the server) per call: steadier than wall time on a shared machine.
  const cpuPerCall = (cpu.user + cpu.system) / n;
  process.stdout.write(
    `${kind} on ${backend.name}: server CPU ${cpuPerCall.toFixed(0)} µs/call; ${JSON.stringify(r)}\n`,
  );
} finally {
  await server.close();
  await engine.close();
  await cleanup();
  await load.stop();
  await upstream.stop();
  policies.cleanup();
}

/** Counts the queries every `pg` client sends from now until `stop()`, by their first 100 characters. */
function countRoundTrips() {
  const counts = new Map();
  const query = pg.Client.prototype.query;
  pg.Client.prototype.query = function (q, ...rest) {
    const text = typeof q === 'string' ? q : (q?.text ?? '?');
    const key = text.replace(/\s+/g, ' ').slice(0, 100);
    counts.set(key, (counts.get(key) ?? 0) + 1);
    return query.call(this, q, ...rest);
  };
  return {
    stop() {
      pg.Client.prototype.query = query;
      return counts;
    },
  };
}
