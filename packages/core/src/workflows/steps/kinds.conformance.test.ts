import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { backends } from '../../../../../test/helpers/backends.js';
import type { TestStore } from '../../../../../test/helpers/backends.js';
import {
  invoicesConfig,
  invoicesEngine,
  seedInvoices,
  startErp,
} from '../../../../../test/helpers/invoices.js';
import type { Erp } from '../../../../../test/helpers/invoices.js';
import type { Engine } from '../../engine.js';
import { ConflictError } from '../../errors.js';
import type { Human } from '../../identity/humans.js';
import type { Store } from '../../store/open-store.js';
import { defineWorkflow } from '../definition.js';
import type { WorkflowInput } from '../definition.js';
import type { RuleHandler, WorkflowCrashPoint } from '../step-runner.js';
import { ADA } from '../../../../../test/helpers/people.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

const post = {
  kind: 'action',
  as: 'poster',
  tool: 'erp.post_invoice',
  input: '{ "invoiceId": item.id, "vendor": "acme", "amount": item.amount }',
  compensate: { tool: 'erp.void_invoice', input: '{ "invoiceId": output.invoiceId }' },
} as const;
const notify = {
  kind: 'action',
  as: 'poster',
  tool: 'erp.notify',
  input: '{ "to": "acme", "message": "done" }',
} as const;

const wf = (name: string, steps: WorkflowInput['steps'], extra: Partial<WorkflowInput> = {}) =>
  defineWorkflow({ name, version: 1, owner: 'fiona', steps, ...extra });

const definitions = [
  wf('fan-post', { fan: { kind: 'parallel', over: 'input.invoices', do: post, maxConcurrency: 2 } }),
  wf('fan-proposals', { fan: { kind: 'parallel', over: 'input.invoices', do: { ...post, as: 'proposer' } } }),
  wf('fan-proposals-2', {
    fan: { kind: 'parallel', over: 'input.invoices', do: { ...post, as: 'proposer' }, maxConcurrency: 2 },
  }),
  wf('fan-then-notify', {
    fan: { kind: 'parallel', over: 'input.invoices', do: post },
    tell: { ...notify, dependsOn: ['fan'] },
  }),
  wf(
    'collaborate',
    {
      drafts: {
        kind: 'parallel',
        over: '[1, 2, 3]',
        do: { kind: 'task', role: 'clerk', rule: 'double', input: '{ "n": item, "i": index }' },
      },
      synth: { kind: 'task', role: 'clerk', rule: 'sum', input: 'steps.drafts', dependsOn: ['drafts'] },
    },
    { output: 'steps.synth' },
  ),
  wf('vote', {
    decide: { kind: 'consensus', role: 'voter', rule: 'ballot', agents: 3, quorum: 2, input: 'input' },
  }),
  wf('vote-four', { decide: { kind: 'consensus', role: 'voter', rule: 'ballot', agents: 4, quorum: 2 } }),
  wf('await-go', {
    hold: { kind: 'approval', group: 'approvers:finance' },
    go: { kind: 'wait', event: 'go', dependsOn: ['hold'] },
  }),
  wf('await-signal', { go: { kind: 'wait', event: 'go' } }),
  wf('await-time', { nap: { kind: 'wait', for: '1s' } }),
  wf('await-until', { nap: { kind: 'wait', until: 'input.at' } }),
  wf('parent', { child: { kind: 'workflow', workflow: 'fan-then-notify', input: 'input' } }),
  wf('parent-waits', { child: { kind: 'workflow', workflow: 'await-signal', input: '{}' } }),
  wf('parent-fails', {
    child: { kind: 'workflow', workflow: 'await-signal', input: '{}' },
    boom: notify,
  }),
  wf('post-then-notify', {
    a: { ...post, input: '{ "invoiceId": "inv-a", "vendor": "acme", "amount": 5 }', compensate: undefined },
    b: { ...notify, dependsOn: ['a'] },
  }),
];

const rules: Record<string, RuleHandler> = {
  double: ({ input }) => ({ value: (input as { n: number }).n * 2 }),
  sum: ({ input }) => ({ total: (input as { value: number }[]).reduce((a, x) => a + x.value, 0) }),
  ballot: ({ agent, input }) => ({ vote: (input as Record<string, unknown>)[agent.id] }),
};

const invoices = (n: number) => ({
  invoices: Array.from({ length: n }, (_, i) => ({ id: `inv-${i}`, amount: 10 + i })),
});

describe.each(backends)('workflow step kinds on $name', (backend) => {
  let t: TestStore;
  let erp: Erp;
  let engine: Engine;
  const extra: { engine?: Engine; store?: Store } = {};
  const open = (store: Store, opts: { leaseMs?: number; crash?: (p: WorkflowCrashPoint) => void } = {}) =>
    invoicesEngine(store, invoicesConfig(erp.url), opts, { workflows: definitions, rules });
  const run = async (name: string, input: unknown = {}) => {
    const r = await engine.workflows.start(name, input, ADA);
    await engine.workflows.drain();
    return engine.workflows.get(r.id);
  };

  beforeEach(async (ctx) => {
    if (!backend.enabled) return ctx.skip();
    t = await backend.create();
    erp = await startErp();
    await seedInvoices(t);
    // Tier 1: every write it submits waits for a human approval.
    await t.store.agents.create(
      { id: 'proposer', role: 'poster', tier: 1, owner: 'fiona', environments: ['dev'] },
      'operator:test',
    );
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

  describe('parallel', () => {
    it('fans out one action per item and fans in their outputs in list order', async () => {
      const view = await run('fan-post', invoices(3));
      expect(view.status).toBe('completed');
      expect(erp.calls('POST /invoices/:id/post')).toBe(3);
      const out = view.output as { fan: { invoiceId: string }[] };
      expect(out.fan.map((o) => o.invoiceId)).toEqual(['inv-0', 'inv-1', 'inv-2']);
      const keys = (await engine.actions.list({})).map((a) => a.idempotencyKey).sort();
      expect(keys).toEqual([0, 1, 2].map((i) => `wf:${view.id}:fan:1:${i}`));
      const types = view.events.map((e) => e.type);
      expect(types.filter((x) => x === 'item_started')).toHaveLength(3);
      expect(types.filter((x) => x === 'item_completed')).toHaveLength(3);
      // maxConcurrency: 2 — never more than two items in flight.
      let inFlight = 0;
      let most = 0;
      for (const x of types) {
        if (x === 'item_started') most = Math.max(most, ++inFlight);
        if (x === 'item_completed' || x === 'item_failed') inFlight--;
      }
      expect(most).toBeLessThanOrEqual(2);
    });

    it('completes at once with an empty list', async () => {
      const view = await run('fan-post', { invoices: [] });
      expect(view.status).toBe('completed');
      expect(view.output).toEqual({ fan: [] });
      expect(erp.calls('POST /invoices/:id/post')).toBe(0);
    });

    it('runs task items and a synthesis step that reads their outputs (collaborative pattern)', async () => {
      const view = await run('collaborate');
      expect(view.status).toBe('completed');
      expect(view.steps.drafts?.output).toEqual([{ value: 2 }, { value: 4 }, { value: 6 }]);
      expect(view.output).toEqual({ total: 12 });
    });

    it('voids every posted item in reverse order when a later step fails', async () => {
      erp.state.failNotify = true;
      const view = await run('fan-then-notify', invoices(2));
      expect(view.status).toBe('failed');
      expect(erp.calls('POST /invoices/:id/post')).toBe(2);
      expect(erp.calls('POST /invoices/:id/void')).toBe(2);
      const voids = (await engine.actions.list({})).filter((a) => a.tool === 'erp.void_invoice');
      expect(voids.map((a) => a.idempotencyKey).sort()).toEqual([
        `wf:${view.id}:fan:compensate:0`,
        `wf:${view.id}:fan:compensate:1`,
      ]);
    });

    it('keeps submitting items while others wait for an approval, and finishes when each is approved', async () => {
      let view = await run('fan-proposals', invoices(3));
      expect(view.steps.fan?.items?.map((i) => i.status)).toEqual(['waiting', 'waiting', 'waiting']);
      const pending = (await engine.actions.list({})).filter((a) => a.status === 'pending_approval');
      expect(pending).toHaveLength(3);
      const frank = (await t.store.humans.require('frank')) as Human;
      const second = pending.find((a) => a.idempotencyKey === `wf:${view.id}:fan:1:1`);
      await engine.actions.vote({ approvalId: second?.approvalId as string, human: frank, vote: 'approve' });
      await engine.workflows.drain();
      view = await engine.workflows.get(view.id);
      expect(view.steps.fan?.items?.map((i) => i.status)).toEqual(['waiting', 'completed', 'waiting']);
      expect(erp.calls('POST /invoices/:id/post')).toBe(1);
      for (const a of pending.filter((x) => x !== second))
        await engine.actions.vote({ approvalId: a.approvalId as string, human: frank, vote: 'approve' });
      await engine.workflows.drain();
      view = await engine.workflows.get(view.id);
      expect(view.status).toBe('completed');
      expect(erp.calls('POST /invoices/:id/post')).toBe(3);
    });

    it('starts no more than maxConcurrency items at once', async () => {
      let view = await run('fan-proposals-2', invoices(3));
      expect(view.steps.fan?.items?.map((i) => i.status)).toEqual(['waiting', 'waiting', 'pending']);
      const pending = (await engine.actions.list({})).filter((a) => a.status === 'pending_approval');
      expect(pending).toHaveLength(2);
      const frank = (await t.store.humans.require('frank')) as Human;
      await engine.actions.vote({
        approvalId: pending[0]?.approvalId as string,
        human: frank,
        vote: 'approve',
      });
      await engine.workflows.drain();
      view = await engine.workflows.get(view.id);
      expect(view.steps.fan?.items?.filter((i) => i.status === 'waiting')).toHaveLength(2);
      expect(view.steps.fan?.items?.filter((i) => i.status === 'completed')).toHaveLength(1);
    });

    it('resumes after a crash between an item’s submit and its record without posting any item twice', async () => {
      let crashes = 0;
      const first = await open(t.store, {
        leaseMs: 200,
        crash: (point) => {
          // The second item's submit: the engine passes other crash points too (claims, commits).
          if (point === 'workflow.after-action-submit' && crashes++ === 1) throw new Error('simulated crash');
        },
      });
      await engine.close();
      const r = await first.workflows.start('fan-post', invoices(3), ADA);
      await first.workflows.tick();
      expect(erp.calls('POST /invoices/:id/post')).toBe(2);
      expect((await first.workflows.get(r.id)).steps.fan?.items?.[1]?.status).toBe('running');
      await first.close();

      extra.store = await t.reopen();
      extra.engine = await open(extra.store);
      await sleep(250);
      await extra.engine.workflows.drain();
      const done = await extra.engine.workflows.get(r.id);
      expect(done.status).toBe('completed');
      expect(erp.calls('POST /invoices/:id/post')).toBe(3);
      const posts = (await extra.engine.actions.list({})).filter((a) => a.tool === 'erp.post_invoice');
      expect(posts).toHaveLength(3);
    });
  });

  describe('consensus', () => {
    it('completes with the value a quorum of different agents agree on', async () => {
      const view = await run('vote', { 'voter-1': 'yes', 'voter-2': 'no', 'voter-3': 'yes' });
      expect(view.status).toBe('completed');
      expect(view.steps.decide?.output).toEqual({
        value: 'yes',
        votes: [
          { agent: 'voter-1', value: 'yes' },
          { agent: 'voter-2', value: 'no' },
          { agent: 'voter-3', value: 'yes' },
        ],
      });
    });

    it('fails for good once agreement has become impossible', async () => {
      const view = await run('vote', { 'voter-1': 'a', 'voter-2': 'b', 'voter-3': 'c' });
      expect(view.status).toBe('failed');
      expect(view.error).toMatchObject({ code: 'no_consensus', retryable: false });
    });

    it('fails clearly when the role has fewer active agents than asked', async () => {
      const view = await run('vote-four');
      expect(view.status).toBe('failed');
      expect(view.error?.code).toBe('not_enough_agents');
      expect(view.error?.message).toContain("role 'voter' has 3 active agent(s); consensus needs 4");
    });
  });

  describe('wait', () => {
    it('completes with the data of a signal sent while it waits', async () => {
      let view = await run('await-signal');
      expect(view.steps.go).toMatchObject({ status: 'waiting', event: 'go' });
      await engine.workflows.signal({ runId: view.id, name: 'other', data: 1, by: ADA });
      await engine.workflows.signal({ runId: view.id, name: 'go', data: { ok: true }, by: ADA });
      await engine.workflows.drain();
      view = await engine.workflows.get(view.id);
      expect(view.status).toBe('completed');
      expect(view.steps.go?.output).toEqual({ ok: true });
      expect(view.events.filter((e) => e.type === 'signal_received')).toHaveLength(2);
    });

    it('delivers a signal sent before the step started waiting', async () => {
      let view = await run('await-go');
      expect(view.steps.hold?.status).toBe('waiting');
      await engine.workflows.signal({ runId: view.id, name: 'go', data: 'early', by: ADA });
      await engine.workflows.drain();
      expect((await engine.workflows.get(view.id)).steps.go?.status).toBe('pending');
      const frank = (await t.store.humans.require('frank')) as Human;
      await engine.workflows.decide({ runId: view.id, stepId: 'hold', human: frank, vote: 'approve' });
      await engine.workflows.drain();
      view = await engine.workflows.get(view.id);
      expect(view.status).toBe('completed');
      expect(view.steps.go?.output).toBe('early');
    });

    it('refuses a signal to a finished run', async () => {
      const view = await run('await-until', { at: '2000-01-01T00:00:00Z' });
      expect(view.status).toBe('completed');
      await expect(engine.workflows.signal({ runId: view.id, name: 'go', by: ADA })).rejects.toBeInstanceOf(
        ConflictError,
      );
    });

    it('wakes a timed wait at the wake time recorded when it started', async () => {
      let view = await run('await-time');
      expect(view.status).toBe('running');
      const wakeAtMs = view.steps.nap?.wakeAtMs as number;
      expect(view.events.find((e) => e.type === 'step_waiting')).toMatchObject({ wakeAtMs });
      await sleep(1100);
      await engine.workflows.drain();
      view = await engine.workflows.get(view.id);
      expect(view.status).toBe('completed');
      expect(view.steps.nap?.output).toEqual({ wokeAt: new Date(wakeAtMs).toISOString() });
    });
  });

  describe('workflow (sub-runs)', () => {
    const child = async (parentId: string) =>
      (await t.raw('SELECT id, parent_step_id FROM workflow_runs WHERE parent_run_id = ?', [parentId])) as {
        id: string;
        parent_step_id: string;
      }[];

    it('completes with the child run’s output', async () => {
      const view = await run('parent', invoices(2));
      expect(view.status).toBe('completed');
      const kids = await child(view.id);
      expect(kids).toHaveLength(1);
      expect(kids[0]?.parent_step_id).toBe('child');
      expect(view.steps.child?.childRunId).toBe(kids[0]?.id);
      expect(await engine.workflows.get(kids[0]?.id as string)).toMatchObject({
        status: 'completed',
        parentRunId: view.id,
        parentStepId: 'child',
        createdBy: `run:${view.id}`,
      });
      expect((view.steps.child?.output as { fan: unknown[] }).fan).toHaveLength(2);
      expect(erp.calls('POST /invoices/:id/post')).toBe(2);
    });

    it('fails with the child run’s error', async () => {
      erp.state.failNotify = true;
      const view = await run('parent', invoices(1));
      expect(view.status).toBe('failed');
      expect(view.error?.code).toBe('child_failed');
      expect(view.error?.message).toContain('fan-then-notify');
      expect(erp.calls('POST /invoices/:id/void')).toBe(1);
    });

    it('starts one child only when the parent crashes after starting it', async () => {
      let crashes = 0;
      const first = await open(t.store, {
        leaseMs: 200,
        crash: (point) => {
          if (point === 'workflow.after-child-start' && crashes++ === 0) throw new Error('simulated crash');
        },
      });
      await engine.close();
      const r = await first.workflows.start('parent', invoices(1), ADA);
      await first.workflows.tick();
      expect((await first.workflows.get(r.id)).steps.child?.status).toBe('running');
      expect(await child(r.id)).toHaveLength(1);
      await first.close();

      extra.store = await t.reopen();
      extra.engine = await open(extra.store);
      await sleep(250);
      await extra.engine.workflows.drain();
      const done = await extra.engine.workflows.get(r.id);
      expect(done.status).toBe('completed');
      expect(await child(r.id)).toHaveLength(1);
      expect(erp.calls('POST /invoices/:id/post')).toBe(1);
    });

    it('cancels the child when the parent fails, and a retry starts a new child', async () => {
      erp.state.failNotify = true;
      let view = await run('parent-fails');
      expect(view.status).toBe('failed');
      const first = view.steps.child?.childRunId as string;
      expect((await engine.workflows.get(first)).status).toBe('cancelled');
      erp.state.failNotify = false;
      await engine.workflows.retry(view.id, ADA);
      await engine.workflows.drain();
      view = await engine.workflows.get(view.id);
      const second = view.steps.child?.childRunId as string;
      expect(second).not.toBe(first);
      await engine.workflows.signal({ runId: second, name: 'go', data: 'now', by: ADA });
      await engine.workflows.drain();
      view = await engine.workflows.get(view.id);
      expect(view.status).toBe('completed');
      expect(view.steps.child?.output).toEqual({ go: 'now' });
      expect(await child(view.id)).toHaveLength(2);
    });

    it('cancels the child when the parent is cancelled', async () => {
      const view = await run('parent-waits');
      const kid = view.steps.child?.childRunId as string;
      expect((await engine.workflows.get(kid)).steps.go?.status).toBe('waiting');
      await engine.workflows.cancel(view.id, ADA, 'no longer needed');
      await engine.workflows.drain();
      expect((await engine.workflows.get(view.id)).status).toBe('cancelled');
      expect((await engine.workflows.get(kid)).status).toBe('cancelled');
      expect(await child(view.id)).toHaveLength(1);
    });
  });

  describe('retry', () => {
    it('does the failed step again with a new key and not the completed ones', async () => {
      erp.state.failNotify = true;
      let view = await run('post-then-notify');
      expect(view.status).toBe('failed');
      expect(erp.calls('POST /invoices/:id/post')).toBe(1);
      expect(erp.calls('POST /notifications')).toBe(1);
      erp.state.failNotify = false;
      await engine.workflows.retry(view.id, ADA);
      await engine.workflows.drain();
      view = await engine.workflows.get(view.id);
      expect(view.status).toBe('completed');
      expect(view.error).toBeNull();
      expect(view.steps.b?.attempt).toBe(2);
      expect(erp.calls('POST /invoices/:id/post')).toBe(1);
      expect(erp.calls('POST /notifications')).toBe(2);
      const keys = (await engine.actions.list({})).filter((a) => a.tool === 'erp.notify');
      expect(keys.map((a) => a.idempotencyKey).sort()).toEqual([`wf:${view.id}:b:1`, `wf:${view.id}:b:2`]);
      const audit = (await t.raw(
        "SELECT actor, payload FROM audit_log WHERE type = 'workflow.run_retried'",
      )) as {
        actor: string;
        payload: string;
      }[];
      expect(audit.map((a) => ({ actor: a.actor, payload: JSON.parse(a.payload) as unknown }))).toEqual([
        { actor: 'human:ada', payload: { steps: ['b'] } },
      ]);
      expect((await t.store.audit.verify()).ok).toBe(true);
    });

    it('redoes compensated items and keeps the completed steps', async () => {
      erp.state.failNotify = true;
      let view = await run('fan-then-notify', invoices(2));
      expect(view.status).toBe('failed');
      erp.state.failNotify = false;
      await engine.workflows.retry(view.id, ADA);
      await engine.workflows.drain();
      view = await engine.workflows.get(view.id);
      expect(view.status).toBe('completed');
      expect(erp.calls('POST /invoices/:id/post')).toBe(4);
      expect(erp.calls('POST /invoices/:id/void')).toBe(2);
      expect(view.events.filter((e) => e.type === 'run_retried')).toHaveLength(1);
      const keys = (await engine.actions.list({}))
        .filter((a) => a.tool === 'erp.post_invoice')
        .map((a) => a.idempotencyKey)
        .sort();
      expect(keys).toEqual(
        [0, 1].flatMap((i) => [`wf:${view.id}:fan:1:${i}`, `wf:${view.id}:fan:2:${i}`]).sort(),
      );
    });

    it('refuses to retry a run that is not failed', async () => {
      const view = await run('await-signal');
      await expect(engine.workflows.retry(view.id, ADA)).rejects.toThrow(/only a failed run/);
    });
  });
});
