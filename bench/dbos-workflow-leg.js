// The peer baseline of the workflows suite: the same workload (bench/workflow-workload.js) on DBOS Transact
// (@dbos-inc/dbos-sdk), a durable workflow library on PostgreSQL. One DBOS workflow of 5 `DBOS.runStep` steps: the
// same three rule functions, then the same no-op call (fetch POST, keep-alive) twice. DBOS checkpoints each step's
// output in its system tables, here in a fresh schema of the bench PostgreSQL database, dropped afterwards.
import crypto from 'node:crypto';
import { DBOS } from '@dbos-inc/dbos-sdk';
import pg from 'pg';
import { rules, runInput } from './workflow-workload.js';

const { fetch } = globalThis; // Node's built-in fetch (undici), keep-alive by default

/**
 * Launches DBOS on `pgUrl` (schema `dbos_bench_<random>`) with the workload registered, the no-op tool at
 * `upstreamUrl`. Answers `{ runs(n, from) → completes n runs, close() }`. DBOS is a process-wide singleton:
 * one leg a process.
 */
export async function openDbosLeg(pgUrl, upstreamUrl) {
  const ping = async (body) => {
    const res = await fetch(`${upstreamUrl}/ping`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
    const out = await res.json();
    if (!res.ok) throw new Error(`no-op tool: HTTP ${res.status}`);
    return out;
  };
  const benchSteps = DBOS.registerWorkflow(
    async (input) => {
      const classified = await DBOS.runStep(async () => rules['bench-classify']({ input }), {
        name: 'classify',
      });
      const checked = await DBOS.runStep(async () => rules['bench-check']({ input: classified }), {
        name: 'check',
      });
      const scored = await DBOS.runStep(async () => rules['bench-score']({ input: checked }), {
        name: 'score',
      });
      await DBOS.runStep(() => ping({ id: input.id, n: 1, score: scored.score }), { name: 'ping1' });
      await DBOS.runStep(() => ping({ id: input.id, n: 2, score: scored.score }), { name: 'ping2' });
      return scored;
    },
    { name: 'benchSteps' },
  );
  const schema = `dbos_bench_${crypto.randomBytes(5).toString('hex')}`;
  DBOS.setConfig({
    name: 'aos-bench',
    applicationVersion: 'bench',
    systemDatabaseUrl: pgUrl,
    systemDatabaseSchemaName: schema,
    logLevel: 'error',
  });
  const dropSchema = async () => {
    const c = new pg.Client({ connectionString: pgUrl });
    await c.connect();
    try {
      await c.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
    } finally {
      await c.end();
    }
  };
  try {
    await DBOS.launch();
  } catch (err) {
    // Leave nothing behind: the suite reports the failure and goes on without the baseline.
    await DBOS.shutdown({ deregister: true }).catch(() => undefined);
    await dropSchema().catch(() => undefined);
    throw err;
  }
  return {
    /** Runs `from … from+n-1`, one after another, each to completion; answers their workflow ids. */
    async runs(n, from) {
      const ids = new Set();
      for (let i = from; i < from + n; i++) {
        const handle = await DBOS.startWorkflow(benchSteps)(runInput(i));
        await handle.getResult();
        ids.add(handle.workflowID);
      }
      return ids;
    },
    /** Throws unless every workflow of `ids` is recorded as a success (outside the timed part). */
    async check(ids) {
      for (const id of ids) {
        const status = await DBOS.getWorkflowStatus(id);
        if (status?.status !== 'SUCCESS') throw new Error(`dbos: workflow ${id} is ${status?.status}`);
      }
    },
    async close() {
      await DBOS.shutdown({ deregister: true });
      await dropSchema();
    },
  };
}
