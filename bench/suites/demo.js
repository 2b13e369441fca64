// The demo's start-up: seconds from spawning `aos demo --json` (fresh data, SQLite and PostgreSQL) to its start-up
// line (accepting requests) and to the first governed action in the action log, against the baseline of spawning
// `aos --version` (Node start-up plus loading the CLI) measured in the same run. Every sample is checked: the first
// action is one the scenario expects (the first invoice's posting, allowed by policy).
import { spawn } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { pgUrlOnce } from '../harness.js';

export const name = 'demo';

const { fetch } = globalThis; // Node's built-in fetch

const AOS = fileURLToPath(new URL('../../packages/cli/dist/main.js', import.meta.url));

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

/** Seconds from spawning `aos --version` to its exit. */
function versionSeconds() {
  return new Promise((resolve, reject) => {
    const t0 = process.hrtime.bigint();
    const child = spawn(process.execPath, [AOS, '--version'], { stdio: 'ignore' });
    child.on('error', reject);
    child.on('exit', (code) =>
      code === 0 ? resolve(Number(process.hrtime.bigint() - t0) / 1e9) : reject(new Error(`exit ${code}`)),
    );
  });
}

/** One fresh demo: seconds to its start-up line and to its first governed action; then it is stopped. */
async function demoSample(databaseUrl) {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'aos-bench-demo-'));
  const args = ['--data', dataDir, 'demo', '--json', '--port', '0', '--interval-ms', '0', '--limit', '1'];
  if (databaseUrl) args.push('--database-url', databaseUrl);
  const t0 = process.hrtime.bigint();
  const since = () => Number(process.hrtime.bigint() - t0) / 1e9;
  const child = spawn(process.execPath, [AOS, ...args], {
    env: { ...process.env, AOS_DATABASE_URL: '', AOS_DATA: '' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const exited = new Promise((r) => child.on('exit', r));
  try {
    const line = await new Promise((resolve, reject) => {
      let out = '';
      let err = '';
      child.stderr.on('data', (d) => (err += d));
      child.stdout.on('data', (d) => {
        out += d;
        const nl = out.indexOf('\n');
        if (nl >= 0) resolve(JSON.parse(out.slice(0, nl)));
      });
      void exited.then((code) => reject(new Error(`aos demo exited ${code}: ${err}`)));
    });
    const ready = since();
    const deadline = Date.now() + 60_000;
    for (;;) {
      const res = await fetch(`${line.url}/v1/actions?limit=1`, {
        headers: { authorization: `Bearer ${line.adminToken}` },
      });
      const { actions } = await res.json();
      if (actions.length) {
        const first = actions[0];
        if (first.tool !== 'erp.post_invoice' || first.outcome !== 'allowed')
          throw new Error(`first action is ${first.tool} (${first.outcome}), not the allowed first posting`);
        return { ready, firstAction: since() };
      }
      if (Date.now() > deadline) throw new Error('no governed action within 60 s');
      await new Promise((r) => setTimeout(r, 20));
    }
  } finally {
    child.kill('SIGTERM');
    await exited;
    fs.rmSync(dataDir, { recursive: true, force: true });
  }
}

export async function run({ quick }) {
  const samples = quick ? 1 : 3;
  const results = [];
  const versions = [];
  for (let i = 0; i < samples; i++) versions.push(await versionSeconds());
  const baseline = median(versions);
  results.push({ suite: name, metric: 'aos --version, s (baseline)', value: baseline });
  const pgUrl = await pgUrlOnce();
  const legs = [{ backend: 'sqlite' }];
  if (pgUrl) legs.push({ backend: 'postgres', url: pgUrl });
  for (const leg of legs) {
    let url;
    const schema = `aos_bench_demo_${crypto.randomBytes(5).toString('hex')}`;
    if (leg.url) {
      const u = new URL(leg.url);
      u.searchParams.set('schema', schema);
      url = u.toString();
    }
    const ready = [];
    const first = [];
    try {
      for (let i = 0; i < samples; i++) {
        if (url) await dropSchema(leg.url, schema);
        const s = await demoSample(url);
        ready.push(s.ready);
        first.push(s.firstAction);
      }
    } finally {
      if (url) await dropSchema(leg.url, schema);
    }
    const r = median(ready);
    const f = median(first);
    results.push({
      suite: name,
      backend: leg.backend,
      metric: 'start-up to accepting requests, s',
      value: r,
      ratio: r / baseline,
    });
    results.push({
      suite: name,
      backend: leg.backend,
      metric: 'start-up to first governed action, s',
      value: f,
      ratio: f / baseline,
      note: `median of ${samples}; fresh data dir, upstreams and MCP servers started`,
    });
  }
  return results;
}

async function dropSchema(url, schema) {
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  try {
    await c.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
  } finally {
    await c.end();
  }
}
