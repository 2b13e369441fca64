// The governed call measured honestly: the load generator (a closed loop of N concurrent requests, Node's fetch) and
// the payments upstream each run in a process of their own; the bench process holds only the governed server
// (engine + buildServer). At concurrency 1 and 32, REST `POST /v1/actions` and MCP `tools/call` (raw JSON-RPC POSTs of
// revision 2026-07-28, no session) against the direct call to the same upstream from the same load generator,
// alternating in rounds, with the example's policies grown to 100 (see sizedPolicyDirectory). On each backend.
import { EnvSecretStore, createEngine } from '@autonomy-os/core';
import { buildServer } from '@autonomy-os/server';
import { ROUNDS, backends } from '../harness.js';
import { startLoadProcess, startUpstreamProcess } from '../load/processes.js';
import { PAYMENTS_KEY, sizedPolicyDirectory, supportDeskConfig } from '../support-desk.js';

export const name = 'gateway';

const POLICY_COUNT = 100;
const CONCURRENCY = [1, 32];

/** Runs `n` requests of each job in `rounds` alternating blocks; answers the pooled calls/s and mean of block p50/p99. */
async function alternate({ load, jobs, n, concurrency, rounds }) {
  const acc = jobs.map(() => ({ seconds: 0, n: 0, p50: [], p99: [] }));
  const block = Math.max(concurrency, Math.ceil(n / rounds));
  for (let r = 0; r < rounds; r++) {
    for (const [k, job] of jobs.entries()) {
      const x = await load.run({ ...job, n: block, concurrency });
      acc[k].seconds += x.seconds;
      acc[k].n += x.n;
      acc[k].p50.push(x.p50);
      acc[k].p99.push(x.p99);
    }
  }
  const median = (xs) => xs.sort((a, b) => a - b)[Math.floor(xs.length / 2)];
  return acc.map((a) => ({ perSecond: a.n / a.seconds, p50: median(a.p50), p99: median(a.p99) }));
}

export async function run({ quick }) {
  // Quick: 3 rounds, 30 calls a job at c=1 and 96 at c=32 (a few seconds a backend on an idle machine).
  const n = quick ? 30 : 1000;
  const rounds = quick ? 3 : ROUNDS;
  const results = [];
  const policies = sizedPolicyDirectory(POLICY_COUNT);
  const upstream = await startUpstreamProcess();
  const load = startLoadProcess();
  try {
    for (const backend of await backends()) {
      const { store, cleanup } = await backend.open();
      let engine;
      let server;
      try {
        const config = supportDeskConfig(upstream.url, (raw) => {
          raw.server = { host: '127.0.0.1', port: 0 };
          raw.policies = policies.dir;
          delete raw.tools['payments.get_order']; // no answer cache: every governed call reaches the upstream
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
        engine = await createEngine({
          store,
          config,
          secrets: new EnvSecretStore({ env: { AOS_SECRET_PAYMENTS_API_KEY: PAYMENTS_KEY } }),
        });
        await engine.start({ background: false });
        server = buildServer({ engine, version: 'bench' });
        const base = await server.listen();

        const direct = {
          url: `${upstream.url}/orders/o-__SEQ__`,
          headers: { 'x-api-key': PAYMENTS_KEY },
        };
        const agentHeaders = { authorization: `Bearer ${token}`, 'content-type': 'application/json' };
        const rest = {
          url: `${base}/v1/actions`,
          method: 'POST',
          kind: 'action',
          headers: agentHeaders,
          body: JSON.stringify({ tool: 'payments.get_order', input: { orderId: 'o-__SEQ__' } }),
        };
        const mcp = {
          url: `${base}/mcp`,
          method: 'POST',
          kind: 'mcp',
          headers: {
            ...agentHeaders,
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
        };
        // Warm-up: JIT, connection pools, the policy set's first evaluations.
        for (const job of [direct, rest, mcp])
          await load.run({ ...job, n: quick ? 10 : 200, concurrency: 4 });

        for (const c of CONCURRENCY) {
          const [d, r, m] = await alternate({
            load,
            jobs: [direct, rest, mcp],
            n: c === 1 ? n : n * 3.2,
            concurrency: c,
            rounds,
          });
          const us = (x) => `${Math.round(x)} µs`;
          const setup = `${POLICY_COUNT} policies, concurrency ${c}`;
          const row = (metric, value, extra = {}) =>
            results.push({ suite: name, backend: backend.name, metric, value, ...extra });
          row(`direct GET /orders/:id, c=${c} (baseline), calls/s`, d.perSecond, {
            note: `p50 ${us(d.p50)}, p99 ${us(d.p99)}; load generator and upstream in own processes`,
          });
          for (const [label, g] of [
            ['REST POST /v1/actions payments.get_order', r],
            ['MCP tools/call payments.get_order', m],
          ]) {
            row(`${label}, c=${c}, calls/s`, g.perSecond, {
              ratio: g.perSecond / d.perSecond,
              note: `p50 ${us(g.p50)}, p99 ${us(g.p99)}; ${setup}`,
            });
            row(`${label}, c=${c}, added p50 / p99, µs`, g.p50 - d.p50, {
              note: `+${us(g.p99 - d.p99)} p99 (governed − direct, block medians)`,
            });
          }
        }
      } finally {
        await server?.close();
        await engine?.close();
        await cleanup();
      }
    }
  } finally {
    await load.stop();
    await upstream.stop();
    policies.cleanup();
  }
  return results;
}
