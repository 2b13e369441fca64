import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { backends } from '../../../../test/helpers/backends.js';
import type { TestStore } from '../../../../test/helpers/backends.js';
import {
  coordinationEngine,
  overlapping,
  seedCoordination,
  startWorkUpstream,
  tickUntilDone,
  workWorkflow,
} from '../../../../test/helpers/coordination.js';
import type { WorkUpstream } from '../../../../test/helpers/coordination.js';
import type { Engine } from '../engine.js';
import type { Store } from '../store/open-store.js';
import { ADA } from '../../../../test/helpers/people.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe.each(backends)('resource leases on $name', (backend) => {
  let t: TestStore;
  let up: WorkUpstream;
  let config: Awaited<ReturnType<typeof seedCoordination>>;
  const engines: Engine[] = [];
  const stores: Store[] = [];

  const defs = [
    workWorkflow('low', {}, { lease: '"vendor:" & input.vendor' }),
    workWorkflow('high', { priority: 5 }, { lease: '"vendor:" & input.vendor' }),
    workWorkflow('patient', {}, { lease: '"vendor:" & input.vendor', escalate: { after: '1s', to: 'ops' } }),
  ];
  /** Two engines (nodes) on the same database, each claiming one run per tick so they work side by side. */
  const twoNodes = async (): Promise<[Engine, Engine]> => {
    // SQLite connections are synchronous: two in one process would block each other, so the SQLite leg shares one.
    const second = backend.name === 'postgres' ? await t.reopen() : t.store;
    if (second !== t.store) stores.push(second);
    engines.push(await coordinationEngine(t.store, config, defs, 1));
    engines.push(await coordinationEngine(second, config, defs, 1));
    return [engines[0] as Engine, engines[1] as Engine];
  };

  beforeEach(async (ctx) => {
    if (!backend.enabled) return ctx.skip();
    t = await backend.create();
    up = await startWorkUpstream();
    config = await seedCoordination(t, up.url);
  });
  afterEach(async () => {
    for (const e of engines.splice(0)) await e.close();
    for (const s of stores.splice(0)) await s.close();
    await up?.close();
    await t?.cleanup();
  });

  it('never runs two steps declaring the same lease key at once, across two nodes', async () => {
    const [a, b] = await twoNodes();
    const ids: string[] = [];
    for (const id of ['r1', 'r2', 'r3'])
      ids.push((await a.workflows.start('low', { id, vendor: 'acme' }, ADA)).id);
    expect(await tickUntilDone([a, b], ids)).toEqual(['completed', 'completed', 'completed']);
    expect(up.calls.map((c) => c.id).sort()).toEqual(['r1', 'r2', 'r3']);
    expect(overlapping(up.calls)).toBe(false);
    expect(await a.coordination.leases.list()).toEqual([]);
    expect(await a.coordination.leases.waiters()).toEqual([]);
    expect((await t.store.audit.verify()).ok).toBe(true);
  });

  it('lets steps with different lease keys run at once (so the check above can fail)', async () => {
    up.state.barrier = 2;
    const [a, b] = await twoNodes();
    const ids = [
      (await a.workflows.start('low', { id: 'x', vendor: 'acme' }, ADA)).id,
      (await a.workflows.start('low', { id: 'y', vendor: 'globex' }, ADA)).id,
    ];
    expect(await tickUntilDone([a, b], ids)).toEqual(['completed', 'completed']);
    expect(overlapping(up.calls)).toBe(true);
  });

  it('gives a freed lease to the waiting run of the highest priority, then the earliest request', async () => {
    up.state.hold = true;
    const [a, b] = await twoNodes();
    const holder = (await a.workflows.start('low', { id: 'holder', vendor: 'acme' }, ADA)).id;
    const first = a.workflows.tick(); // claims the holder's run and stays in its call until released
    for (let i = 0; i < 500 && up.state.hold && !(await a.coordination.leases.list()).length; i++)
      await sleep(10);
    const early = (await a.workflows.start('low', { id: 'early-low', vendor: 'acme' }, ADA)).id;
    const late = (await a.workflows.start('high', { id: 'late-high', vendor: 'acme' }, ADA)).id;
    for (let i = 0; i < 200 && (await a.coordination.leases.waiters()).length < 2; i++) {
      await b.workflows.tick();
      await sleep(5);
    }
    expect((await a.coordination.leases.waiters()).map((w) => [w.runId, w.priority])).toEqual([
      [late, 5],
      [early, 0],
    ]);
    const blocked = await a.workflows.get(early);
    expect(blocked.steps.call).toMatchObject({ status: 'pending', blockedOn: 'vendor:acme' });
    expect((await a.workflows.get(holder)).leases).toMatchObject([{ key: 'vendor:acme', runId: holder }]);
    up.state.hold = false;
    await first;
    expect(await tickUntilDone([a, b], [holder, early, late])).toEqual([
      'completed',
      'completed',
      'completed',
    ]);
    expect([...up.calls].sort((x, y) => x.startMs - y.startMs).map((c) => c.id)).toEqual([
      'holder',
      'late-high',
      'early-low',
    ]);
    expect(overlapping(up.calls)).toBe(false);
    const prio = await t.raw('SELECT priority FROM workflow_runs WHERE id = ?', [late]);
    expect(Number((prio[0] as { priority: number }).priority)).toBe(5);
  });

  it('queues equal priorities first come first served, and frees the lease of a run that ended', async () => {
    const [a] = await twoNodes();
    const leases = a.coordination.leases;
    const run = async (id: string) => (await a.workflows.start('low', { id, vendor: 'v' }, ADA)).id;
    const [r1, r2, r3] = [await run('1'), await run('2'), await run('3')] as [string, string, string];
    const ask = (runId: string, nowMs: number) =>
      t.store.db.tx((tx) => leases.acquire(tx, { key: 'k', runId, stepId: 'call', priority: 0, nowMs }));
    expect(await ask(r1, 1)).toBe(true);
    expect(await ask(r1, 2)).toBe(true); // the holder asking again (resume) still holds it
    expect(await ask(r2, 3)).toBe(false);
    expect(await ask(r3, 4)).toBe(false);
    await t.store.db.tx((tx) => leases.releaseStep(tx, r1, 'call'));
    expect(await ask(r3, 5)).toBe(false); // r2 asked first
    expect(await ask(r2, 6)).toBe(true);
    // r2's run ends without releasing (as if its node died after the run was cancelled elsewhere).
    await t.raw("UPDATE workflow_runs SET status = 'cancelled' WHERE id = ?", [r2]);
    expect(await ask(r3, 7)).toBe(true);
    expect((await leases.list()).map((l) => l.runId)).toEqual([r3]);
  });

  it('escalates a step blocked on a lease for longer than its escalate.after, then runs it once the lease frees', async () => {
    up.state.hold = true;
    const [a, b] = await twoNodes();
    const holder = (await a.workflows.start('low', { id: 'holder', vendor: 'acme' }, ADA)).id;
    const first = a.workflows.tick();
    for (let i = 0; i < 500 && !(await a.coordination.leases.list()).length; i++) await sleep(10);
    const patient = (await a.workflows.start('patient', { id: 'patient', vendor: 'acme' }, ADA)).id;
    for (let i = 0; i < 400 && !(await a.workflows.get(patient)).steps.call?.escalatedTo; i++) {
      await b.workflows.tick();
      await sleep(10);
    }
    const blocked = await a.workflows.get(patient);
    expect(blocked.steps.call).toMatchObject({
      status: 'pending',
      blockedOn: 'vendor:acme',
      escalatedTo: 'ops',
    });
    expect(up.calls).toEqual([]);
    up.state.hold = false;
    await first;
    expect(await tickUntilDone([a, b], [holder, patient])).toEqual(['completed', 'completed']);
    expect(up.calls.map((c) => c.id)).toEqual(['holder', 'patient']);
    expect(overlapping(up.calls)).toBe(false);
  });
});
