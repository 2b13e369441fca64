// Memory: the process's peak RSS growth and V8 heap growth of an engine (the support-desk organisation on SQLite, payments upstream in
// this process) per 1,000 agents created and per 1,000 pending approvals (refunds over 100 that wait for finance).
// When gc is not exposed (`node --expose-gc bench/run.js`) the figures are taken without a forced collection and
// say so. No baseline: these are absolute, per 1,000.
import { setImmediate } from 'node:timers';
import { EnvSecretStore, createEngine } from '@autonomy-os/core';
import { backends } from '../harness.js';
import { PAYMENTS_KEY, startPayments, supportDeskConfig } from '../support-desk.js';

export const name = 'footprint';

const gc = globalThis.gc;

async function memory() {
  if (gc) {
    gc();
    await new Promise((r) => setImmediate(r));
    gc();
  }
  const m = process.memoryUsage();
  // RSS now goes down as well as up (the allocator hands pages back after a collection), so the difference of two
  // readings could come out negative; the peak (maxRSS, KiB) only grows: what the process needed at most.
  return { rss: process.resourceUsage().maxRSS * 1024, heap: m.heapUsed };
}

export async function run({ quick }) {
  const count = quick ? 100 : 1000;
  const results = [];
  const [sqlite] = await backends();
  const { store, cleanup } = await sqlite.open();
  const payments = await startPayments();
  let engine;
  try {
    const config = supportDeskConfig(payments.url, (raw) => {
      raw.budgets = [{ scope: 'role:support', period: 'day', calls: 10_000_000, cost: 100_000_000 }];
    });
    await store.humans.add({ id: 'fiona', groups: ['approvers:finance'] }, 'operator:bench');
    engine = await createEngine({
      store,
      config,
      secrets: new EnvSecretStore({ env: { AOS_SECRET_PAYMENTS_API_KEY: PAYMENTS_KEY } }),
    });
    await engine.start({ background: false });
    const agent = (id) => ({
      id,
      role: 'support',
      tier: 2,
      owner: 'fiona',
      environments: ['dev', 'staging'],
    });
    const m0 = await memory();
    for (let i = 0; i < count; i++) await store.agents.create(agent(`bot-${i}`), 'operator:bench');
    const m1 = await memory();
    for (let i = 0; i < count; i++) {
      const view = await engine.actions.submit(agent(`bot-${i % 50}`), {
        tool: 'payments.refund',
        input: { orderId: `o-${i}`, amount: 250, note: 'damaged' },
      });
      if (view.outcome !== 'pending_approval') throw new Error(`footprint: refund ${view.outcome}`);
    }
    const m2 = await memory();
    const per = (a, b, key) => ((b[key] - a[key]) / count) * 1000;
    const mb = (bytes) => bytes / 2 ** 20;
    const note = `${count} created${gc ? '' : '; gc not exposed (node --expose-gc), so noisy'}`;
    const row = (metric, value) => results.push({ suite: name, backend: sqlite.name, metric, value, note });
    row('peak RSS growth per 1,000 agents, MiB', mb(per(m0, m1, 'rss')));
    row('heap per 1,000 agents, MiB', mb(per(m0, m1, 'heap')));
    row('peak RSS growth per 1,000 pending approvals, MiB', mb(per(m1, m2, 'rss')));
    row('heap per 1,000 pending approvals, MiB', mb(per(m1, m2, 'heap')));
  } finally {
    await engine?.close();
    await payments.close();
    await cleanup();
  }
  return results;
}
