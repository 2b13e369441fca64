import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { backends } from '../../../../test/helpers/backends.js';
import type { TestStore } from '../../../../test/helpers/backends.js';
import { parseConfig } from '../config/config.js';
import { createEngine } from '../engine.js';
import type { Engine } from '../engine.js';
import type { AosEvent } from '../events/event-bus.js';
import { EnvSecretStore } from '../secrets/index.js';
import type { Store } from '../store/open-store.js';
import { defineWorkflow } from './definition.js';

const nightly = defineWorkflow({
  name: 'nightly',
  version: 1,
  owner: 'ada',
  input: { type: 'object', required: ['scope'], properties: { scope: { type: 'string' } } },
  triggers: [{ cron: '0 2 * * *', input: { scope: 'all' } }],
  steps: { sweep: { kind: 'task', role: 'clerk', rule: 'sweep' } },
});

const DAY = 86_400_000;
// Slots in the future of the wall clock, so only the injected clock decides what is due.
const slot = (day: number) => Date.UTC(2030, 0, day, 2, 0, 0);

async function engineOn(store: Store): Promise<Engine> {
  const engine = await createEngine({
    store,
    config: parseConfig({}),
    secrets: new EnvSecretStore({ env: {} }),
    workflows: [nightly],
    rules: { sweep: (task) => ({ swept: (task.input as { scope: string }).scope }) },
  });
  // Not started: start() ticks on the wall clock, and these tests drive the clock themselves.
  return engine;
}

describe.each(backends)('cron triggers on $name', (backend) => {
  let t: TestStore;
  let engine: Engine;
  let other: { store?: Store; engine?: Engine } = {};

  beforeEach(async (ctx) => {
    if (!backend.enabled) return ctx.skip();
    t = await backend.create();
    await t.store.humans.add({ id: 'ada', groups: ['admins'] }, 'operator:test');
    await t.store.agents.create({ id: 'clerk-1', role: 'clerk', tier: 1, owner: 'ada' }, 'operator:test');
    engine = await engineOn(t.store);
  });
  afterEach(async () => {
    await other.engine?.close();
    await other.store?.close();
    other = {};
    await engine?.close();
    await t?.cleanup();
  });

  const runs = () => t.raw('SELECT id, trigger_key, created_by FROM workflow_runs ORDER BY trigger_key');

  it('starts from now the first time, then fires each due slot once', async () => {
    expect(await engine.workflows.fireSchedules(slot(10) + 5 * DAY)).toEqual([]);
    expect(await runs()).toEqual([]);
    // Ticks before the next slot start nothing; the tick at the slot starts one run with the cron input.
    expect(await engine.workflows.fireSchedules(slot(16) - 1)).toEqual([]);
    const [id] = await engine.workflows.fireSchedules(slot(16));
    expect(await engine.workflows.fireSchedules(slot(16) + 1000)).toEqual([]);
    expect(await runs()).toEqual([
      { id, trigger_key: `cron:nightly:${slot(16)}`, created_by: 'cron:nightly' },
    ]);
    await engine.workflows.drain();
    const run = await engine.workflows.get(id as string);
    expect(run.status).toBe('completed');
    expect(run.output).toEqual({ sweep: { swept: 'all' } });
  });

  it('after downtime runs only the latest missed slot', async () => {
    await engine.workflows.fireSchedules(slot(10) - 1);
    expect(await engine.workflows.fireSchedules(slot(14) + 3_600_000)).toHaveLength(1);
    expect((await runs()).map((r) => (r as { trigger_key: string }).trigger_key)).toEqual([
      `cron:nightly:${slot(14)}`,
    ]);
  });

  it('starts a slot once when two nodes fire it at the same moment', async () => {
    other.store = await t.reopen();
    other.engine = await engineOn(other.store);
    await engine.workflows.fireSchedules(slot(10) - 1);
    const second = other.engine;
    const fire = [
      () => engine.workflows.fireSchedules(slot(10)),
      () => second.workflows.fireSchedules(slot(10)),
      () => engine.workflows.fireSchedules(slot(10) + 10),
    ];
    // Concurrently on PostgreSQL; one after the other on SQLite, whose two connections in one process would only
    // block each other (separate processes serialize on the write lock).
    const fired =
      backend.name === 'postgres'
        ? await Promise.all(fire.map((f) => f()))
        : [await fire[0]!(), await fire[1]!(), await fire[2]!()];
    expect(fired.flat()).toHaveLength(1);
    expect(await runs()).toHaveLength(1);
  });

  it('publishes the started run on the event stream', async () => {
    const seen: AosEvent[] = [];
    engine.events.subscribe((e) => seen.push(e));
    await engine.workflows.fireSchedules(slot(10) - 1);
    const [id] = await engine.workflows.fireSchedules(slot(10));
    expect(seen.filter((e) => e.type.startsWith('run.'))).toEqual([
      expect.objectContaining({
        type: 'run.started',
        subject: `run:${id}`,
        data: { runId: id, workflow: 'nightly', status: 'running' },
      }),
    ]);
  });

  it('records a slot whose run cannot start (no agent of the role) and does not retry it every tick', async () => {
    await engine.workflows.fireSchedules(slot(10) - 1);
    await t.store.agents.setStatus('clerk-1', 'revoke', 'operator:test');
    expect(await engine.workflows.fireSchedules(slot(10))).toEqual([]);
    expect(await engine.workflows.fireSchedules(slot(10) + 1000)).toEqual([]);
    const audit = await t.raw("SELECT payload FROM audit_log WHERE type = 'workflow.trigger_failed'");
    expect(audit).toHaveLength(1);
    expect(await runs()).toEqual([]);
  });
});
