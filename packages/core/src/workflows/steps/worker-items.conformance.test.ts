import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { backends } from '../../../../../test/helpers/backends.js';
import type { TestStore } from '../../../../../test/helpers/backends.js';
import { invoicesConfig, startErp } from '../../../../../test/helpers/invoices.js';
import type { Erp } from '../../../../../test/helpers/invoices.js';
import { seedWorkers } from '../../../../../test/helpers/worker-invoices.js';
import { createEngine } from '../../engine.js';
import type { Engine } from '../../engine.js';
import type { Agent } from '../../identity/agents.js';
import { EnvSecretStore } from '../../secrets/secret-store.js';
import type { Store } from '../../store/open-store.js';
import { defineWorkflow } from '../definition.js';
import type { WorkflowInput } from '../definition.js';
import type { WorkflowCrashPoint } from '../step-runner.js';
import type { WorkflowTask } from '../workflow-task.js';
import { taskIdFor } from '../workflow-task.js';
import { ADA } from '../../../../../test/helpers/people.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

const wf = (name: string, steps: WorkflowInput['steps'], extra: Partial<WorkflowInput> = {}) =>
  defineWorkflow({ name, version: 1, owner: 'fiona', steps, ...extra });

/** Worker items only: no step has a `rule:`, so every item and the synthesis are tasks agents take. */
const definitions = [
  wf(
    'fan-tasks',
    {
      drafts: {
        kind: 'parallel',
        over: 'input.docs',
        do: { kind: 'task', role: 'clerk', input: '{ "doc": item, "i": index }' },
        maxConcurrency: 2,
      },
      synth: { kind: 'task', role: 'clerk', input: 'steps.drafts', dependsOn: ['drafts'] },
    },
    { output: 'steps.synth' },
  ),
  wf('fan-slow', {
    drafts: { kind: 'parallel', over: '[1, 2]', do: { kind: 'task', role: 'clerk' }, timeout: '1s' },
  }),
  wf('vote-slow', { decide: { kind: 'consensus', role: 'voter', agents: 3, quorum: 2, timeout: '1s' } }),
  wf('vote-workers', { decide: { kind: 'consensus', role: 'voter', agents: 3, quorum: 2, input: 'input' } }),
];

describe.each(backends)('worker task items on $name', (backend) => {
  let t: TestStore;
  let erp: Erp;
  let engine: Engine;
  const extra: { engine?: Engine; store?: Store } = {};
  const open = async (
    store: Store,
    opts: { leaseMs?: number; crash?: (p: WorkflowCrashPoint) => void } = {},
  ) => {
    const config = invoicesConfig(erp.url);
    // Two tasks per agent: the consensus exclusion, not the per-agent limit, must keep a voter off a second item.
    config.workflows = { maxTasksPerAgent: 2, taskLease: '60s', delegation: { maxDepth: 2, maxFanOut: 5 } };
    const e = await createEngine({
      store,
      config,
      workflows: definitions,
      secrets: new EnvSecretStore({ env: {} }),
      workflowOptions: opts,
    });
    await e.start({ background: false });
    return e;
  };
  const agent = (id: string) => t.store.agents.require(id) as Promise<Agent>;
  const start = async (e: Engine, name: string, input: unknown) => {
    const r = await e.workflows.start(name, input, ADA);
    await e.workflows.drain();
    return r.id;
  };
  const claim = async (id: string): Promise<WorkflowTask | undefined> =>
    engine.workflows.tasks.claim(await agent(id));
  const answer = async (id: string, task: WorkflowTask | undefined, output: unknown) => {
    expect(task).toBeDefined();
    await engine.workflows.tasks.complete(await agent(id), (task as WorkflowTask).id, output);
  };
  const tasksOf = async (runId: string, stepId: string) =>
    (await engine.workflows.tasks.list({ runId }))
      .filter((x) => x.stepId === stepId)
      .sort((a, b) => a.item - b.item);

  beforeEach(async (ctx) => {
    if (!backend.enabled) return ctx.skip();
    t = await backend.create();
    erp = await startErp();
    await seedWorkers(t);
    for (const id of ['voter-1', 'voter-2', 'voter-3'])
      await t.store.agents.create({ id, role: 'voter', tier: 1, owner: 'fiona' }, 'operator:test');
    engine = await open(t.store);
  });
  afterEach(async () => {
    await extra.engine?.close();
    await extra.store?.close();
    delete extra.engine;
    delete extra.store;
    await engine?.close();
    await erp?.close();
    await t?.cleanup();
  });

  it('fans out one worker task per item, at most maxConcurrency at once, taken by two agents, then synthesises', async () => {
    const runId = await start(engine, 'fan-tasks', { docs: ['a', 'b', 'c'] });
    let view = await engine.workflows.get(runId);
    expect(view.steps.drafts?.items?.map((i) => i.status)).toEqual(['waiting', 'waiting', 'pending']);
    let drafts = await tasksOf(runId, 'drafts');
    expect(drafts.map((x) => [x.id, x.item, x.status])).toEqual([
      [taskIdFor(runId, 'drafts', 1, 0), 0, 'open'],
      [taskIdFor(runId, 'drafts', 1, 1), 1, 'open'],
    ]);

    const draft = (task: WorkflowTask | undefined, by: string) => {
      const i = task?.input as { doc: string; i: number };
      return { text: `${i.doc}!`, i: i.i, by };
    };
    const first = await claim('clerk-1');
    const second = await claim('clerk-2');
    await answer('clerk-1', first, draft(first, 'clerk-1'));
    await answer('clerk-2', second, draft(second, 'clerk-2'));
    await engine.workflows.drain();
    drafts = await tasksOf(runId, 'drafts');
    expect(drafts.map((x) => x.item)).toEqual([0, 1, 2]);
    const third = await claim('clerk-1');
    expect(third?.id).toBe(taskIdFor(runId, 'drafts', 1, 2));
    expect(third?.input).toEqual({ doc: 'c', i: 2 });
    await answer('clerk-1', third, draft(third, 'clerk-1'));
    await engine.workflows.drain();

    // The synthesis is a plain worker task step reading the fanned-in outputs.
    const synth = await claim('clerk-2');
    expect(synth?.stepId).toBe('synth');
    const parts = synth?.input as { text: string }[];
    await answer('clerk-2', synth, { joined: parts.map((p) => p.text).join(' ') });
    await engine.workflows.drain();

    view = await engine.workflows.get(runId);
    expect(view.status).toBe('completed');
    expect(view.output).toEqual({ joined: 'a! b! c!' });
    const items = view.steps.drafts?.items ?? [];
    expect(items.map((i) => (i.output as { i: number }).i)).toEqual([0, 1, 2]);
    // Each item is attributed to the agent that answered it, and two agents shared the work.
    expect(items.map((i) => i.agent)).toEqual(items.map((i) => (i.output as { by: string }).by));
    expect(new Set(items.map((i) => i.agent)).size).toBe(2);
    expect(await engine.workflows.tasks.list({ runId })).toHaveLength(4);
  });

  it('gives each consensus item to a different agent: one that holds or answered an item takes no other', async () => {
    const runId = await start(engine, 'vote-workers', { q: 'pay?' });
    const open3 = await tasksOf(runId, 'decide');
    expect(open3.map((x) => [x.item, x.distinctAgents, x.input])).toEqual([
      [0, true, { q: 'pay?' }],
      [1, true, { q: 'pay?' }],
      [2, true, { q: 'pay?' }],
    ]);
    const a = await claim('voter-1');
    // voter-1 may hold two tasks, but not two items of one consensus.
    expect(await claim('voter-1')).toBeUndefined();
    await answer('voter-1', a, { vote: 'yes' });
    expect(await claim('voter-1')).toBeUndefined();
    const b = await claim('voter-2');
    await answer('voter-2', b, { vote: 'no' });
    await engine.workflows.drain();
    expect((await engine.workflows.get(runId)).status).toBe('running');
    expect(await claim('voter-2')).toBeUndefined();
    const c = await claim('voter-3');
    await answer('voter-3', c, { vote: 'yes' });
    await engine.workflows.drain();

    const view = await engine.workflows.get(runId);
    expect(view.status).toBe('completed');
    const out = view.steps.decide?.output as { value: unknown; votes: { agent: string; value: unknown }[] };
    expect(out.value).toBe('yes');
    expect(out.votes.map((v) => v.agent).sort()).toEqual(['voter-1', 'voter-2', 'voter-3']);
    expect((await tasksOf(runId, 'decide')).map((x) => x.status)).toEqual([
      'completed',
      'completed',
      'completed',
    ]);
  });

  it('refuses to hand a consensus item to an agent that answered another item of the step', async () => {
    const runId = await start(engine, 'vote-workers', {});
    await answer('voter-1', await claim('voter-1'), { vote: 'yes' });
    const held = (await claim('voter-2')) as WorkflowTask;
    const q = engine.workflows.tasks;
    await expect(
      q.handoff(await agent('voter-2'), held.id, { toAgent: 'voter-1', note: 'you decide' }),
    ).rejects.toMatchObject({ field: 'toAgent' });
    const moved = await q.handoff(await agent('voter-2'), held.id, {
      toAgent: 'voter-3',
      note: 'you decide',
    });
    expect(moved).toMatchObject({ status: 'open', agentId: 'voter-3' });
    expect((await claim('voter-3'))?.id).toBe(held.id);
    expect((await engine.workflows.get(runId)).status).toBe('running');
  });

  it('takes back the unanswered consensus task once a quorum agrees', async () => {
    const runId = await start(engine, 'vote-workers', {});
    await answer('voter-1', await claim('voter-1'), { vote: 'no' });
    await answer('voter-2', await claim('voter-2'), { vote: 'no' });
    await engine.workflows.drain();
    const view = await engine.workflows.get(runId);
    expect(view.status).toBe('completed');
    expect((view.steps.decide?.output as { value: unknown }).value).toBe('no');
    const tasks = await tasksOf(runId, 'decide');
    expect(tasks.map((x) => x.status).sort()).toEqual(['cancelled', 'completed', 'completed']);
    expect(await claim('voter-3')).toBeUndefined();
  });

  it('resumes after a crash between an item task’s insert and its record without creating a task twice', async () => {
    let created = 0;
    let crashed = false;
    const first = await open(t.store, {
      leaseMs: 200,
      // Crash at the first commit after a task was inserted: the insert is durable, `item_waiting` is not.
      crash: (point) => {
        if (point === 'workflow.before-commit' && created > 0 && !crashed) {
          crashed = true;
          throw new Error('simulated crash');
        }
      },
    });
    first.events.subscribe((e) => {
      if (e.type === 'task.created') created++;
    });
    await engine.close();
    const r = await first.workflows.start('fan-tasks', { docs: ['a', 'b', 'c'] }, ADA);
    await first.workflows.tick();
    expect(crashed).toBe(true);
    expect((await first.workflows.get(r.id)).steps.drafts?.items?.[0]?.status).toBe('running');
    expect(await first.workflows.tasks.list({ runId: r.id })).toHaveLength(1);
    await first.close();

    extra.store = await t.reopen();
    engine = extra.engine = await open(extra.store);
    await sleep(250);
    await engine.workflows.drain();
    const view = await engine.workflows.get(r.id);
    expect(view.steps.drafts?.items?.map((i) => i.status)).toEqual(['waiting', 'waiting', 'pending']);
    const tasks = await engine.workflows.tasks.list({ runId: r.id });
    expect(tasks.map((x) => x.id).sort()).toEqual(
      [taskIdFor(r.id, 'drafts', 1, 0), taskIdFor(r.id, 'drafts', 1, 1)].sort(),
    );
    const audits = await t.raw(`SELECT subject FROM audit_log WHERE type = 'task.created'`);
    expect(audits).toHaveLength(2);
  });

  it('bounds waiting items by the step timeout: their tasks are cancelled and the step fails with timeout', async () => {
    const fan = await start(engine, 'fan-slow', {});
    const vote = await start(engine, 'vote-slow', {});
    await answer('voter-1', await claim('voter-1'), { vote: 'yes' });
    const held = await claim('voter-2');
    await sleep(1100); // past both steps' deadline
    await engine.workflows.drain();
    for (const [runId, stepId] of [
      [fan, 'drafts'],
      [vote, 'decide'],
    ] as const) {
      const view = await engine.workflows.get(runId);
      expect(view.status).toBe('failed');
      expect(view.steps[stepId]?.error?.code).toBe('timeout');
    }
    expect((await tasksOf(fan, 'drafts')).map((x) => x.status)).toEqual(['cancelled', 'cancelled']);
    expect((await tasksOf(vote, 'decide')).map((x) => x.status).sort()).toEqual([
      'cancelled',
      'cancelled',
      'completed',
    ]);
    await expect(
      engine.workflows.tasks.complete(await agent('voter-2'), (held as WorkflowTask).id, { vote: 'yes' }),
    ).rejects.toThrow(/not claimed/);
  });

  it('cancels the open item tasks when the run is cancelled; the agent holding one can no longer answer', async () => {
    const runId = await start(engine, 'vote-workers', {});
    const held = await claim('voter-1');
    await engine.workflows.cancel(runId, ADA, 'not needed');
    await engine.workflows.drain();
    expect((await engine.workflows.get(runId)).status).toBe('cancelled');
    expect((await tasksOf(runId, 'decide')).map((x) => x.status)).toEqual([
      'cancelled',
      'cancelled',
      'cancelled',
    ]);
    await expect(
      engine.workflows.tasks.complete(await agent('voter-1'), (held as WorkflowTask).id, { vote: 'yes' }),
    ).rejects.toThrow(/not claimed/);
    expect(await claim('voter-2')).toBeUndefined();
  });

  it('fails the parallel step with the error of an item its agent failed for good, once no item is in flight', async () => {
    const runId = await start(engine, 'fan-tasks', { docs: ['a', 'b'] });
    const x = await claim('clerk-1');
    const y = await claim('clerk-2');
    await engine.workflows.tasks.fail(await agent('clerk-1'), (x as WorkflowTask).id, {
      message: 'unreadable scan',
      retryable: false,
    });
    await engine.workflows.drain();
    // The other item is still with its agent: the step waits for it.
    expect((await engine.workflows.get(runId)).status).toBe('running');
    await answer('clerk-2', y, { text: 'ok' });
    await engine.workflows.drain();
    const view = await engine.workflows.get(runId);
    expect(view.status).toBe('failed');
    expect(view.steps.drafts?.error).toMatchObject({ code: 'task_failed', message: 'unreadable scan' });
    expect(view.steps.drafts?.items?.map((i) => i.agent)).toEqual(
      x?.item === 0 ? ['clerk-1', 'clerk-2'] : ['clerk-2', 'clerk-1'],
    );
  });
});
