import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { backends } from '../../../../test/helpers/backends.js';
import type { TestStore } from '../../../../test/helpers/backends.js';
import { invoicesConfig, invoicesEngine, seedInvoices, startErp } from '../../../../test/helpers/invoices.js';
import type { Erp } from '../../../../test/helpers/invoices.js';
import { FIONA } from '../../../../test/helpers/people.js';
import {
  seedSupportDesk,
  startPayments,
  supportDeskConfig,
  supportDeskEngine,
} from '../../../../test/helpers/support-desk.js';
import type { Payments } from '../../../../test/helpers/support-desk.js';
import type { Engine } from '../engine.js';
import { ConflictError, ForbiddenError } from '../errors.js';
import type { Agent } from '../identity/agents.js';
import type { Human } from '../identity/humans.js';
import type { Store } from '../store/open-store.js';
import { argumentDiff } from './evidence.js';

const invoice = {
  invoiceId: 'inv-9',
  document: { number: 'inv-9', vendor: 'acme', total: 5000, currency: 'EUR' },
};

describe.each(backends)('one approvals inbox on $name: workflow approval steps', (backend) => {
  let t: TestStore;
  let erp: Erp;
  let engine: Engine;
  const extra: { engine?: Engine; store?: Store } = {};
  const human = (id: string) => t.store.humans.require(id) as Promise<Human>;

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

  async function waitingRun(): Promise<string> {
    // Started by fiona, who is also a finance approver: separation of duties bars her from approving it.
    const run = await engine.workflows.start('invoice-approval', invoice, FIONA);
    await engine.workflows.drain();
    return run.id;
  }

  it('lists the step as a pending request with no action, its evidence, quorum and escalation state', async () => {
    const runId = await waitingRun();
    const [a, ...rest] = await engine.approvals.list({ status: 'pending' });
    expect(rest).toHaveLength(0);
    expect(a).toMatchObject({
      actionId: null,
      runId,
      stepId: 'approve',
      group: 'approvers:finance',
      quorum: 1,
      requester: 'fiona',
      progress: { approvals: 0, quorum: 1, remaining: 1, level: 0, nextGroup: null },
      evidence: {
        agent: null,
        tool: 'workflow:invoice-approval',
        reason: 'Approve posting this invoice',
        input: invoice,
        canonicalInput:
          '{"document":{"currency":"EUR","number":"inv-9","total":5000,"vendor":"acme"},"invoiceId":"inv-9"}',
        run: {
          id: runId,
          workflow: 'invoice-approval',
          stepId: 'approve',
          prompt: 'Approve posting this invoice',
        },
        decision: { policies: ['workflow:invoice-approval/approve'] },
      },
    });
    expect(a?.progress.escalatesAt).toBe(a?.expiresAt);
    const audit = await t.raw("SELECT subject FROM audit_log WHERE type = 'approval.requested'");
    expect(audit).toEqual([{ subject: `run:${runId}` }]);
  });

  it('resolves the step through the inbox vote, and another node moves the run on after this one is gone', async () => {
    const runId = await waitingRun();
    const [a] = await engine.approvals.list({ status: 'pending' });
    await expect(
      engine.actions.vote({ approvalId: a?.id as string, human: await human('fiona'), vote: 'approve' }),
    ).rejects.toBeInstanceOf(ForbiddenError);
    await expect(
      engine.actions.vote({ approvalId: a?.id as string, human: await human('ada'), vote: 'approve' }),
    ).rejects.toBeInstanceOf(ForbiddenError);
    const res = await engine.actions.vote({
      approvalId: a?.id as string,
      human: await human('frank'),
      vote: 'approve',
      comment: 'checked the PO',
    });
    expect(res).toMatchObject({ approval: { status: 'approved' }, action: null });
    // This node stops before advancing the run; a second one on the same database finds it woken.
    await engine.close();
    extra.store = await t.reopen();
    extra.engine = await invoicesEngine(extra.store, invoicesConfig(erp.url));
    await extra.engine.workflows.drain();
    const view = await extra.engine.workflows.get(runId);
    expect(view.status).toBe('completed');
    expect(view.steps.approve?.output).toEqual({ approved: true, approvers: ['frank'] });
    expect(erp.calls('POST /invoices/:id/post')).toBe(1);
    // The history keeps the outcome, not the votes: those live with the request.
    expect(view.events.some((e) => e.type === 'approval_vote')).toBe(false);
  });

  it('keeps the run-step approve path as an alias of the inbox vote', async () => {
    const runId = await waitingRun();
    await engine.workflows.decide({ runId, stepId: 'approve', human: await human('frank'), vote: 'deny' });
    const [a] = await engine.approvals.list({});
    expect(a).toMatchObject({ status: 'denied', votes: [{ human: 'frank', vote: 'deny' }] });
    await expect(
      engine.workflows.decide({ runId, stepId: 'approve', human: await human('fiona'), vote: 'approve' }),
    ).rejects.toBeInstanceOf(ConflictError);
    await engine.workflows.drain();
    const view = await engine.workflows.get(runId);
    expect(view.status).toBe('failed');
    expect(view.error?.code).toBe('approval_denied');
    expect(erp.calls('POST /invoices/:id/post')).toBe(0);
  });

  it('fails the step when its request expires undecided (never approves), and withdraws it on cancel', async () => {
    const runId = await waitingRun();
    const { expired } = await engine.approvals.sweep(Date.now() + 2 * 3600_000);
    expect(expired).toEqual([expect.objectContaining({ runId, actionId: null })]);
    await engine.workflows.drain();
    const view = await engine.workflows.get(runId);
    expect(view.status).toBe('failed');
    expect(view.error?.code).toBe('approval_expired');

    const second = await engine.workflows.start(
      'invoice-approval',
      { ...invoice, invoiceId: 'inv-10' },
      FIONA,
    );
    await engine.workflows.drain();
    await engine.workflows.cancel(second.id, FIONA, 'duplicate');
    const request = (await engine.approvals.list({})).find((a) => a.runId === second.id);
    expect(request?.status).toBe('denied');
    expect(await t.raw("SELECT type FROM audit_log WHERE type = 'approval.withdrawn'")).toHaveLength(1);
  });
});

describe.each(backends)('one approvals inbox on $name: evidence of pipeline approvals', (backend) => {
  let t: TestStore;
  let payments: Payments;
  let engine: Engine;

  beforeEach(async (ctx) => {
    if (!backend.enabled) return ctx.skip();
    t = await backend.create();
    payments = await startPayments();
    await seedSupportDesk(t);
    engine = await supportDeskEngine(t, supportDeskConfig(payments.url));
  });
  afterEach(async () => {
    await engine?.close();
    await payments?.close();
    await t?.cleanup();
  });

  it('diffs the arguments against the agent’s previous call of the same tool, and carries them canonically', async () => {
    const bot = (await t.store.agents.require('refund-bot')) as Agent;
    const first = await engine.actions.submit(bot, {
      tool: 'payments.refund',
      input: { orderId: 'o-1', amount: 150 },
      reason: 'damaged parcel',
      confidence: 0.8,
    });
    const second = await engine.actions.submit(bot, {
      tool: 'payments.refund',
      input: { amount: 300, orderId: 'o-2' },
      reason: 'both parcels damaged',
      confidence: 0.6,
    });
    expect(second.outcome).toBe('pending_approval');
    const a = await engine.approvals.require(second.approvalId as string);
    expect(a.evidence).toMatchObject({
      reason: 'both parcels damaged',
      confidence: 0.6,
      canonicalInput: '{"amount":300,"orderId":"o-2"}',
      previous: {
        actionId: first.id,
        changes: expect.arrayContaining([
          { type: 'CHANGE', path: ['amount'], oldValue: 150, value: 300 },
          { type: 'CHANGE', path: ['orderId'], oldValue: 'o-1', value: 'o-2' },
        ]),
      },
    });
    expect(a.evidence.previous?.changes).toHaveLength(2);
    expect(a.evidence.decision.policies.length).toBeGreaterThan(0);
    expect(typeof a.evidence.risk).toBe('number');
    const firstApproval = await engine.approvals.require(first.approvalId as string);
    expect(firstApproval.evidence.previous).toBeNull();
  });
});

describe('argumentDiff', () => {
  it.each([
    [{ a: 1 }, { a: 1 }, []],
    [{ a: 1 }, { a: 2 }, [{ type: 'CHANGE', path: ['a'], oldValue: 1, value: 2 }]],
    [{ a: [1] }, { a: [1, 2] }, [{ type: 'CREATE', path: ['a', 1], value: 2 }]],
    [{ a: { b: 'x' } }, {}, [{ type: 'REMOVE', path: ['a'], oldValue: { b: 'x' } }]],
  ])('diffs %j to %j', (before, after, changes) => {
    expect(argumentDiff(before, after)).toEqual(changes);
  });
});
