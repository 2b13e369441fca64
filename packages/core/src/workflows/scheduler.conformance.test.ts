import { pino } from 'pino';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { backends } from '../../../../test/helpers/backends.js';
import type { TestStore } from '../../../../test/helpers/backends.js';
import { invoicesConfig, invoicesEngine, seedInvoices, startErp } from '../../../../test/helpers/invoices.js';
import type { Erp } from '../../../../test/helpers/invoices.js';
import type { Engine } from '../engine.js';
import type { Human } from '../identity/humans.js';
import type { Db, Executor } from '../store/db.js';
import type { Store } from '../store/open-store.js';
import { parseWorkflow } from './definition.js';
import { ADA } from '../../../../test/helpers/people.js';

const doc = (id: string, total: number) => ({
  invoiceId: id,
  document: { number: id, vendor: 'acme', total, currency: 'EUR' },
});

/** Counts the statements that read a run's history (`workflow_events`), inside transactions too. */
function countingDb(db: Db): { db: Db; reads: () => number } {
  let reads = 0;
  const count = (sql: string) => {
    if (/FROM\s+workflow_events/i.test(sql)) reads++;
  };
  const wrap = <T extends Executor>(ex: T): T =>
    new Proxy(ex, {
      get(target, prop, receiver) {
        const v = Reflect.get(target, prop, receiver) as unknown;
        if (prop === 'all' || prop === 'get' || prop === 'run')
          return (sql: string, params?: unknown[]) => {
            count(sql);
            return (v as (s: string, p?: unknown[]) => unknown).call(target, sql, params);
          };
        if (prop === 'tx') return <R>(fn: (tx: Executor) => Promise<R>) => db.tx((tx) => fn(wrap(tx)));
        return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(target) : v;
      },
    });
  return { db: wrap(db), reads: () => reads };
}

/**
 * Copies a waiting run `n` times in SQL (its row and its history), so a test has thousands of waiting runs without
 * driving each through the engine. Each copy is exactly the run's state: a real run waiting for the same thing.
 */
async function cloneRun(db: Db, runId: string, n: number): Promise<void> {
  const series = 'WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ?)';
  const cols =
    'workflow, version, definition_hash, definition_json, owner, status, input_json, output_json, error_json, ' +
    'created_by, created_at, updated_at, lease_owner, lease_until, priority, wake_at';
  await db.tx(async (tx) => {
    await tx.run(
      `INSERT INTO workflow_runs (id, ${cols}) ${series}
       SELECT r.id || '_c' || n.i, ${cols.replaceAll(/(\w+)/g, 'r.$1')} FROM n, workflow_runs r WHERE r.id = ?`,
      [n, runId],
    );
    await tx.run(
      `INSERT INTO workflow_events (run_id, seq, type, step_id, attempt, data_json, at) ${series}
       SELECT e.run_id || '_c' || n.i, e.seq, e.type, e.step_id, e.attempt, e.data_json, e.at
       FROM n, workflow_events e WHERE e.run_id = ?`,
      [n, runId],
    );
  });
}

describe.each(backends)('workflow scheduler on $name', (backend) => {
  let t: TestStore;
  let erp: Erp;
  let engine: Engine;
  const others: { engine: Engine; store: Store }[] = [];
  const human = (id: string) => t.store.humans.require(id) as Promise<Human>;

  beforeEach(async (ctx) => {
    if (!backend.enabled) return ctx.skip();
    t = await backend.create();
    erp = await startErp();
    await seedInvoices(t);
    engine = await invoicesEngine(t.store, invoicesConfig(erp.url));
  });
  afterEach(async () => {
    for (const o of others.splice(0)) {
      await o.engine.close();
      await o.store.close();
    }
    await engine?.close();
    await erp?.close();
    await t?.cleanup();
  });

  /** `n` big invoices waiting for finance's approval, started through the engine. */
  async function waitingRuns(n: number, on: Engine[] = [engine]): Promise<string[]> {
    const ids: string[] = [];
    for (let i = 0; i < n; i++) {
      const e = on[i % on.length] as Engine;
      ids.push((await e.workflows.start('invoice-approval', doc(`big-${i}`, 5000), ADA)).id);
    }
    for (const e of on) await e.workflows.drain(1000);
    return ids;
  }

  it('a new small run completes while 25 older runs wait for approval', async () => {
    for (let i = 0; i < 25; i++) await engine.workflows.start('invoice-approval', doc(`big-${i}`, 5000), ADA);
    await engine.workflows.drain();
    const small = await engine.workflows.start('invoice-approval', doc('small-1', 250), ADA);
    for (let i = 0; i < 30; i++) await engine.workflows.tick();
    expect((await engine.workflows.get(small.id)).status).toBe('completed');
  });

  it('a new small run completes while 2,000 older runs wait for approval', async () => {
    const [first] = await waitingRuns(1);
    await cloneRun(t.store.db, first as string, 1999);
    const small = await engine.workflows.start('invoice-approval', doc('small-1', 250), ADA);
    for (let i = 0; i < 30; i++) await engine.workflows.tick();
    expect((await engine.workflows.get(small.id)).status).toBe('completed');
    expect((await engine.workflows.list({ status: 'running', limit: 1000 })).length).toBe(1000);
  });

  it('every run of a batch of 30 reaches its approval, none starved by the others', async () => {
    const ids = await waitingRuns(30);
    for (const id of ids) expect((await engine.workflows.get(id)).steps.approve?.status).toBe('waiting');
  });

  it('an approval decided wakes its run at once, past the runs still waiting', async () => {
    const ids = await waitingRuns(25);
    const last = ids[24] as string;
    await engine.workflows.decide({
      runId: last,
      stepId: 'approve',
      human: await human('frank'),
      vote: 'approve',
    });
    for (let i = 0; i < 10; i++) await engine.workflows.tick();
    expect((await engine.workflows.get(last)).status).toBe('completed');
    expect((await engine.workflows.get(ids[0] as string)).status).toBe('running');
  });

  it('with 10,000 runs waiting, a tick reads no waiting run’s history', async () => {
    const [first] = await waitingRuns(1);
    await cloneRun(t.store.db, first as string, 9999);
    const counted = countingDb(t.store.db);
    const node = await invoicesEngine({ ...t.store, db: counted.db }, invoicesConfig(erp.url));
    others.push({ engine: node, store: await t.reopen() });
    const before = counted.reads();
    expect(await node.workflows.tick()).toBe(0);
    expect(await node.workflows.tick(Date.now() + 60_000)).toBe(0);
    expect(counted.reads() - before).toBe(0);
    // A new run is read (it has work), and only it.
    const small = await node.workflows.start('invoice-approval', doc('small-1', 250), ADA);
    const runReads = counted.reads();
    await node.workflows.tick();
    expect(counted.reads()).toBeGreaterThan(runReads);
    for (let i = 0; i < 10; i++) await node.workflows.tick();
    expect((await node.workflows.get(small.id)).status).toBe('completed');
  });

  it('a timed wait sleeps until its wake time, unread, then completes', async () => {
    const nap = parseWorkflow({
      name: 'nap',
      version: '1',
      owner: 'fiona',
      input: { type: 'object' },
      steps: { nap: { kind: 'wait', for: '1s' } },
    });
    const store = await t.reopen();
    const e = await invoicesEngine(store, invoicesConfig(erp.url), {}, { workflows: [nap] });
    others.push({ engine: e, store });
    const run = await e.workflows.start('nap', {}, ADA);
    await e.workflows.tick();
    const [row] = (await t.raw('SELECT wake_at FROM workflow_runs WHERE id = ?', [run.id])) as {
      wake_at: number | string;
    }[];
    const wakeAt = Number(row?.wake_at);
    expect(wakeAt).toBeGreaterThan(Date.now());
    expect(await e.workflows.tick()).toBe(0);
    await new Promise((r) => setTimeout(r, Math.max(0, wakeAt - Date.now()) + 20));
    expect(await e.workflows.tick()).toBe(1);
    expect((await e.workflows.get(run.id)).status).toBe('completed');
  });

  it('three nodes share 2,000 waiting runs and a new run completes on any of them', async (ctx) => {
    if (backend.name !== 'postgres') return ctx.skip();
    const nodes = [engine];
    for (let i = 0; i < 2; i++) {
      const store = await t.reopen();
      const e = await invoicesEngine(store, invoicesConfig(erp.url));
      others.push({ engine: e, store });
      nodes.push(e);
    }
    const firsts = await waitingRuns(3, nodes);
    for (const id of firsts) await cloneRun(t.store.db, id, 666);
    const small = await (nodes[1] as Engine).workflows.start('invoice-approval', doc('small-1', 250), ADA);
    for (let i = 0; i < 30; i++) await Promise.all(nodes.map((e) => e.workflows.tick()));
    expect((await engine.workflows.get(small.id)).status).toBe('completed');
    const [waiting] = (await t.raw(
      "SELECT COUNT(*) AS n FROM workflow_runs WHERE status = 'running' AND (wake_at IS NULL OR wake_at > ?)",
      [Date.now() + 86_400_000],
    )) as { n: number | string }[];
    expect(Number(waiting?.n)).toBe(2001);
  });

  it('holds a step paused by an intervention unread until the agent is resumed, then goes on', async () => {
    await t.store.agents.setStatus('poster', 'pause', 'human:ada');
    const run = await engine.workflows.start('invoice-approval', doc('small-1', 250), ADA);
    await engine.workflows.drain();
    expect((await engine.workflows.get(run.id)).steps.post?.pausedReason).toBe('intervention');
    const [row] = (await t.raw('SELECT wake_at, held FROM workflow_runs WHERE id = ?', [run.id])) as {
      wake_at: unknown;
      held: number | string;
    }[];
    expect(row?.wake_at).toBeNull();
    expect(Number(row?.held)).toBe(1);
    expect(await engine.workflows.tick(Date.now() + 3_600_000)).toBe(0);
    await t.store.agents.setStatus('poster', 'resume', 'human:ada');
    await engine.workflows.drain();
    expect((await engine.workflows.get(run.id)).status).toBe('completed');
  });

  it('wakes a step held by a kill switch when the switch is released', async () => {
    await engine.killSwitches.set({ scope: 'agent:poster', active: true }, 'human:ada');
    const run = await engine.workflows.start('invoice-approval', doc('small-1', 250), ADA);
    await engine.workflows.drain();
    expect((await engine.workflows.get(run.id)).steps.post?.pausedReason).toBe('intervention');
    expect(await engine.workflows.tick(Date.now() + 3_600_000)).toBe(0);
    await engine.killSwitches.set({ scope: 'agent:poster', active: false }, 'human:ada');
    await engine.workflows.drain();
    expect((await engine.workflows.get(run.id)).status).toBe('completed');
  });

  it('backs a failing run off exponentially, logs and counts each failure, and surfaces it to its owner', async () => {
    const lines: string[] = [];
    const logger = pino({ level: 'info' }, { write: (l: string) => void lines.push(l) });
    const store = await t.reopen();
    const e = await invoicesEngine(
      store,
      invoicesConfig(erp.url),
      {
        crash: (point) => {
          if (point === 'workflow.before-commit') throw new Error('the store is unavailable');
        },
      },
      { logger },
    );
    others.push({ engine: e, store });
    const run = await e.workflows.start('invoice-approval', doc('small-1', 250), ADA);
    const backoffs: number[] = [];
    let at = Date.now();
    for (let i = 0; i < 6; i++) {
      expect(await e.workflows.tick(at)).toBe(1);
      const [row] = (await t.raw(
        'SELECT wake_at, lease_until, advance_failures FROM workflow_runs WHERE id = ?',
        [run.id],
      )) as { wake_at: number | string; lease_until: number | string; advance_failures: number | string }[];
      expect(Number(row?.advance_failures)).toBe(i + 1);
      backoffs.push(Number(row?.wake_at) - Date.now());
      expect(await e.workflows.tick(Number(row?.wake_at) - 1)).toBe(0); // not before its back-off
      at = Math.max(Number(row?.wake_at), Number(row?.lease_until)) + 1;
    }
    // Each back-off at least doubles the one before (the lease, 30 s, then 60 s, 120 s ...).
    for (let i = 1; i < backoffs.length; i++)
      expect(backoffs[i]).toBeGreaterThan((backoffs[i - 1] as number) * 1.5);
    expect(e.backgroundErrors.counts()['workflows.advance']).toBe(6);
    const logged = lines.map((l) => JSON.parse(l) as { runId?: string; err?: { message: string } });
    expect(
      logged.filter((l) => l.runId === run.id && l.err?.message === 'the store is unavailable'),
    ).toHaveLength(6);
    const stalled = (await t.raw(
      "SELECT actor, payload FROM audit_log WHERE type = 'workflow.run_stalled' AND subject = ?",
      [`run:${run.id}`],
    )) as { actor: string; payload: string }[];
    expect(stalled).toHaveLength(1);
    expect(JSON.parse((stalled[0] as { payload: string }).payload)).toMatchObject({
      owner: 'fiona',
      failures: 5,
      error: { message: 'the store is unavailable' },
    });
  });
});
