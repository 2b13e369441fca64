import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { backends } from '../../../../test/helpers/backends.js';
import type { TestStore } from '../../../../test/helpers/backends.js';
import {
  INVOICES,
  invoicesConfig,
  invoicesEngine,
  seedInvoices,
  startErp,
} from '../../../../test/helpers/invoices.js';
import type { Erp } from '../../../../test/helpers/invoices.js';
import type { Engine } from '../engine.js';
import { ConflictError } from '../errors.js';
import { defineWorkflow, loadWorkflowFile } from './definition.js';
import type { WorkflowDefinition } from './definition.js';
import { loadRuleModule } from './rule-module.js';
import type { WorkflowEvent } from './history.js';
import { checkDeterminism } from './history-check.js';
import { ADA, FIONA } from '../../../../test/helpers/people.js';

const doc = (id: string, total = 250) => ({
  invoiceId: id,
  document: { number: id, vendor: 'acme', total, currency: 'EUR' },
});

/** Two posts in parallel, then a notification: parallel action items and a plain action step. */
const fanOut = defineWorkflow({
  name: 'post-many',
  version: 1,
  owner: 'fiona',
  steps: {
    posts: {
      kind: 'parallel',
      over: '["pm-1", "pm-2"]',
      do: {
        kind: 'action',
        as: 'poster',
        tool: 'erp.post_invoice',
        input: '{ "invoiceId": item, "vendor": "acme", "amount": 5 }',
      },
    },
  },
});

describe.each(backends)('intervention pauses running workflows on $name', (backend) => {
  let t: TestStore;
  let erp: Erp;
  let engine: Engine;
  const posts = () => erp.calls('POST /invoices/:id/post');
  const paused = (events: { type: string }[]) =>
    events.filter((e) => e.type === 'step_paused') as Extract<WorkflowEvent, { type: 'step_paused' }>[];
  const auditCount = async (type: string) =>
    (await t.raw('SELECT seq FROM audit_log WHERE type = ?', [type])).length;

  beforeEach(async (ctx) => {
    if (!backend.enabled) return ctx.skip();
    t = await backend.create();
    erp = await startErp();
    await seedInvoices(t);
    const approval = loadWorkflowFile(path.join(INVOICES, 'workflows', 'invoice-approval.yaml'));
    engine = await invoicesEngine(t.store, invoicesConfig(erp.url), {}, { workflows: [approval, fanOut] });
  });
  afterEach(async () => {
    await engine?.close();
    await erp?.close();
    await t?.cleanup();
  });

  it('pauses the next step under a global kill switch and completes once it is lifted', async () => {
    const run = await engine.workflows.start('invoice-approval', doc('inv-g', 5000), ADA);
    await engine.workflows.drain();
    // The run waits for finance; the switch is engaged, then the approval lets the run go to its next step.
    await engine.killSwitches.set({ scope: 'global', active: true, reason: 'incident' }, 'human:ada');
    const frank = (await t.store.humans.require('frank'))!;
    await engine.workflows.decide({ runId: run.id, stepId: 'approve', human: frank, vote: 'approve' });
    await engine.workflows.drain();
    let view = await engine.workflows.get(run.id);
    expect(view.status).toBe('running');
    expect(posts()).toBe(0);
    const held = Object.entries(view.steps).filter(([, s]) => s.pausedReason === 'intervention');
    expect(held).toHaveLength(1);
    expect(held[0]?.[0]).toBe('post');
    expect(held[0]?.[1].pausedDetail).toContain('kill switch global is engaged');
    expect(held[0]?.[1].attempt).toBe(0);
    // One event per hold, however many ticks look at it.
    await engine.workflows.drain();
    await engine.workflows.tick();
    view = await engine.workflows.get(run.id);
    expect(paused(view.events)).toHaveLength(1);
    expect(paused(view.events)[0]).toMatchObject({ reason: 'intervention' });
    expect(await auditCount('workflow.step_paused')).toBe(1);

    await engine.killSwitches.set({ scope: 'global', active: false }, 'human:ada');
    await engine.workflows.drain();
    view = await engine.workflows.get(run.id);
    expect(view.status).toBe('completed');
    expect(posts()).toBe(1);
    expect(erp.calls('POST /notifications')).toBe(1);
    const post = await engine.actions.require(view.steps.post?.actionId as string);
    expect(post.idempotencyKey).toBe(`wf:${run.id}:post:1`);
    expect(view.steps.post?.pausedReason).toBeUndefined();
    // The recorded history replays deterministically: the pause is an input, not a decision.
    const def = engine.workflows.definitions().find((d) => d.name === 'invoice-approval');
    await checkDeterminism(
      { runId: run.id, workflow: def as WorkflowDefinition, events: view.events },
      await loadRuleModule(path.join(INVOICES, 'rules.mjs')),
    );
  });

  it('pauses an action step while its agent is paused and goes on under the same key once it is resumed', async () => {
    await t.store.agents.setStatus('poster', 'pause', 'human:ada');
    const run = await engine.workflows.start('invoice-approval', doc('inv-a'), ADA);
    await engine.workflows.drain();
    let view = await engine.workflows.get(run.id);
    expect(view.status).toBe('running');
    expect(view.steps.extract?.status).toBe('completed');
    expect(view.steps.post).toMatchObject({
      status: 'pending',
      attempt: 0,
      pausedReason: 'intervention',
      pausedDetail: 'agent poster is paused',
    });
    expect(posts()).toBe(0);
    await t.store.agents.setStatus('poster', 'resume', 'human:ada');
    await engine.workflows.drain();
    view = await engine.workflows.get(run.id);
    expect(view.status).toBe('completed');
    expect(posts()).toBe(1);
    const post = await engine.actions.require(view.steps.post?.actionId as string);
    expect(post.idempotencyKey).toBe(`wf:${run.id}:post:1`);
  });

  it('pauses the extract task while every clerk is paused', async () => {
    await t.store.agents.setStatus('clerk-1', 'pause', 'human:ada');
    const run = await engine.workflows.start('invoice-approval', doc('inv-c'), ADA);
    await engine.workflows.drain();
    let view = await engine.workflows.get(run.id);
    expect(view.status).toBe('running');
    expect(view.steps.extract).toMatchObject({
      status: 'pending',
      attempt: 0,
      pausedReason: 'intervention',
      pausedDetail: 'agent clerk-1 is paused',
    });
    await t.store.agents.setStatus('clerk-1', 'resume', 'human:ada');
    await engine.workflows.drain();
    view = await engine.workflows.get(run.id);
    expect(view.status).toBe('completed');
    expect(view.steps.extract?.attempt).toBe(1);
    expect(posts()).toBe(1);
  });

  it('pauses a rule task whose role a kill switch stops', async () => {
    await engine.killSwitches.set({ scope: 'role:critic', active: true }, 'human:ada');
    const run = await engine.workflows.start('invoice-approval', doc('inv-r'), ADA);
    await engine.workflows.drain();
    let view = await engine.workflows.get(run.id);
    expect(view.steps.review).toMatchObject({ status: 'pending', pausedReason: 'intervention' });
    expect(view.steps.review?.pausedDetail).toContain('role:critic');
    await engine.killSwitches.set({ scope: 'role:critic', active: false }, 'human:ada');
    await engine.workflows.drain();
    view = await engine.workflows.get(run.id);
    expect(view.status).toBe('completed');
  });

  it('still fails a step whose agent was revoked', async () => {
    await t.store.agents.setStatus('poster', 'revoke', 'human:ada');
    const run = await engine.workflows.start('invoice-approval', doc('inv-x'), ADA);
    await engine.workflows.drain();
    const view = await engine.workflows.get(run.id);
    expect(view.status).toBe('failed');
    expect(view.steps.post?.error?.code).toBe('action_denied');
    expect(paused(view.events)).toHaveLength(0);
    expect(posts()).toBe(0);
  });

  it('turns a pipeline denial by a switch engaged after the check into a pause, with a new key later', async () => {
    const run = await engine.workflows.start('invoice-approval', doc('inv-race'), ADA);
    // Engage the switch inside the pipeline's window: right when the post step's action is being submitted.
    const submit = engine.actions.submit.bind(engine.actions);
    let engaged = false;
    engine.actions.submit = async (agent, req, opts) => {
      if (!engaged && req.tool === 'erp.post_invoice') {
        engaged = true;
        await engine.killSwitches.set({ scope: 'agent:poster', active: true }, 'human:ada');
      }
      return submit(agent, req, opts);
    };
    await engine.workflows.drain();
    let view = await engine.workflows.get(run.id);
    expect(view.status).toBe('running');
    expect(view.steps.post).toMatchObject({ status: 'pending', attempt: 1, pausedReason: 'intervention' });
    expect(paused(view.events).at(-1)).toMatchObject({ restart: true });
    expect(posts()).toBe(0);
    await engine.killSwitches.set({ scope: 'agent:poster', active: false }, 'human:ada');
    await engine.workflows.drain();
    view = await engine.workflows.get(run.id);
    expect(view.status).toBe('completed');
    expect(posts()).toBe(1);
    const post = await engine.actions.require(view.steps.post?.actionId as string);
    expect(post.idempotencyKey).toBe(`wf:${run.id}:post:2`);
  });

  it('does not lose a compensation the pipeline denied under a switch engaged mid-submit', async () => {
    erp.state.failNotify = true;
    const run = await engine.workflows.start('invoice-approval', doc('inv-void'), ADA);
    const submit = engine.actions.submit.bind(engine.actions);
    let engaged = false;
    engine.actions.submit = async (agent, req, opts) => {
      if (!engaged && req.tool === 'erp.void_invoice') {
        engaged = true;
        await engine.killSwitches.set({ scope: 'role:poster', active: true }, 'human:ada');
      }
      return submit(agent, req, opts);
    };
    for (let i = 0; i < 5 && (await engine.workflows.get(run.id)).status === 'running'; i++) {
      await engine.workflows.drain();
      await new Promise((r) => setTimeout(r, 1100)); // the notify step's retry backoff (1 s)
    }
    await engine.workflows.drain();
    let view = await engine.workflows.get(run.id);
    expect(view.status).toBe('compensating');
    expect(erp.calls('POST /invoices/:id/void')).toBe(0);
    expect(paused(view.events).at(-1)).toMatchObject({ restart: true, compensation: true, stepId: 'post' });
    await engine.killSwitches.set({ scope: 'role:poster', active: false }, 'human:ada');
    await engine.workflows.drain();
    view = await engine.workflows.get(run.id);
    expect(view.status).toBe('failed');
    expect(erp.calls('POST /invoices/:id/void')).toBe(1);
    const voids = (await engine.actions.list({})).filter((a) => a.tool === 'erp.void_invoice');
    expect(voids.map((a) => [a.status, a.idempotencyKey])).toEqual(
      expect.arrayContaining([
        ['denied', `wf:${run.id}:post:compensate`],
        ['succeeded', `wf:${run.id}:post:compensate:retry1`],
      ]),
    );
  });

  it('pauses parallel action items and their compensation-free fan-in until the agent is back', async () => {
    await t.store.agents.setStatus('poster', 'pause', 'human:ada');
    const run = await engine.workflows.start('post-many', {}, ADA);
    await engine.workflows.drain();
    let view = await engine.workflows.get(run.id);
    expect(view.status).toBe('running');
    expect(view.steps.posts).toMatchObject({ pausedReason: 'intervention' });
    expect(posts()).toBe(0);
    await t.store.agents.setStatus('poster', 'resume', 'human:ada');
    await engine.workflows.drain();
    view = await engine.workflows.get(run.id);
    expect(view.status).toBe('completed');
    expect(posts()).toBe(2);
  });

  it('gives a parallel item back when the pipeline denied it under a switch engaged mid-submit', async () => {
    const run = await engine.workflows.start('post-many', {}, ADA);
    const submit = engine.actions.submit.bind(engine.actions);
    let engaged = false;
    engine.actions.submit = async (agent, req, opts) => {
      if (!engaged && req.tool === 'erp.post_invoice') {
        engaged = true;
        await engine.killSwitches.set({ scope: 'agent:poster', active: true }, 'human:ada');
      }
      return submit(agent, req, opts);
    };
    await engine.workflows.drain();
    let view = await engine.workflows.get(run.id);
    expect(view.status).toBe('running');
    expect(paused(view.events).at(-1)).toMatchObject({ restart: true, index: 0 });
    expect(posts()).toBe(0);
    await engine.killSwitches.set({ scope: 'agent:poster', active: false }, 'human:ada');
    await engine.workflows.drain();
    view = await engine.workflows.get(run.id);
    expect(view.status).toBe('completed');
    expect(posts()).toBe(2);
    const keys = (await engine.actions.list({}))
      .filter((a) => a.tool === 'erp.post_invoice' && a.status === 'succeeded')
      .map((a) => a.idempotencyKey)
      .sort();
    expect(keys).toEqual([`wf:${run.id}:posts:1:0:retry1`, `wf:${run.id}:posts:1:1`]);
  });

  it('pauses and resumes a whole run: nothing starts or is submitted while paused', async () => {
    const run = await engine.workflows.start('invoice-approval', doc('inv-p'), ADA);
    await engine.workflows.pause(run.id, FIONA, 'checking the vendor');
    await expect(engine.workflows.pause(run.id, FIONA)).rejects.toBeInstanceOf(ConflictError);
    await engine.workflows.drain();
    let view = await engine.workflows.get(run.id);
    expect(view.status).toBe('running');
    expect(view.paused).toEqual({ by: 'human:fiona', reason: 'checking the vendor' });
    expect(Object.values(view.steps).every((s) => s.status === 'pending')).toBe(true);
    expect(posts()).toBe(0);
    await engine.workflows.resume(run.id, FIONA);
    await expect(engine.workflows.resume(run.id, FIONA)).rejects.toBeInstanceOf(ConflictError);
    await engine.workflows.drain();
    view = await engine.workflows.get(run.id);
    expect(view.status).toBe('completed');
    expect(view.paused).toBeUndefined();
    expect(posts()).toBe(1);
    await expect(engine.workflows.pause(run.id, FIONA)).rejects.toBeInstanceOf(ConflictError);
    expect(await auditCount('workflow.run_paused')).toBe(1);
    expect(await auditCount('workflow.run_resumed')).toBe(1);
    expect((await t.store.audit.verify()).ok).toBe(true);
  });

  it('keeps a waiting approval pending while the run is paused, and cancels a paused run', async () => {
    const run = await engine.workflows.start('invoice-approval', doc('inv-w', 5000), ADA);
    await engine.workflows.drain();
    await engine.workflows.pause(run.id, ADA);
    const frank = (await t.store.humans.require('frank'))!;
    await engine.workflows.decide({ runId: run.id, stepId: 'approve', human: frank, vote: 'approve' });
    await engine.workflows.drain();
    let view = await engine.workflows.get(run.id);
    expect(view.steps.approve?.status).toBe('completed');
    expect(view.steps.post?.status).toBe('pending');
    expect(posts()).toBe(0);
    await engine.workflows.cancel(run.id, ADA, 'not needed');
    await engine.workflows.drain();
    view = await engine.workflows.get(run.id);
    expect(view.status).toBe('cancelled');
    expect(posts()).toBe(0);
  });
});
