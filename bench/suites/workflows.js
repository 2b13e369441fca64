// Durable workflows: workflow steps per second, Autonomy OS on SQLite and on PostgreSQL, against DBOS Transact on the
// same PostgreSQL as the peer baseline, measured in the same run. The workload (bench/workflow-workload.js): runs of
// 5 steps, 3 rule agents then 2 calls of a no-op tool on a real HTTP upstream on 127.0.0.1, one run after another on
// one node. Runs are split into ROUNDS blocks, the three legs taking turns block by block, so drift on a busy machine
// hits them alike. Every block is checked after its timing: each run completed, and the upstream received exactly
// two calls per run. A second row per backend runs the same workload CONCURRENT runs at a time (all started at
// once, then advanced together by one node: `claimLimit` and `advanceConcurrency` of CONCURRENT), on a store of its own, its
// baseline the one-at-a-time figure of the same backend in the same run.
import { ROUNDS, backends, fmt, pgUrlOnce, seconds } from '../harness.js';
import { openAosLeg } from '../aos-workflow-leg.js';
import { openDbosLeg } from '../dbos-workflow-leg.js';
import { STEPS_PER_RUN, startNoop } from '../workflow-workload.js';

export const name = 'workflows';

const CALLS_PER_RUN = 2;
/** Runs in flight at once in the concurrent rows. */
const CONCURRENT = 100;

export async function run({ quick }) {
  const runs = quick ? 20 : 300; // per leg (a multiple of ROUNDS)
  const warmup = quick ? 3 : 20;
  const block = runs / ROUNDS;
  const results = [];
  const row = (backend, metric, value, extra = {}) =>
    results.push({ suite: name, backend, metric, value, ...extra });

  const upstream = await startNoop();
  const legs = [];
  const closers = [];
  try {
    for (const backend of await backends()) {
      const { store, cleanup } = await backend.open();
      closers.push(cleanup);
      const leg = await openAosLeg(store, upstream.url);
      closers.push(() => leg.close());
      legs.push({ system: 'Autonomy OS', backend: backend.name, leg });
      const own = await backend.open();
      closers.push(own.cleanup);
      const wide = await openAosLeg(own.store, upstream.url, [], {
        claimLimit: CONCURRENT,
        advanceConcurrency: CONCURRENT,
      });
      closers.push(() => wide.close());
      legs.push({ system: 'Autonomy OS', backend: backend.name, leg: wide, concurrent: true });
    }
    const pgUrl = await pgUrlOnce();
    let dbosError;
    if (pgUrl) {
      try {
        const leg = await openDbosLeg(pgUrl, upstream.url);
        closers.push(() => leg.close());
        legs.push({ system: 'DBOS Transact', backend: 'postgres', leg, baseline: true });
      } catch (err) {
        dbosError = err;
      }
    }

    // Runs the leg's next `n` runs, timed; then checks them and the upstream's count (not timed).
    let next = 0;
    const runBlock = async (l, n) => {
      const before = upstream.calls();
      const { seconds: sec, out: ids } = await seconds(() =>
        l.concurrent ? l.leg.concurrently(n, next) : l.leg.runs(n, next),
      );
      next += n;
      await l.leg.check(ids);
      const calls = upstream.calls() - before;
      if (calls !== n * CALLS_PER_RUN)
        throw new Error(`${l.system} on ${l.backend}: upstream got ${calls} calls for ${n} runs`);
      return sec;
    };
    // A concurrent leg runs CONCURRENT runs a block (quick: one block, else one a round).
    const wideRounds = quick ? 1 : ROUNDS;
    for (const l of legs) await runBlock(l, l.concurrent ? CONCURRENT : warmup);
    for (const l of legs) l.seconds = 0;
    for (let r = 0; r < ROUNDS; r++) {
      for (const l of legs) {
        if (!l.concurrent) l.seconds += await runBlock(l, block);
        else if (r < wideRounds) l.seconds += await runBlock(l, CONCURRENT);
      }
    }

    const runsOf = (l) => (l.concurrent ? wideRounds * CONCURRENT : runs);
    const stepsPerSecond = (l) => (runsOf(l) * STEPS_PER_RUN) / l.seconds;
    const base = legs.find((l) => l.baseline);
    const note = `${runs} runs × ${STEPS_PER_RUN} steps, one run at a time`;
    if (base) {
      row('postgres', 'DBOS Transact workflow steps/s (baseline)', stepsPerSecond(base), {
        note: `${note}; ${fmt(runs / base.seconds, 1)} runs/s`,
      });
    } else {
      row('postgres', 'DBOS Transact workflow steps/s (baseline)', 'skipped', {
        note: dbosError
          ? `DBOS baseline failed: ${String(dbosError.message ?? dbosError).slice(0, 200)}`
          : 'PostgreSQL did not answer',
      });
    }
    for (const l of legs.filter((x) => !x.baseline && !x.concurrent)) {
      row(l.backend, 'Autonomy OS workflow steps/s', stepsPerSecond(l), {
        ...(base ? { ratio: stepsPerSecond(l) / stepsPerSecond(base) } : {}),
        note: `${note}; ${fmt(runs / l.seconds, 1)} runs/s`,
      });
    }
    for (const l of legs.filter((x) => x.concurrent)) {
      const single = legs.find((x) => !x.concurrent && !x.baseline && x.backend === l.backend);
      row(l.backend, `Autonomy OS workflow steps/s, ${CONCURRENT} runs at once`, stepsPerSecond(l), {
        ratio: stepsPerSecond(l) / stepsPerSecond(single),
        note: `${runsOf(l)} runs × ${STEPS_PER_RUN} steps, ${CONCURRENT} concurrent runs; baseline: one at a time on ${l.backend}; ${fmt(runsOf(l) / l.seconds, 1)} runs/s`,
      });
    }
    if (!legs.some((l) => l.backend === 'postgres' && !l.baseline))
      row('postgres', 'Autonomy OS workflow steps/s', 'skipped', { note: 'PostgreSQL did not answer' });
  } finally {
    for (const close of closers.reverse()) await close();
    await upstream.close();
  }
  return results;
}
