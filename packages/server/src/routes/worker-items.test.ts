import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { AosWorker } from '@autonomy-os/sdk';
import type { WorkerTask } from '@autonomy-os/sdk';
import { defineWorkflow } from '@autonomy-os/core';
import type { Engine, WorkflowDefinition } from '@autonomy-os/core';
import { backends } from '../../../../test/helpers/backends.js';
import type { TestStore } from '../../../../test/helpers/backends.js';
import { startErp } from '../../../../test/helpers/invoices.js';
import type { Erp } from '../../../../test/helpers/invoices.js';
import { seedWorkers, workerInvoicesEngine } from '../../../../test/helpers/worker-invoices.js';
import { buildServer } from '../server.js';
import type { AosServer } from '../server.js';
import { ADA } from '../../../../test/helpers/people.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Collaborative pattern with worker agents: fan out drafts to clerks, then a clerk synthesises them. */
const collaborate: WorkflowDefinition = defineWorkflow({
  name: 'collaborate-workers',
  version: 1,
  owner: 'fiona',
  steps: {
    drafts: { kind: 'parallel', over: 'input.docs', do: { kind: 'task', role: 'clerk', input: 'item' } },
    synth: { kind: 'task', role: 'clerk', input: 'steps.drafts', dependsOn: ['drafts'] },
  },
  output: 'steps.synth',
});

const vote: WorkflowDefinition = defineWorkflow({
  name: 'vote-workers',
  version: 1,
  owner: 'fiona',
  steps: { decide: { kind: 'consensus', role: 'voter', agents: 3, quorum: 2 } },
});

describe.each(backends)('worker task items over REST and the SDK worker on $name', (backend) => {
  let t: TestStore;
  let erp: Erp;
  let engine: Engine | undefined;
  let server: AosServer | undefined;
  let base: string;
  const tokens: Record<string, string> = {};
  const workers: AosWorker[] = [];

  const serve = async (workflow: WorkflowDefinition) => {
    engine = await workerInvoicesEngine(t.store, erp.url, { workflow });
    server = buildServer({ engine, version: 'test' });
    base = await server.listen();
    return engine;
  };
  const next = async (who: string) => {
    const res = await fetch(`${base}/v1/tasks/next`, {
      method: 'POST',
      headers: { authorization: `Bearer ${tokens[who]}`, 'content-type': 'application/json' },
      body: JSON.stringify({ waitSec: 0 }),
    });
    return { status: res.status, body: res.status === 200 ? ((await res.json()) as { id: string }) : null };
  };
  const complete = async (who: string, id: string, output: unknown) => {
    const res = await fetch(`${base}/v1/tasks/${id}/complete`, {
      method: 'POST',
      headers: { authorization: `Bearer ${tokens[who]}`, 'content-type': 'application/json' },
      body: JSON.stringify({ output }),
    });
    expect(res.status).toBe(200);
  };

  beforeEach(async (ctx) => {
    if (!backend.enabled) return ctx.skip();
    t = await backend.create();
    erp = await startErp();
    await seedWorkers(t);
    for (const id of ['voter-1', 'voter-2', 'voter-3'])
      await t.store.agents.create({ id, role: 'voter', tier: 1, owner: 'fiona' }, 'operator:test');
    for (const a of ['clerk-1', 'clerk-2', 'voter-1', 'voter-2', 'voter-3'])
      tokens[a] = (await t.store.tokens.issue({ subjectType: 'agent', subjectId: a }, 'operator:test')).token;
  });
  afterEach(async () => {
    for (const w of workers.splice(0)) await w.stop();
    await server?.close();
    await engine?.close();
    server = undefined;
    engine = undefined;
    await erp?.close();
    await t?.cleanup();
  });

  it('runs a fan-out to two SDK workers and a synthesis; every item task is handled exactly once', async () => {
    const e = await serve(collaborate);
    const handled: { id: string; by: string; input: unknown }[] = [];
    for (const who of ['clerk-1', 'clerk-2']) {
      const w = new AosWorker({ url: base, token: tokens[who] as string, waitSec: 1 });
      w.handle('clerk', (task: WorkerTask) => {
        handled.push({ id: task.id, by: who, input: task.input });
        if (task.stepId === 'synth')
          return { joined: (task.input as { text: string }[]).map((d) => d.text).join(' ') };
        return { text: `${task.input as string}!`, by: who };
      });
      workers.push(w);
      await w.start();
    }
    const run = await e.workflows.start('collaborate-workers', { docs: ['a', 'b', 'c'] }, ADA);
    for (let i = 0; i < 200 && (await e.workflows.get(run.id)).status === 'running'; i++) {
      await e.workflows.drain();
      await sleep(50);
    }
    const view = await e.workflows.get(run.id);
    expect(view.status).toBe('completed');
    expect(view.output).toEqual({ joined: 'a! b! c!' });
    // Three item tasks and one synthesis task, each handled once, by the agent the item records.
    expect(handled).toHaveLength(4);
    expect(new Set(handled.map((h) => h.id)).size).toBe(4);
    const items = view.steps.drafts?.items ?? [];
    expect(items.map((i) => i.agent)).toEqual(items.map((i) => (i.output as { by: string }).by));
  });

  it('hands consensus items over REST to different agents only', async () => {
    const e = await serve(vote);
    const run = await e.workflows.start('vote-workers', {}, ADA);
    await e.workflows.drain();
    const first = await next('voter-1');
    expect(first.status).toBe(200);
    await complete('voter-1', (first.body as { id: string }).id, { vote: 'approve' });
    // voter-1 answered one item: the two open ones are not for it.
    expect((await next('voter-1')).status).toBe(204);
    const second = await next('voter-2');
    await complete('voter-2', (second.body as { id: string }).id, { vote: 'approve' });
    await e.workflows.drain();
    const view = await e.workflows.get(run.id);
    expect(view.status).toBe('completed');
    const out = view.steps.decide?.output as { value: unknown; votes: { agent: string }[] };
    expect(out.value).toBe('approve');
    expect(out.votes.map((v) => v.agent).sort()).toEqual(['voter-1', 'voter-2']);
    // The third voter's task was taken back once the quorum agreed.
    expect((await next('voter-3')).status).toBe(204);
  });
});
