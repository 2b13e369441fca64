// The governed call measured honestly: the load generator (a closed loop of N concurrent requests, Node's fetch) and
// the payments upstream each run in a process of their own; the bench process holds only the governed server
// (engine + buildServer). At concurrency 1 and 32, REST `POST /v1/actions` and MCP `tools/call` (raw JSON-RPC POSTs of
// revision 2026-07-28, no session) against the direct call to the same upstream from the same load generator,
// alternating in rounds, with the example's policies grown to 100 (see sizedPolicyDirectory); and the approval round
// trip. On each backend. A bare proxy (Fastify route, undici keep-alive pool: the stack the governed server stands on,
// with no governance) in the bench process runs in the same rounds, so the part of the added latency that any Node
// proxy on this machine pays is measured, not assumed.
import { EnvSecretStore, createEngine } from '@autonomy-os/core';
import { buildServer } from '@autonomy-os/server';
import Fastify from 'fastify';
import { Pool } from 'undici';
import { ROUNDS, backends, summarize } from '../harness.js';
import { startLoadProcess, startUpstreamProcess } from '../load/processes.js';
import { PAYMENTS_KEY, sizedPolicyDirectory, supportDeskConfig } from '../support-desk.js';

export const name = 'gateway';

const { fetch } = globalThis;

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

/** The bare proxy: `POST /v1/actions` forwards `input.orderId` to the upstream and answers as a governed call would. */
async function startBareProxy(upstreamUrl) {
  const pool = new Pool(upstreamUrl, { connections: 64 });
  const app = Fastify();
  app.post('/v1/actions', async (req) => {
    const res = await pool.request({
      path: `/orders/${encodeURIComponent(req.body.input.orderId)}`,
      method: 'GET',
      headers: { 'x-api-key': PAYMENTS_KEY },
    });
    const output = await res.body.json();
    return { outcome: 'allowed', status: 'succeeded', output };
  });
  const base = await app.listen({ host: '127.0.0.1', port: 0 });
  return {
    base,
    async close() {
      await app.close();
      await pool.close();
    },
  };
}

/**
 * Times `n` approval round trips one after another from the bench process: a refund that needs approval
 * (`pending_approval`), `POST /v1/approvals/:id/approve` by a human, then `GET /v1/actions/:id` until it has
 * succeeded. Answers the latency summary (µs).
 */
async function approvalRoundTrips({ base, agentHeaders, humanToken, n }) {
  const samples = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    const t0 = process.hrtime.bigint();
    const res = await fetch(`${base}/v1/actions`, {
      method: 'POST',
      headers: agentHeaders,
      body: JSON.stringify({
        tool: 'payments.refund',
        input: { orderId: `o-approve-${i}`, amount: 250, note: 'damaged' },
      }),
    });
    const action = await res.json();
    if (action.outcome !== 'pending_approval' || !action.approvalId) {
      throw new Error(
        `approval round trip: expected pending_approval, got ${JSON.stringify(action).slice(0, 300)}`,
      );
    }
    const vote = await fetch(`${base}/v1/approvals/${action.approvalId}/approve`, {
      method: 'POST',
      headers: { authorization: `Bearer ${humanToken}`, 'content-type': 'application/json' },
      body: JSON.stringify({ comment: 'bench' }),
    });
    if (!vote.ok) throw new Error(`approval round trip: approve HTTP ${vote.status} ${await vote.text()}`);
    for (;;) {
      const view = await (
        await fetch(`${base}/v1/actions/${action.id}`, { headers: { authorization: `Bearer ${humanToken}` } })
      ).json();
      if (view.status === 'succeeded') break;
      if (['failed', 'denied', 'expired', 'unknown_outcome'].includes(view.status)) {
        throw new Error(`approval round trip: action ended ${view.status}`);
      }
      await new Promise((r) => setTimeout(r, 1));
    }
    samples[i] = Number(process.hrtime.bigint() - t0) / 1e3;
  }
  return summarize(samples, 1);
}

export async function run({ quick }) {
  // Quick: 3 rounds, 30 calls a job at c=1 and 96 at c=32 (a few seconds a backend on an idle machine).
  const n = quick ? 30 : 1000;
  const rounds = quick ? 3 : ROUNDS;
  const results = [];
  const policies = sizedPolicyDirectory(POLICY_COUNT);
  const upstream = await startUpstreamProcess();
  const load = startLoadProcess();
  const bare = await startBareProxy(upstream.url);
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
        // The owner (fiona) is barred from approving her agent's refunds; frank approves them.
        await store.humans.add({ id: 'frank', groups: ['approvers:finance'] }, 'operator:bench');
        const { token: humanToken } = await store.tokens.issue(
          { subjectType: 'human', subjectId: 'frank' },
          'operator:bench',
        );
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
        const bareJob = {
          url: `${bare.base}/v1/actions`,
          method: 'POST',
          kind: 'action',
          headers: { 'content-type': 'application/json' },
          body: rest.body,
        };
        // Warm-up: JIT, connection pools, the policy set's first evaluations.
        for (const job of [direct, bareJob, rest, mcp])
          await load.run({ ...job, n: quick ? 10 : 200, concurrency: 4 });

        for (const c of CONCURRENCY) {
          const [d, b, r, m] = await alternate({
            load,
            jobs: [direct, bareJob, rest, mcp],
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
          row(`bare proxy (Fastify + undici, no governance), c=${c}, calls/s`, b.perSecond, {
            ratio: b.perSecond / d.perSecond,
            note: `p50 ${us(b.p50)}, +${us(b.p50 - d.p50)} p50 over direct: the floor of any Node proxy here`,
          });
          for (const [label, g] of [
            ['REST POST /v1/actions payments.get_order', r],
            ['MCP tools/call payments.get_order', m],
          ]) {
            row(`${label}, c=${c}, calls/s`, g.perSecond, {
              ratio: g.perSecond / d.perSecond,
              note: `p50 ${us(g.p50)}, p99 ${us(g.p99)}; ${(g.perSecond / b.perSecond).toFixed(2)}x the bare proxy; ${setup}`,
            });
            row(`${label}, c=${c}, added p50 / p99, µs`, g.p50 - d.p50, {
              note: `+${us(g.p99 - d.p99)} p99 (governed − direct, block medians)`,
            });
          }
        }
        const trip = await approvalRoundTrips({ base, agentHeaders, humanToken, n: quick ? 10 : 100 });
        results.push({
          suite: name,
          backend: backend.name,
          metric: 'approval round trip (request → approve → succeeded), p50 ms',
          value: trip.p50 / 1e3,
          note: `p99 ${(trip.p99 / 1e3).toFixed(1)} ms; payments.refund of 250, one at a time, timed by the bench process`,
        });
      } finally {
        await server?.close();
        await engine?.close();
        await cleanup();
      }
    }
  } finally {
    await load.stop();
    await bare.close();
    await upstream.stop();
    policies.cleanup();
  }
  return results;
}
