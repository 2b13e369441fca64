import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { backends } from '../../../../test/helpers/backends.js';
import type { TestStore } from '../../../../test/helpers/backends.js';
import {
  INVOICES,
  ERP_KEY,
  invoicesConfig,
  invoicesEngine,
  seedInvoices,
  startErp,
} from '../../../../test/helpers/invoices.js';
import type { Erp } from '../../../../test/helpers/invoices.js';
import { createEngine } from '../engine.js';
import type { Engine } from '../engine.js';
import { ForbiddenError } from '../errors.js';
import type { Human } from '../identity/humans.js';
import { EnvSecretStore } from '../secrets/index.js';
import { loadWorkflowFile, parseWorkflow } from './definition.js';
import type { Store } from '../store/open-store.js';
import { ADA } from '../../../../test/helpers/people.js';
import { recordAppendAlone } from '../../../../test/helpers/statements.js';

const doc = (total: number, extra: Record<string, unknown> = {}) => ({
  invoiceId: 'inv-1',
  document: { number: 'inv-1', vendor: 'acme', total, currency: 'EUR', ...extra },
});

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe.each(backends)('invoice workflow on $name', (backend) => {
  let t: TestStore;
  let erp: Erp;
  let engine: Engine;
  const extra: { engine?: Engine; store?: Store } = {};
  const human = (id: string) => t.store.humans.require(id) as Promise<Human>;
  const auditTypes = async () =>
    (await t.raw("SELECT type FROM audit_log WHERE type LIKE 'workflow.%' ORDER BY seq")).map(
      (r) => (r as { type: string }).type,
    );

  beforeEach(async (ctx) => {
    if (!backend.enabled) return ctx.skip();
    t = await backend.create();
    erp = await startErp();
    await seedInvoices(t);
    engine = await invoicesEngine(t.store, invoicesConfig(erp.url));
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

  it('posts a small invoice without approval and completes', async () => {
    const run = await engine.workflows.start('invoice-approval', doc(250), ADA);
    await engine.workflows.drain();
    const done = await engine.workflows.get(run.id);
    expect(done.status).toBe('completed');
    expect(done.output).toEqual({ invoiceId: 'inv-1', entry: 'je_1' });
    expect(done.steps.approve?.status).toBe('skipped');
    expect(erp.calls('POST /invoices/:id/post')).toBe(1);
    expect(erp.calls('POST /notifications')).toBe(1);
    const post = await engine.actions.require(done.steps.post?.actionId as string);
    expect(post.idempotencyKey).toBe(`wf:${run.id}:post:1`);
    expect(await auditTypes()).toEqual([
      'workflow.run_started',
      'workflow.step_completed',
      'workflow.step_completed',
      'workflow.step_completed',
      'workflow.step_completed',
      'workflow.run_completed',
    ]);
    expect((await t.store.audit.verify()).ok).toBe(true);
  });

  it('waits for a finance approval on a large invoice, then posts it', async () => {
    const run = await engine.workflows.start('invoice-approval', doc(5000), ADA);
    await engine.workflows.drain();
    let view = await engine.workflows.get(run.id);
    expect(view.status).toBe('running');
    expect(view.steps.approve).toMatchObject({ status: 'waiting', approval: { group: 'approvers:finance' } });
    expect(erp.calls('POST /invoices/:id/post')).toBe(0);
    await expect(
      engine.workflows.decide({
        runId: run.id,
        stepId: 'approve',
        human: await human('ada'),
        vote: 'approve',
      }),
    ).rejects.toBeInstanceOf(ForbiddenError);
    await engine.workflows.decide({
      runId: run.id,
      stepId: 'approve',
      human: await human('frank'),
      vote: 'approve',
    });
    await engine.workflows.drain();
    view = await engine.workflows.get(run.id);
    expect(view.status).toBe('completed');
    expect(view.steps.approve?.output).toEqual({ approved: true, approvers: ['frank'] });
    expect(erp.calls('POST /invoices/:id/post')).toBe(1);
  });

  it('fails the run on a denied approval without posting anything', async () => {
    const run = await engine.workflows.start('invoice-approval', doc(5000), ADA);
    await engine.workflows.drain();
    await engine.workflows.decide({
      runId: run.id,
      stepId: 'approve',
      human: await human('fiona'),
      vote: 'deny',
    });
    await engine.workflows.drain();
    const view = await engine.workflows.get(run.id);
    expect(view.status).toBe('failed');
    expect(view.error?.code).toBe('approval_denied');
    expect(erp.calls('POST /invoices/:id/post')).toBe(0);
  });

  it('voids the posted invoice exactly once when a later step fails after its retries', async () => {
    erp.state.failNotify = true;
    const run = await engine.workflows.start('invoice-approval', doc(250), ADA);
    await engine.workflows.drain();
    expect((await engine.workflows.get(run.id)).steps.notify?.status).toBe('pending'); // retry scheduled
    await sleep(1100);
    await engine.workflows.drain();
    await engine.workflows.drain();
    const view = await engine.workflows.get(run.id);
    expect(view.status).toBe('failed');
    expect(view.error?.code).toBe('action_failed');
    expect(erp.calls('POST /notifications')).toBe(2);
    expect(erp.calls('POST /invoices/:id/post')).toBe(1);
    expect(erp.calls('POST /invoices/:id/void')).toBe(1);
    const voided = await engine.actions.list({});
    expect(voided.find((a) => a.tool === 'erp.void_invoice')?.idempotencyKey).toBe(
      `wf:${run.id}:post:compensate`,
    );
    const types = await auditTypes();
    expect(types.slice(-3)).toEqual([
      'workflow.step_compensated',
      'workflow.run_compensated',
      'workflow.run_failed',
    ]);
  });

  it('reruns the extraction with the critic’s critique until it is accepted', async () => {
    const run = await engine.workflows.start('invoice-approval', doc(250, { currency: undefined }), ADA);
    await engine.workflows.drain();
    const view = await engine.workflows.get(run.id);
    expect(view.status).toBe('completed');
    expect(view.steps.extract?.output).toMatchObject({ currency: 'EUR' });
    expect(view.events.filter((e) => e.type === 'review_rejected')).toMatchObject([
      { target: 'extract', round: 1, critique: 'currency missing' },
    ]);
  });

  it('fails after the critic rejects more than maxRounds times', async () => {
    const run = await engine.workflows.start('invoice-approval', doc(250, { vendor: undefined }), ADA);
    await engine.workflows.drain();
    const view = await engine.workflows.get(run.id);
    expect(view.status).toBe('failed');
    expect(view.error?.code).toBe('review_rejected');
    expect(view.error?.message).toContain('escalated to the owner fiona');
    expect(erp.calls('POST /invoices/:id/post')).toBe(0);
  });

  it('cancels a run waiting for approval', async () => {
    const run = await engine.workflows.start('invoice-approval', doc(5000), ADA);
    await engine.workflows.drain();
    await engine.workflows.cancel(run.id, ADA, 'duplicate invoice');
    await engine.workflows.drain();
    expect((await engine.workflows.get(run.id)).status).toBe('cancelled');
    expect(erp.calls('POST /invoices/:id/post')).toBe(0);
    expect(await auditTypes()).toContain('workflow.run_cancelled');
  });

  it('withdraws the pending approval of an action step when its run is cancelled, so it never executes', async () => {
    // Regression: the approval request outlived the run, and approving it later posted to the ERP anyway.
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'aos-pol-'));
    fs.cpSync(path.join(INVOICES, 'policies'), dir, { recursive: true });
    fs.mkdirSync(path.join(dir, 'approvals'), { recursive: true });
    fs.writeFileSync(
      path.join(dir, 'approvals', 'post.cedar'),
      '@id("post-needs-finance")\n@approvers("finance")\npermit (principal, action == Action::"erp.post_invoice", resource);\n',
    );
    await engine.close();
    engine = await invoicesEngine(t.store, { ...invoicesConfig(erp.url), policies: dir });
    const run = await engine.workflows.start('invoice-approval', doc(250), ADA);
    await engine.workflows.drain();
    const waiting = await engine.workflows.get(run.id);
    expect(waiting.steps.post?.status).toBe('waiting');
    const actionId = waiting.steps.post?.actionId as string;
    const [pending] = await engine.approvals.list({ status: 'pending' });
    expect(pending?.actionId).toBe(actionId);

    await engine.workflows.cancel(run.id, ADA, 'duplicate invoice');
    await engine.workflows.drain();
    expect((await engine.workflows.get(run.id)).status).toBe('cancelled');
    expect((await engine.approvals.require(pending?.id as string)).status).toBe('denied');
    expect((await engine.actions.require(actionId)).status).toBe('rejected');
    await expect(
      engine.actions.vote({
        approvalId: pending?.id as string,
        human: await human('frank'),
        vote: 'approve',
      }),
    ).rejects.toThrow(/already denied/);
    await engine.tick();
    expect(erp.calls('POST /invoices/:id/post')).toBe(0);
    expect(await auditTypes()).toContain('workflow.run_cancelled');
    const withdrawn = await t.raw("SELECT type FROM audit_log WHERE type = 'approval.withdrawn'");
    expect(withdrawn).toHaveLength(1);
  });

  it("denies a run's action over the run's own budget and compensates, counting only that run", async () => {
    const def = loadWorkflowFile(path.join(INVOICES, 'workflows', 'invoice-approval.yaml'));
    await engine.close();
    engine = await createEngine({
      store: t.store,
      config: invoicesConfig(erp.url),
      secrets: new EnvSecretStore({ env: { AOS_SECRET_ERP_API_KEY: ERP_KEY } }),
      workflows: [parseWorkflow({ ...def, budget: { calls: 1 } })],
    });
    await engine.start({ background: false });
    const first = await engine.workflows.start('invoice-approval', doc(250), ADA);
    const second = await engine.workflows.start('invoice-approval', doc(300), ADA);
    await engine.workflows.drain();
    for (const id of [first.id, second.id]) {
      const run = await engine.workflows.get(id);
      expect(run.status).toBe('failed'); // post spent the one call; notify was over budget
      expect(run.error?.code).toBe('action_denied');
      expect(run.budget).toMatchObject({ calls: 1, onExceed: 'deny', used: { calls: 1 } });
      const notify = await engine.actions.require(run.steps.notify?.actionId as string);
      expect(notify.decision.policies).toEqual([`budget:run:${id}/total`]);
    }
    expect(erp.calls('POST /invoices/:id/post')).toBe(2);
    expect(erp.calls('POST /notifications')).toBe(0);
    expect(erp.calls('POST /invoices/:id/void')).toBe(2); // compensation is never held back by the budget
    // The same use, run by run, as `GET /v1/budgets` lists it for the console's budgets page.
    const use = await engine.budgets.runUsage();
    expect(use.map((u) => u.run.id).sort()).toEqual([first.id, second.id].sort());
    expect(use.find((u) => u.run.id === second.id)).toEqual({
      scope: `run:${second.id}`,
      period: 'total',
      calls: 1,
      onExceed: 'deny',
      approvers: 'approvers',
      periodStart: 'total',
      used: { calls: 1, cost: expect.any(Number) as number },
      tokens: { input: 0, output: 0 },
      run: { id: second.id, workflow: 'invoice-approval', status: 'failed' },
    });
  });

  it("records a run's start, its priority and its audit record in one write alone", async () => {
    // Nothing in a start depends on a read: on PostgreSQL one statement that commits by itself (four round trips
    // as a transaction of its own), the run's priority in its row from the first.
    const alone = recordAppendAlone(t.store.audit);
    await engine.close();
    const urgent = parseWorkflow({
      name: 'urgent-check',
      version: 1,
      owner: ADA.id,
      priority: 7,
      steps: { check: { kind: 'task', role: 'clerk', rule: 'urgent-check' } },
    });
    engine = await invoicesEngine(
      t.store,
      invoicesConfig(erp.url),
      {},
      { workflows: [urgent], rules: { 'urgent-check': () => ({ ok: true }) } },
    );
    const run = await engine.workflows.start('urgent-check', {}, ADA);
    const starts = alone.filter((w) => w.some((sql) => sql.includes('INSERT INTO workflow_runs')));
    expect(starts).toHaveLength(1);
    expect(starts[0]?.some((sql) => sql.includes('INSERT INTO workflow_events'))).toBe(true);
    expect(await t.raw(`SELECT priority, status FROM workflow_runs WHERE id = '${run.id}'`)).toEqual([
      { priority: 7, status: 'running' },
    ]);
    const [started] = await t.store.audit.list({ subject: `run:${run.id}` });
    expect(started).toMatchObject({ type: 'workflow.run_started', actor: `human:${ADA.id}` });
    expect((await engine.workflows.get(run.id)).events.map((e) => e.type)).toEqual(['run_started']);
    await engine.workflows.drain();
    expect((await engine.workflows.get(run.id)).status).toBe('completed');
  });

  it("commits a step's completion and the next step's start in one transaction", async () => {
    let commits = 0;
    const first = await invoicesEngine(t.store, invoicesConfig(erp.url), {
      crash: (point) => {
        // The second commit of the run: the first step's end (the first commit started it).
        if (point === 'workflow.after-commit' && ++commits === 2) throw new Error('simulated crash');
      },
    });
    await engine.close();
    const run = await first.workflows.start('invoice-approval', doc(250), ADA);
    await first.workflows.tick();
    const history = (await first.workflows.get(run.id)).events.map((e) =>
      'stepId' in e ? `${e.type}:${e.stepId}` : e.type,
    );
    expect(history).toEqual([
      'run_started',
      'step_started:extract',
      'step_completed:extract',
      'step_started:review',
    ]);
    await first.close();
  });

  // The SQLite store counts its commits by kind; PostgreSQL's synchronous_commit leaves no trace to read.
  it('commits step starts and completions without waiting for the disk, and the run end durably', async (ctx) => {
    if (backend.name !== 'sqlite') return ctx.skip();
    // A durable commit settles after a WAL flush that began after it; a non-durable one settles at its COMMIT.
    const db = t.store.db as unknown as { commits: { batches: number; flushes: number } };
    const kinds: string[] = [];
    let before = { ...db.commits };
    const first = await invoicesEngine(t.store, invoicesConfig(erp.url), {
      crash: (point) => {
        if (point === 'workflow.before-commit') before = { ...db.commits };
        if (point === 'workflow.after-commit')
          kinds.push(
            db.commits.flushes > before.flushes
              ? 'durable'
              : db.commits.batches > before.batches
                ? 'lazy'
                : '?',
          );
      },
    });
    await engine.close();
    const run = await first.workflows.start('invoice-approval', doc(250), ADA);
    await first.workflows.drain();
    expect((await first.workflows.get(run.id)).status).toBe('completed');
    // Every advance's commit but the last (run_completed) holds starts, completions and skips only.
    expect(kinds.slice(0, -1).every((k) => k === 'lazy')).toBe(true);
    expect(kinds.at(-1)).toBe('durable');
    expect(kinds.length).toBeGreaterThan(2);
    await first.close();
  });

  it('refuses input that fails the workflow input schema, naming the field', async () => {
    await expect(
      engine.workflows.start('invoice-approval', { invoiceId: 'bad id!', document: {} }, ADA),
    ).rejects.toThrow(/^input\.invoiceId: must match pattern/);
    expect(await engine.workflows.list()).toEqual([]);
  });

  it('checks the definition against the roles as they are at each start, not as they were at the last one', async () => {
    await engine.workflows.start('invoice-approval', doc(250), ADA);
    // The critic role's only agent goes: the next start is refused, naming the step whose role has no agent.
    await t.store.agents.setStatus('critic-1', 'revoke', 'operator:test');
    await expect(engine.workflows.start('invoice-approval', doc(260), ADA)).rejects.toThrow(
      /^steps\.\w+\.role: unknown role 'critic' \(no agent has it\)/,
    );
    await t.store.agents.create({ id: 'critic-2', role: 'critic', tier: 1, owner: 'fiona' }, 'operator:test');
    await engine.workflows.start('invoice-approval', doc(270), ADA);
    expect(await engine.workflows.list()).toHaveLength(2);
  });

  it('resumes on a new engine after a crash between submitting an action and recording it, with no effect repeated', async () => {
    let crashes = 0;
    const first = await invoicesEngine(t.store, invoicesConfig(erp.url), {
      leaseMs: 10_000,
      crash: (point) => {
        if (point === 'workflow.after-action-submit' && crashes++ === 0) throw new Error('simulated crash');
      },
    });
    await engine.close();
    const run = await first.workflows.start('invoice-approval', doc(250), ADA);
    await first.workflows.tick();
    expect(erp.calls('POST /invoices/:id/post')).toBe(1);
    const stuck = await first.workflows.get(run.id);
    expect(stuck.steps.post?.status).toBe('running'); // the effect happened, its completion was never recorded
    await first.close();

    // A new node on the same database: the dead node's lease runs out and the run finishes there.
    extra.store = await t.reopen();
    extra.engine = await invoicesEngine(extra.store, invoicesConfig(erp.url));
    expect(await extra.engine.workflows.tick()).toBe(0); // still leased to the dead node
    // Once the lease has run out (a tick from 11 s later, rather than a sleep), this node takes the run over.
    expect(await extra.engine.workflows.tick(Date.now() + 11_000)).toBe(1);
    await extra.engine.workflows.drain();
    const done = await extra.engine.workflows.get(run.id);
    expect(done.status).toBe('completed');
    expect(erp.calls('POST /invoices/:id/post')).toBe(1);
    expect(erp.calls('POST /notifications')).toBe(1);
    const posts = (await extra.engine.actions.list({})).filter((a) => a.tool === 'erp.post_invoice');
    expect(posts).toHaveLength(1);
  });

  it('resumes a run stopped between ticks on a new engine', async () => {
    const run = await engine.workflows.start('invoice-approval', doc(5000), ADA);
    await engine.workflows.drain();
    await engine.close();
    extra.store = await t.reopen();
    extra.engine = await invoicesEngine(extra.store, invoicesConfig(erp.url));
    await extra.engine.workflows.decide({
      runId: run.id,
      stepId: 'approve',
      human: (await extra.store.humans.require('frank')) as Human,
      vote: 'approve',
    });
    await extra.engine.workflows.drain();
    expect((await extra.engine.workflows.get(run.id)).status).toBe('completed');
    expect(erp.calls('POST /invoices/:id/post')).toBe(1);
    expect(erp.calls('POST /notifications')).toBe(1);
  });

  // Several nodes share one database on PostgreSQL only; one SQLite file is served by one process.
  it('shares runs between two nodes ticking at once without executing any step twice', async (ctx) => {
    if (backend.name !== 'postgres') return ctx.skip();
    extra.store = await t.reopen();
    extra.engine = await invoicesEngine(extra.store, invoicesConfig(erp.url));
    const ids: string[] = [];
    for (let i = 0; i < 6; i++) {
      const input = {
        invoiceId: `inv-${i}`,
        document: { number: `inv-${i}`, vendor: 'acme', total: 100 + i, currency: 'EUR' },
      };
      ids.push((await engine.workflows.start('invoice-approval', input, ADA)).id);
    }
    for (let round = 0; round < 20; round++) {
      await Promise.all([engine.workflows.tick(), extra.engine.workflows.tick()]);
    }
    for (const id of ids) expect((await engine.workflows.get(id)).status).toBe('completed');
    expect(erp.calls('POST /invoices/:id/post')).toBe(6);
    expect(erp.calls('POST /notifications')).toBe(6);
    const started = await t.raw("SELECT COUNT(*) AS n FROM workflow_events WHERE type = 'step_started'");
    expect(Number((started[0] as { n: number | string }).n)).toBe(6 * 4);
  });
});
