import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { backends } from '../../../../test/helpers/backends.js';
import type { TestStore } from '../../../../test/helpers/backends.js';
import { KillSwitches } from '../intervention/kill-switches.js';
import type { Store } from '../store/open-store.js';
import type { Db, SqlValue } from '../store/db.js';
import { RunContextStore } from '../coordination/run-context.js';
import { ResourceLeases } from '../coordination/resource-leases.js';
import { defineWorkflow } from './definition.js';
import { replay } from './history.js';
import { nextWork } from './next-work.js';
import type { NextWorkDeps } from './next-work.js';
import { InterventionGate } from './intervention.js';
import { StepGates } from './step-gates.js';
import { StepRunner } from './step-runner.js';
import type { StepRunnerDeps } from './step-runner.js';

/** Counts the reads run on the store's database outside transactions, by whichever repository (`seen`: their SQL). */
function counting(db: Db, seen: string[] = []): () => number {
  let n = 0;
  const get = db.get.bind(db);
  const all = db.all.bind(db);
  db.get = ((sql: string, params?: readonly SqlValue[]) => (
    n++,
    seen.push(sql),
    get(sql, params)
  )) as Db['get'];
  db.all = ((sql: string, params?: readonly SqlValue[]) => (
    n++,
    seen.push(sql),
    all(sql, params)
  )) as Db['all'];
  return () => n;
}

describe.each(backends)('the intervention gate on $name', (backend) => {
  let t: TestStore;
  let other: Store | undefined;

  beforeEach(async (ctx) => {
    if (!backend.enabled) return ctx.skip();
    t = await backend.create();
    await t.store.humans.add({ id: 'olivia' }, 'operator:test');
    for (let i = 0; i < 40; i++)
      await t.store.agents.create(
        { id: `clerk-${String(i).padStart(2, '0')}`, role: 'clerk', tier: 1, owner: 'olivia' },
        'operator:test',
      );
  });

  afterEach(async () => {
    await other?.close();
    other = undefined;
    await t?.cleanup();
  });

  const gateOn = (store: Store) => {
    const reads = counting(store.db);
    const gate = new InterventionGate({
      db: store.db,
      agents: store.agents,
      killSwitches: new KillSwitches(store.db, store.audit),
    });
    return { gate, reads };
  };

  it('costs one read a check while nothing changed, whatever the size of the role', async () => {
    const { gate, reads } = gateOn(t.store);
    expect((await gate.role('clerk')).free).toHaveLength(40);
    expect(await gate.agent('clerk-07')).toBeUndefined();
    const before = reads();
    for (let i = 0; i < 5; i++) {
      expect((await gate.role('clerk')).free).toHaveLength(40);
      expect(await gate.roleHold('clerk')).toBeUndefined();
      expect(await gate.agent('clerk-07')).toBeUndefined();
    }
    // The role's agents, the agent and the engaged switches were read once for the epoch; each check now reads the epoch
    // only (before: the role's list and one switch read per agent, 41 reads a role check).
    expect(reads() - before).toBe(15);
  });

  it('sees a kill switch, a pause and a new agent made by another node at the next check', async () => {
    const { gate } = gateOn(t.store);
    expect(await gate.roleHold('clerk')).toBeUndefined();
    other = await t.reopen();
    const remote = new KillSwitches(other.db, other.audit);

    await remote.set({ scope: 'role:clerk', active: true }, 'operator:test');
    expect(await gate.roleHold('clerk')).toBe(
      'no free agent of role clerk: ' +
        Array.from({ length: 40 }, (_, i) => `clerk-${String(i).padStart(2, '0')}`).join(', ') +
        ' are paused or stopped by a kill switch',
    );
    expect(await gate.agent('clerk-03')).toBe('kill switch role:clerk is engaged (stops agent clerk-03)');
    await remote.set({ scope: 'role:clerk', active: false }, 'operator:test');
    expect(await gate.agent('clerk-03')).toBeUndefined();

    await other.agents.setStatus('clerk-03', 'pause', 'operator:test');
    expect(await gate.agent('clerk-03')).toBe('agent clerk-03 is paused');
    expect((await gate.role('clerk')).held.map((a) => a.id)).toEqual(['clerk-03']);

    // An agent created elsewhere takes its place in the role's list (sorted by id) at once.
    await other.agents.create({ id: 'clerk-0', role: 'clerk', tier: 1, owner: 'olivia' }, 'operator:test');
    expect((await gate.role('clerk')).free[0]?.id).toBe('clerk-0');

    await remote.set({ scope: 'agent:clerk-0', active: true }, 'operator:test');
    expect((await gate.role('clerk')).free[0]?.id).toBe('clerk-00');
    await remote.set({ scope: 'global', active: true }, 'operator:test');
    expect(await gate.agent('clerk-09')).toBe('kill switch global is engaged (stops agent clerk-09)');
  });

  it('routes rule work to a copy: a handler that changes its agent changes nothing the gate keeps', async () => {
    const { gate } = gateOn(t.store);
    const runner = new StepRunner({
      agents: t.store.agents,
      rules: new Map(),
      crash: () => undefined,
      intervention: gate,
    } as unknown as StepRunnerDeps);
    const first = await runner.route('clerk', 'steps.x.role');
    expect(first.id).toBe('clerk-00');
    // What a careless rule handler might do with the agent it is given.
    Object.assign(first, { status: 'paused', role: 'other' });
    first.environments.push('production');
    const again = await runner.route('clerk', 'steps.x.role');
    expect(again).toMatchObject({ id: 'clerk-00', status: 'active', role: 'clerk', environments: ['dev'] });
    expect((await gate.role('clerk')).free[0]).toMatchObject({ id: 'clerk-00', status: 'active' });
  });

  it("reads a step start's context and security epoch together, and sees a switch engaged since", async () => {
    const seen: string[] = [];
    counting(t.store.db, seen);
    const gate = new InterventionGate({
      db: t.store.db,
      agents: t.store.agents,
      killSwitches: new KillSwitches(t.store.db, t.store.audit),
    });
    const gates = new StepGates({
      db: t.store.db,
      leases: new ResourceLeases(t.store.db),
      context: new RunContextStore(t.store.db, t.store.audit),
      intervention: gate,
    });
    const def = defineWorkflow({
      name: 'one-task',
      version: 1,
      owner: 'olivia',
      steps: { sort: { kind: 'task', role: 'clerk', rule: 'sort' } },
    });
    const st = replay(def, [{ type: 'run_started', input: {} } as never]);
    const deps = { gates, steps: { shouldRun: async () => true } } as unknown as NextWorkDeps;
    const start = () => nextWork(deps, { runId: 'run-1', def, st, nowMs: Date.now() });
    expect(await start()).toMatchObject([{ type: 'step_started', stepId: 'sort' }]);
    seen.length = 0;
    expect(await start()).toMatchObject([{ type: 'step_started', stepId: 'sort' }]);
    // The role's agents are remembered for the epoch: the start costs the one read of the context and the epoch
    // (on SQLite, one statement after the other).
    const epochReads = seen.filter((q) => q.includes('FROM security_epoch'));
    expect(epochReads).toHaveLength(1);
    if (backend.name === 'postgres') {
      expect(seen).toHaveLength(1);
      expect(seen[0]).toMatch(/FROM run_context[\s\S]*FROM security_epoch/);
    } else
      expect(seen.map((q) => /FROM (run_context|security_epoch)/.exec(q)?.[1])).toEqual([
        'run_context',
        'security_epoch',
      ]);
    await t.raw(
      "INSERT INTO killswitches (scope, active, reason, set_by, set_at) VALUES ('role:clerk', 1, NULL, 'x', 'x')",
    );
    expect(await start()).toMatchObject([{ type: 'step_paused', stepId: 'sort', reason: 'intervention' }]);
  });

  it('sees a switch set by raw SQL at the next check (the database bumps the epoch, not the code)', async () => {
    const { gate } = gateOn(t.store);
    expect(await gate.agent('clerk-01')).toBeUndefined();
    await t.raw(
      "INSERT INTO killswitches (scope, active, reason, set_by, set_at) VALUES ('agent:clerk-01', 1, NULL, 'x', 'x')",
    );
    expect(await gate.agent('clerk-01')).toBe('kill switch agent:clerk-01 is engaged (stops agent clerk-01)');
  });
});
