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
import { ConflictError, ForbiddenError, UserError } from '../errors.js';
import type { Human } from '../identity/humans.js';
import { defineWorkflow, loadWorkflows } from './definition.js';
import type { WorkflowDefinition } from './definition.js';
import { checkDeterminism } from './history-check.js';
import { loadRuleModule } from './rule-module.js';
import type { WorkflowRunDetail } from './workflow-engine.js';
import { ADA } from '../../../../test/helpers/people.js';

const doc = (total: number) => ({
  invoiceId: 'inv-1',
  document: { number: 'inv-1', vendor: 'acme', total, currency: 'EUR' },
});

const fanPost = defineWorkflow({
  name: 'fan-post',
  version: 1,
  owner: 'fiona',
  steps: {
    fan: {
      kind: 'parallel',
      over: 'input.invoices',
      do: {
        kind: 'action',
        as: 'poster',
        tool: 'erp.post_invoice',
        input: '{ "invoiceId": item.id, "vendor": "acme", "amount": item.amount }',
        compensate: { tool: 'erp.void_invoice', input: '{ "invoiceId": output.invoiceId }' },
      },
    },
  },
});

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * The ERP answers after the connector's timeout: the call reached the upstream (the ERP acts before it answers), but
 * the pipeline cannot know, so it records the action `unknown_outcome` — as crash recovery does for an action a dead
 * node left executing.
 */
const SLOW_MS = 1500;
const TIMEOUT_MS = 200;

describe.each(backends)('unknown action outcomes on $name', (backend) => {
  let t: TestStore;
  let erp: Erp;
  let engine: Engine;
  const human = (id: string) => t.store.humans.require(id) as Promise<Human>;
  const auditOf = async (type: string) =>
    (await t.raw('SELECT payload FROM audit_log WHERE type = ? ORDER BY seq', [type])).map(
      (r) => JSON.parse((r as { payload: string }).payload) as Record<string, unknown>,
    );

  beforeEach(async (ctx) => {
    if (!backend.enabled) return ctx.skip();
    t = await backend.create();
    erp = await startErp();
    await seedInvoices(t);
    const config = invoicesConfig(erp.url);
    for (const c of config.connectors ?? []) (c as { timeoutMs?: number }).timeoutMs = TIMEOUT_MS;
    engine = await invoicesEngine(
      t.store,
      config,
      {},
      { workflows: [...loadWorkflows(path.join(INVOICES, 'workflows')), fanPost] },
    );
  });
  afterEach(async () => {
    await engine?.close();
    await erp?.close();
    await t?.cleanup();
  });

  /** Drains until `done` holds (bounded; a step retry waits for its backoff). */
  const until = async (runId: string, done: (r: WorkflowRunDetail) => boolean) => {
    let run = await engine.workflows.get(runId);
    for (let i = 0; i < 60 && !done(run); i++) {
      await engine.workflows.drain();
      run = await engine.workflows.get(runId);
      if (!done(run)) await sleep(100);
    }
    return run;
  };

  /** Replays the run's history through the history checker: the flag and the decision are inputs. */
  const deterministic = async (run: WorkflowRunDetail) => {
    const workflow = engine.workflows
      .definitions()
      .find((d) => d.name === run.workflow) as WorkflowDefinition;
    const rules = await loadRuleModule(path.join(INVOICES, 'rules.mjs'));
    await checkDeterminism({ runId: run.id, workflow, events: run.events }, rules);
  };

  /** A small invoice run whose post reached the ERP but answered too late: flagged and waiting. */
  const flaggedPost = async () => {
    erp.state.delayMs = SLOW_MS;
    const started = await engine.workflows.start('invoice-approval', doc(250), ADA);
    const run = await until(started.id, (r) => r.steps.post?.unknownOutcome !== undefined);
    erp.state.delayMs = 0;
    return run;
  };

  it('holds the step for the owner instead of failing the run', async () => {
    const run = await flaggedPost();
    const post = run.steps.post;
    const action = await engine.actions.require(post?.actionId as string);
    expect(action.status).toBe('unknown_outcome');
    expect(run.status).toBe('running');
    expect(post).toMatchObject({
      status: 'waiting',
      escalatedTo: 'fiona',
      unknownOutcome: { actionId: action.id },
    });
    await engine.workflows.drain();
    const still = await engine.workflows.get(run.id);
    expect(still.status).toBe('running');
    expect(still.steps.notify?.status).toBe('pending');
    expect(erp.calls('POST /invoices/:id/post')).toBe(1); // never sent again on its own
    const [escalated] = await auditOf('workflow.step_escalated');
    expect(escalated).toMatchObject({ stepId: 'post', to: 'fiona', unknownOutcome: { actionId: action.id } });
    expect(String(escalated?.reason)).toContain(action.id);
  });

  it('completes the step with the given output on succeeded, and compensates it if the run later fails', async () => {
    const run = await flaggedPost();
    erp.state.failNotify = true;
    const resolved = await engine.workflows.resolveOutcome({
      runId: run.id,
      stepId: 'post',
      human: await human('fiona'),
      outcome: 'succeeded',
      output: { invoiceId: 'inv-1', entry: 'je_1' },
      comment: 'the ERP shows it posted',
    });
    expect(resolved.steps.post).toMatchObject({
      status: 'completed',
      output: { invoiceId: 'inv-1', entry: 'je_1' },
    });
    expect(resolved.steps.post?.unknownOutcome).toBeUndefined();
    const done = await until(run.id, (r) => r.status === 'failed');
    expect(done.status).toBe('failed');
    expect(erp.calls('POST /invoices/:id/post')).toBe(1);
    expect(erp.calls('POST /notifications')).toBe(2); // notify's two attempts, none used by the decision
    expect(erp.calls('POST /invoices/:id/void')).toBe(1); // the resolved post is compensated
    await deterministic(done);
    expect(await auditOf('workflow.outcome_resolved')).toEqual([
      {
        stepId: 'post',
        actionId: run.steps.post?.actionId,
        outcome: 'succeeded',
        index: null,
        compensation: false,
        comment: 'the ERP shows it posted',
      },
    ]);
    expect((await t.store.audit.verify()).ok).toBe(true);
  });

  it('fails the step for good on failed: the run fails without compensating it', async () => {
    const run = await flaggedPost();
    await engine.workflows.resolveOutcome({
      runId: run.id,
      stepId: 'post',
      human: await human('ada'), // an admin may decide too
      outcome: 'failed',
    });
    const done = await until(run.id, (r) => r.status === 'failed');
    expect(done.steps.post).toMatchObject({ status: 'failed', error: { code: 'unknown_outcome' } });
    expect(erp.calls('POST /invoices/:id/void')).toBe(0);
    expect(erp.calls('POST /notifications')).toBe(0);
    await deterministic(done);
  });

  it('starts a new attempt under a new idempotency key on retry', async () => {
    const run = await flaggedPost();
    await engine.workflows.resolveOutcome({
      runId: run.id,
      stepId: 'post',
      human: await human('fiona'),
      outcome: 'retry',
    });
    const done = await until(run.id, (r) => r.status === 'completed');
    expect(done.status).toBe('completed');
    const action = await engine.actions.require(done.steps.post?.actionId as string);
    expect(action.idempotencyKey).toBe(`wf:${run.id}:post:2`);
    expect(erp.calls('POST /invoices/:id/post')).toBe(2); // the human vouched it had not happened
    expect(erp.calls('POST /notifications')).toBe(1);
    await deterministic(done);
  });

  it('refuses others (403), steps not waiting for a decision (409) and bad outcomes', async () => {
    const run = await flaggedPost();
    const resolve = async (h: string, stepId: string, outcome = 'succeeded') =>
      engine.workflows
        .resolveOutcome({ runId: run.id, stepId, human: await human(h), outcome: outcome as 'succeeded' })
        .then(
          () => 'ok',
          (err: Error) => err,
        );
    expect(await resolve('frank', 'post')).toBeInstanceOf(ForbiddenError);
    expect(await resolve('fiona', 'extract')).toBeInstanceOf(ConflictError);
    expect(await resolve('fiona', 'nope')).toBeInstanceOf(ConflictError);
    const bad = await resolve('fiona', 'post', 'maybe');
    expect(bad).toBeInstanceOf(UserError);
    expect((bad as UserError).field).toBe('outcome');
    expect(await auditOf('workflow.outcome_resolved')).toEqual([]);
    expect(await resolve('fiona', 'post')).toBe('ok');
    expect(await resolve('fiona', 'post')).toBeInstanceOf(ConflictError); // already decided
  });

  it.each(['retry', 'succeeded', 'failed'] as const)(
    'holds compensation on an unknown outcome and goes on after %s',
    async (outcome) => {
      erp.state.failNotify = true;
      const started = await engine.workflows.start('invoice-approval', doc(250), ADA);
      const mid = await until(started.id, (r) => r.steps.post?.status === 'completed');
      erp.state.delayMs = SLOW_MS;
      await engine.workflows.cancel(started.id, ADA);
      const held = await until(started.id, (r) => r.steps.post?.unknownOutcome !== undefined);
      erp.state.delayMs = 0;
      expect(held.status).toBe('compensating');
      expect(held.steps.post?.unknownOutcome).toMatchObject({ compensation: true });
      await engine.workflows.drain();
      expect((await engine.workflows.get(mid.id)).status).toBe('compensating');
      await engine.workflows.resolveOutcome({
        runId: started.id,
        stepId: 'post',
        human: await human('fiona'),
        outcome,
      });
      const done = await until(started.id, (r) => r.status === 'cancelled');
      expect(done.status).toBe('cancelled');
      const compensations = await auditOf('workflow.step_compensated');
      expect(compensations.map((c) => c.status)).toEqual([outcome === 'retry' ? 'succeeded' : outcome]);
      expect(erp.calls('POST /invoices/:id/void')).toBe(outcome === 'retry' ? 2 : 1);
      await deterministic(done);
      if (outcome === 'retry') {
        const voids = await t.raw('SELECT idempotency_key FROM actions WHERE tool = ? ORDER BY created_at', [
          'erp.void_invoice',
        ]);
        expect(voids.map((v) => (v as { idempotency_key: string }).idempotency_key)).toEqual([
          `wf:${started.id}:post:compensate`,
          `wf:${started.id}:post:compensate:retry1`,
        ]);
      }
    },
  );

  it('holds a parallel item on an unknown outcome until the owner decides, then retries it under a new key', async () => {
    const input = { invoices: [{ id: 'inv-a', amount: 10 }] };
    erp.state.delayMs = SLOW_MS;
    const started = await engine.workflows.start('fan-post', input, ADA);
    const held = await until(started.id, (r) => !!r.steps.fan?.items?.[0]?.unknownOutcome);
    erp.state.delayMs = 0;
    expect(held.status).toBe('running');
    expect(held.steps.fan?.items?.[0]).toMatchObject({ status: 'waiting' });
    await engine.workflows.resolveOutcome({
      runId: started.id,
      stepId: 'fan',
      human: await human('fiona'),
      outcome: 'retry',
    });
    const done = await until(started.id, (r) => r.status === 'completed');
    expect(done.output).toEqual({ fan: [{ invoiceId: 'inv-a', status: 'posted', entry: 'je_2' }] });
    const keys = await t.raw('SELECT idempotency_key FROM actions ORDER BY created_at');
    expect(keys.map((k) => (k as { idempotency_key: string }).idempotency_key)).toEqual([
      `wf:${started.id}:fan:1:0`,
      `wf:${started.id}:fan:1:0:retry1`,
    ]);
  });
});
