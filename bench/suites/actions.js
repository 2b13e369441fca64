// Governed actions: calls/s and added latency of `POST /v1/actions` (authenticate, guard, budget reservation, decide,
// durable decision and outcome records, audit, secret injection, the upstream call) against a baseline measured in
// the same run: the same call made directly to the same payments upstream, with the same HTTP client (fetch, i.e.
// undici, keep-alive). The example support-desk organisation, on each backend, with the answer cache off.
import { EnvSecretStore, createEngine } from '@autonomy-os/core';
import { buildServer } from '@autonomy-os/server';
import { ROUNDS, backends, concurrentPerSecond, interleaved, latencies } from '../harness.js';
import { PAYMENTS_KEY, startPayments, supportDeskConfig } from '../support-desk.js';

export const name = 'actions';

const { fetch } = globalThis; // Node's built-in fetch (undici), keep-alive by default
const CLIENTS = 8;

async function expectOk(res, what) {
  const body = await res.json();
  if (res.status !== 200 && res.status !== 201) {
    throw new Error(`${what}: HTTP ${res.status} ${JSON.stringify(body).slice(0, 300)}`);
  }
  return body;
}

/** A governed call must be allowed and have succeeded upstream, or its time means nothing. */
async function expectAllowed(res, what) {
  const body = await expectOk(res, what);
  if (body.outcome !== 'allowed' || body.status !== 'succeeded') {
    throw new Error(`${what}: ${body.outcome}/${body.status} ${JSON.stringify(body.decision ?? body.error)}`);
  }
  return body;
}

export async function run({ quick }) {
  // Quick is a smoke figure (the gateway suite carries the honest one): fewer calls, every pairing kept.
  const n = quick ? 60 : 1500;
  const nConcurrent = quick ? 160 : 3000;
  const warmup = quick ? 10 : 200;
  const results = [];
  for (const backend of await backends()) {
    const { store, cleanup } = await backend.open();
    const payments = await startPayments();
    let engine;
    let server;
    try {
      const config = supportDeskConfig(payments.url, (raw) => {
        raw.server = { host: '127.0.0.1', port: 0 };
        // Every governed read goes to the upstream: no answer cache.
        delete raw.tools['payments.get_order'];
        // The example's budget (1,000 calls a day) would stop the run; keep a budget so reservation is measured.
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

      const upstreamHeaders = { 'x-api-key': PAYMENTS_KEY };
      const agentHeaders = { authorization: `Bearer ${token}`, 'content-type': 'application/json' };
      let seq = 0; // distinct order ids across every phase, so nothing could be answered from a cache
      const directGet = async () =>
        expectOk(
          await fetch(`${payments.url}/orders/o-${seq++}`, { headers: upstreamHeaders }),
          'direct GET',
        );
      const governedGet = async () =>
        expectAllowed(
          await fetch(`${base}/v1/actions`, {
            method: 'POST',
            headers: agentHeaders,
            body: JSON.stringify({ tool: 'payments.get_order', input: { orderId: `o-${seq++}` } }),
          }),
          'governed payments.get_order',
        );
      const refundInput = () => ({ orderId: `o-${seq++}`, amount: 40, note: 'late delivery' });
      const directRefund = async () =>
        expectOk(
          await fetch(`${payments.url}/refunds`, {
            method: 'POST',
            headers: { ...upstreamHeaders, 'content-type': 'application/json' },
            body: JSON.stringify(refundInput()),
          }),
          'direct POST /refunds',
        );
      const governedRefund = async () =>
        expectAllowed(
          await fetch(`${base}/v1/actions`, {
            method: 'POST',
            headers: agentHeaders,
            body: JSON.stringify({ tool: 'payments.refund', input: refundInput() }),
          }),
          'governed payments.refund',
        );

      const row = (metric, value, extra = {}) =>
        results.push({ suite: name, backend: backend.name, metric, value, ...extra });
      const pair = async (label, directLabel, direct, governed) => {
        await latencies(warmup, direct);
        await latencies(warmup, governed);
        const [d, g] = await interleaved(n, direct, governed);
        const us = (x) => `${Math.round(x)} µs`;
        row(`${directLabel} (baseline), calls/s`, d.perSecond, {
          note: `p50 ${us(d.p50)}, p99 ${us(d.p99)}`,
        });
        row(`${label}, calls/s`, g.perSecond, {
          ratio: g.perSecond / d.perSecond,
          note: `p50 ${us(g.p50)}, p99 ${us(g.p99)}`,
        });
        row(`${label}, added latency p50, µs`, g.p50 - d.p50, { note: 'governed p50 − direct p50' });
        row(`${label}, added latency p99, µs`, g.p99 - d.p99, { note: 'governed p99 − direct p99' });
      };

      await pair('governed payments.get_order', 'direct GET /orders/:id', directGet, governedGet);
      await pair('governed payments.refund', 'direct POST /refunds', directRefund, governedRefund);

      // Concurrent clients, alternating direct and governed blocks so drift on a busy machine hits both alike.
      let dSec = 0;
      let gSec = 0;
      for (let r = 0; r < ROUNDS; r++) {
        dSec += nConcurrent / ROUNDS / (await concurrentPerSecond(nConcurrent / ROUNDS, CLIENTS, directGet));
        gSec +=
          nConcurrent / ROUNDS / (await concurrentPerSecond(nConcurrent / ROUNDS, CLIENTS, governedGet));
      }
      const dc = nConcurrent / dSec;
      const gc = nConcurrent / gSec;
      row(`direct GET /orders/:id, ${CLIENTS} clients (baseline), calls/s`, dc);
      row(`governed payments.get_order, ${CLIENTS} clients, calls/s`, gc, { ratio: gc / dc });
    } finally {
      await server?.close();
      await engine?.close();
      await payments.close();
      await cleanup();
    }
  }
  return results;
}
