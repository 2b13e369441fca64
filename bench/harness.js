// Shared benchmark plumbing: timing, percentiles, backends, and the result table.
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { openStore } from '@autonomy-os/core';

/** Runs fn `n` times (awaited in sequence) and answers operations per second. */
export async function opsPerSecond(n, fn) {
  const start = process.hrtime.bigint();
  for (let i = 0; i < n; i++) await fn(i);
  const sec = Number(process.hrtime.bigint() - start) / 1e9;
  return n / sec;
}

/** Times each of `n` calls; answers { p50, p99, mean } in microseconds and calls/s. */
export async function latencies(n, fn) {
  const samples = new Float64Array(n);
  const start = process.hrtime.bigint();
  for (let i = 0; i < n; i++) {
    const t0 = process.hrtime.bigint();
    await fn(i);
    samples[i] = Number(process.hrtime.bigint() - t0) / 1e3;
  }
  const total = Number(process.hrtime.bigint() - start) / 1e9;
  return summarize(samples, total);
}

/** Times each of `n` synchronous calls (no await between them); answers { p50, p99, mean } in µs and calls/s. */
export function latenciesSync(n, fn) {
  const samples = new Float64Array(n);
  const start = process.hrtime.bigint();
  for (let i = 0; i < n; i++) {
    const t0 = process.hrtime.bigint();
    fn(i);
    samples[i] = Number(process.hrtime.bigint() - t0) / 1e3;
  }
  const total = Number(process.hrtime.bigint() - start) / 1e9;
  return summarize(samples, total);
}

/** Runs `n` calls from `clients` concurrent loops (each awaits its own calls in sequence); answers calls/s. */
export async function concurrentPerSecond(n, clients, fn) {
  let next = 0;
  const start = process.hrtime.bigint();
  await Promise.all(
    Array.from({ length: clients }, async () => {
      while (next < n) await fn(next++);
    }),
  );
  return n / (Number(process.hrtime.bigint() - start) / 1e9);
}

/** p50, p99 and mean (µs) of latency samples, and calls/s over `totalSec`. */
export function summarize(samples, totalSec) {
  const n = samples.length;
  samples.sort();
  const at = (q) => samples[Math.min(n - 1, Math.floor(q * n))];
  return {
    p50: at(0.5),
    p99: at(0.99),
    mean: samples.reduce((a, b) => a + b, 0) / n,
    perSecond: n / totalSec,
  };
}

/** Seconds a single call takes. */
export async function seconds(fn) {
  const t0 = process.hrtime.bigint();
  const out = await fn();
  return { seconds: Number(process.hrtime.bigint() - t0) / 1e9, out };
}

const DEFAULT_PG = 'postgres://postgres@127.0.0.1:5432/test';

/** The PostgreSQL URL to measure: AOS_BENCH_DATABASE_URL, the test URL, or the local default if it answers. */
export async function benchPgUrl() {
  const url = process.env.AOS_BENCH_DATABASE_URL ?? process.env.AOS_TEST_DATABASE_URL ?? DEFAULT_PG;
  const c = new pg.Client({ connectionString: url, connectionTimeoutMillis: 2000 });
  try {
    await c.connect();
    await c.end();
    return url;
  } catch {
    process.stderr.write(
      `bench: PostgreSQL at ${url.replace(/\/\/[^@]*@/, '//***@')} did not answer; measuring SQLite only\n`,
    );
    return undefined;
  }
}

let pgUrlPromise;

/** The PostgreSQL URL the suites measure, asked once a process (see benchPgUrl); undefined when none answers. */
export function pgUrlOnce() {
  pgUrlPromise ??= benchPgUrl();
  return pgUrlPromise;
}

/** The storage backends to measure: SQLite always, PostgreSQL when one answers (see benchPgUrl). */
export async function backends() {
  const pgUrl = await pgUrlOnce();
  const list = [
    {
      name: 'sqlite',
      async open() {
        const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'aos-bench-'));
        const store = await openStore({ dataDir });
        return {
          store,
          cleanup: async () => {
            await store.close();
            fs.rmSync(dataDir, { recursive: true, force: true });
          },
        };
      },
    },
  ];
  if (pgUrl) {
    list.push({
      name: 'postgres',
      async open() {
        const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'aos-bench-'));
        const schema = `aos_bench_${crypto.randomBytes(5).toString('hex')}`;
        const store = await openStore({ dataDir, databaseUrl: pgUrl, schema });
        return {
          store,
          cleanup: async () => {
            await store.close();
            const c = new pg.Client({ connectionString: pgUrl });
            await c.connect();
            await c.query(`DROP SCHEMA ${schema} CASCADE`);
            await c.end();
            fs.rmSync(dataDir, { recursive: true, force: true });
          },
        };
      },
    });
  }
  return list;
}

/** Formats a number for the table. */
export function fmt(v, digits = 1) {
  if (typeof v !== 'number') return String(v);
  if (Math.abs(v) >= 1000) return Math.round(v).toLocaleString('en-US');
  return v.toFixed(digits);
}

/** Rounds each measurement is split into, alternating baseline and governed calls. */
export const ROUNDS = 10;

/** Times `n` calls of each of `a` and `b`, alternating blocks of n/ROUNDS; answers a summary for each. */
export async function interleaved(n, a, b) {
  const samples = [new Float64Array(n), new Float64Array(n)];
  const seconds = [0, 0];
  const block = Math.ceil(n / ROUNDS);
  for (let start = 0; start < n; start += block) {
    for (const [k, fn] of [a, b].entries()) {
      for (let i = start; i < Math.min(n, start + block); i++) {
        const t0 = process.hrtime.bigint();
        await fn(i);
        const us = Number(process.hrtime.bigint() - t0) / 1e3;
        samples[k][i] = us;
        seconds[k] += us / 1e6;
      }
    }
  }
  return samples.map((s, k) => summarize(s, seconds[k]));
}
