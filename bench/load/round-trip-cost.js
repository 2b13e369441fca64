// What one round trip to PostgreSQL costs the caller's CPU on this machine, after the server has been idle for a
// while and after none: `node bench/load/round-trip-cost.js [queries]` (AOS_BENCH_DATABASE_URL or the local test
// database). Each query waits first (a timer, or spinning so this process never sleeps), then `SELECT $1::int`
// alone on one connection; the figure is this process's CPU time (user + system) for the query itself. On a VM
// whose idle virtual CPUs halt, waking the server (and being woken) costs far more than the query: that cost is
// part of every governed call's round trips, and of the bare proxy's too.
import { performance } from 'node:perf_hooks';
import pg from 'pg';

const url = process.env.AOS_BENCH_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const n = Number(process.argv[2] ?? 500);
const client = new pg.Client({ connectionString: url });
await client.connect();
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
try {
  for (let i = 0; i < 50; i++) await client.query('SELECT 1');
  for (const [gapMs, how] of [
    [0, 'none'],
    [1, 'timer'],
    [3, 'timer'],
    [3, 'spin'],
    [10, 'timer'],
  ]) {
    let cpu = 0;
    let wall = 0;
    for (let i = 0; i < n; i++) {
      if (how === 'timer') await sleep(gapMs);
      else if (how === 'spin') for (const until = performance.now() + gapMs; performance.now() < until;);
      const c0 = process.cpuUsage();
      const t0 = performance.now();
      await client.query('SELECT $1::int AS x', [i]);
      wall += performance.now() - t0;
      const c = process.cpuUsage(c0);
      cpu += c.user + c.system;
    }
    const gap =
      gapMs === 0 ? 'back to back' : `after ${gapMs} ms (${how === 'spin' ? 'spinning' : 'sleeping'})`;
    process.stdout.write(
      `${gap.padEnd(26)} caller CPU ${(cpu / n).toFixed(0).padStart(5)} µs, wall ${((wall * 1000) / n).toFixed(0).padStart(5)} µs a round trip\n`,
    );
  }
} finally {
  await client.end();
}
