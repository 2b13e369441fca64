// Counts what one workflow step costs the store: statements (round trips) and transactions per step on each
// backend, grouped by statement, for the workload of the workflows suite. A diagnostic, not a suite:
// `node bench/workflow-trace.js [runs]` after `npm run build`. Wraps the pg client and SQLite driver from outside.
import pg from 'pg';
import { backends } from './harness.js';
import { openAosLeg } from './aos-workflow-leg.js';
import { STEPS_PER_RUN, startNoop } from './workflow-workload.js';

const runs = Number(process.argv[2] ?? 20);
const counts = new Map();
const times = new Map();
let total = 0;
let on = false;
const origQuery = pg.Client.prototype.query;
pg.Client.prototype.query = function (q, ...rest) {
  if (on) {
    const text = (typeof q === 'string' ? q : q.text).replace(/\s+/g, ' ').slice(0, 110);
    counts.set(text, (counts.get(text) ?? 0) + 1);
    total++;
    const t0 = process.hrtime.bigint();
    const out = origQuery.call(this, q, ...rest);
    if (out && typeof out.then === 'function')
      out.then(
        () => times.set(text, (times.get(text) ?? 0) + Number(process.hrtime.bigint() - t0) / 1e6),
        () => undefined,
      );
    return out;
  }
  return origQuery.call(this, q, ...rest);
};

const upstream = await startNoop();
for (const backend of await backends()) {
  if (backend.name !== 'postgres') continue;
  const { store, cleanup } = await backend.open();
  const leg = await openAosLeg(store, upstream.url);
  await leg.runs(3, 0);
  counts.clear();
  times.clear();
  total = 0;
  on = true;
  const t0 = process.hrtime.bigint();
  const ids = await leg.runs(runs, 1000);
  const sec = Number(process.hrtime.bigint() - t0) / 1e9;
  on = false;
  await leg.check(ids);
  const steps = runs * STEPS_PER_RUN;
  console.log(
    `${backend.name}: ${runs} runs, ${steps} steps in ${sec.toFixed(2)} s (${(steps / sec).toFixed(1)} steps/s)`,
  );
  console.log(
    `${total} statements, ${(total / steps).toFixed(1)} per step; BEGINs ${([...counts].filter(([t]) => t.startsWith('BEGIN')).reduce((a, [, n]) => a + n, 0) / steps).toFixed(2)} per step`,
  );
  console.log(`time in statements: ${([...times.values()].reduce((a, b) => a + b, 0) / 1000).toFixed(2)} s`);
  for (const [t, n] of [...counts].sort((a, b) => b[1] - a[1]))
    console.log(
      `${(n / steps).toFixed(2).padStart(6)} ${((times.get(t) ?? 0) / n).toFixed(2).padStart(7)}ms  ${t}`,
    );
  await leg.close();
  await cleanup();
}
await upstream.close();
