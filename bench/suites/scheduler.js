// Workflow scheduler: what waiting runs cost the runs that have work. With 0, 1,000 and 10,000 runs waiting for a
// signal (only an outside event moves them), on each backend: the cost of one tick that finds nothing due, and a new
// run's time to its first step (start → the first `run.step_completed` on the event bus), against the figure with
// none waiting measured in the same run (the ratio). Waiting runs are one real run waiting for its signal, copied in
// SQL (row and history), so seeding 10,000 takes seconds; each copy is exactly a run waiting for the same signal.
import { performance } from 'node:perf_hooks';
import { backends, fmt, latencies } from '../harness.js';

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
import { defineWorkflow } from '@autonomy-os/core';
import { openAosLeg } from '../aos-workflow-leg.js';
import { runInput, startNoop } from '../workflow-workload.js';

export const name = 'scheduler';

const waitForSignal = defineWorkflow({
  name: 'bench-wait',
  version: 1,
  owner: 'owner',
  input: { type: 'object' },
  steps: { hold: { kind: 'wait', event: 'go' } },
});

/** Copies the waiting run `runId` until `total` runs wait (its row and its history, in SQL). */
async function fillWaiting(db, runId, total, have) {
  const n = total - have;
  if (n <= 0) return;
  const series = 'WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ?)';
  const cols =
    'workflow, version, definition_hash, definition_json, owner, status, input_json, output_json, error_json, ' +
    'created_by, created_at, updated_at, lease_owner, lease_until, priority, wake_at';
  const rcols = cols.replaceAll(/(\w+)/g, 'r.$1');
  await db.tx(async (tx) => {
    await tx.run(
      `INSERT INTO workflow_runs (id, ${cols}) ${series}
       SELECT r.id || '_c${have}_' || n.i, ${rcols} FROM n, workflow_runs r WHERE r.id = ?`,
      [n, runId],
    );
    await tx.run(
      `INSERT INTO workflow_events (run_id, seq, type, step_id, attempt, data_json, at) ${series}
       SELECT e.run_id || '_c${have}_' || n.i, e.seq, e.type, e.step_id, e.attempt, e.data_json, e.at
       FROM n, workflow_events e WHERE e.run_id = ?`,
      [n, runId],
    );
  });
}

export async function run({ quick }) {
  // Seeding is SQL, so even quick mode measures the full counts, with fewer samples.
  const levels = [0, 1000, 10_000];
  const ticks = quick ? 20 : 100;
  const starts = quick ? 5 : 20;
  const results = [];
  const upstream = await startNoop();
  try {
    for (const backend of await backends()) {
      const { store, cleanup } = await backend.open();
      try {
        const leg = await openAosLeg(store, upstream.url, [waitForSignal]);
        const { engine } = leg;
        // Runs are started by a human who may manage them: the workflows' pinned owner.
        const owner = await store.humans.require('owner');
        try {
          const first = await engine.workflows.start('bench-wait', {}, owner);
          await engine.workflows.drain();
          let have = 1;
          let next = 0;
          // Warm up (JIT, statement caches) so the figure with none waiting is not the first run's.
          for (let i = 0; i < 3; i++) {
            await engine.workflows.start('bench-steps', runInput(next++), owner);
            await engine.workflows.drain();
          }
          const base = {};
          for (const waiting of levels) {
            await fillWaiting(store.db, first.id, Math.max(waiting, 1), have);
            have = Math.max(waiting, 1);
            const tickMs = (await latencies(ticks, () => engine.workflows.tick())).p50 / 1000;
            const samples = [];
            for (let k = 0; k < starts; k++) {
              const t0 = performance.now();
              let id;
              let at;
              const off = engine.events.subscribe((e) => {
                if (e.type === 'run.step_completed' && e.data.runId === id) at ??= performance.now();
              });
              try {
                id = (await engine.workflows.start('bench-steps', runInput(next++), owner)).id;
                for (let i = 0; i < 50 && at === undefined; i++) await engine.workflows.tick();
              } finally {
                off();
              }
              if (at === undefined) throw new Error(`scheduler: run ${id} made no step in 50 ticks`);
              await engine.workflows.drain();
              if ((await engine.workflows.get(id)).status !== 'completed')
                throw new Error(`scheduler: run ${id} did not complete`);
              samples.push(at - t0);
            }
            const firstMs = median(samples);
            base.tick ??= tickMs;
            base.first ??= firstMs;
            const note = `${fmt(waiting, 0)} runs waiting for a signal`;
            results.push({
              suite: name,
              backend: backend.name,
              metric: `tick p50 ms, ${fmt(waiting, 0)} waiting`,
              value: tickMs,
              ...(waiting ? { ratio: tickMs / base.tick } : {}),
              note: `${note}; ${ticks} ticks with nothing due`,
            });
            results.push({
              suite: name,
              backend: backend.name,
              metric: `time to first step p50 ms, ${fmt(waiting, 0)} waiting`,
              value: firstMs,
              ...(waiting ? { ratio: firstMs / base.first } : {}),
              note: `${note}; ${starts} new runs, start → first step completed`,
            });
          }
        } finally {
          await leg.close();
        }
      } finally {
        await cleanup();
      }
    }
  } finally {
    await upstream.close();
  }
  return results;
}
