import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { backends } from '../../../../test/helpers/backends.js';
import type { TestStore } from '../../../../test/helpers/backends.js';
import {
  coordinationEngine,
  seedCoordination,
  startWorkUpstream,
  tickUntilDone,
  workWorkflow,
} from '../../../../test/helpers/coordination.js';
import type { WorkUpstream } from '../../../../test/helpers/coordination.js';
import type { Engine } from '../engine.js';
import { ConflictError, ForbiddenError, UserError } from '../errors.js';
import { defineWorkflow } from '../workflows/definition.js';
import type { RunParticipant } from './run-access.js';
import { ADA } from '../../../../test/helpers/people.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

const ada: RunParticipant = { kind: 'human', id: 'ada' };
const agent = (id: string, role: string): RunParticipant => ({ kind: 'agent', id, role, status: 'active' });
const helper = agent('helper', 'helper');
const worker = agent('worker', 'worker');
const outsider = agent('outsider', 'outsider');

const team = defineWorkflow({
  name: 'team',
  version: 1,
  owner: 'ada',
  steps: {
    draft: { kind: 'task', role: 'helper', rule: 'draft' },
    call: {
      kind: 'action',
      dependsOn: ['draft'],
      as: 'worker',
      tool: 'work.work',
      input: '{ "id": input.id & "-" & context.suffix }',
    },
  },
});
const critiqued = defineWorkflow({
  name: 'critiqued',
  version: 1,
  owner: 'ada',
  steps: {
    draft: { kind: 'task', role: 'helper', rule: 'draft' },
    check: { kind: 'review', step: 'draft', role: 'helper', rule: 'reject', maxRounds: 1 },
  },
});
const slow = defineWorkflow({
  name: 'slow',
  version: 1,
  owner: 'ada',
  steps: { approve: { kind: 'approval', group: 'approvers', escalate: { after: '1s', to: 'ops' } } },
});

describe.each(backends)('coordination on $name', (backend) => {
  let t: TestStore;
  let up: WorkUpstream;
  let engine: Engine;
  const auditOf = async (type: string) =>
    (await t.raw('SELECT actor, payload AS payload_json FROM audit_log WHERE type = ? ORDER BY seq', [
      type,
    ])) as {
      actor: string;
      payload_json: string;
    }[];

  const open = async (breaker?: { failureThreshold: number; coolDownMs: number }) => {
    const config = await seedCoordination(t, up.url, breaker);
    engine = await coordinationEngine(
      t.store,
      config,
      [
        team,
        slow,
        critiqued,
        workWorkflow('plain'),
        workWorkflow('rerouted', {}, { fallback: { tool: 'spare.backup' } }),
      ],
      undefined,
      {
        draft: (task) => ({ seen: task.scope.context }),
        reject: () => ({ accept: false, critique: 'not good enough' }),
      },
    );
  };

  beforeEach(async (ctx) => {
    if (!backend.enabled) return ctx.skip();
    t = await backend.create();
    up = await startWorkUpstream();
    up.state.delayMs = 0;
  });
  afterEach(async () => {
    await engine?.close();
    await up?.close();
    await t?.cleanup();
  });

  it('keeps a versioned, attributed, audited run context that steps read from their history', async () => {
    await open();
    const ctx = engine.coordination.context;
    const run = await engine.workflows.start('team', { id: 'a' }, ADA);
    expect(await ctx.write({ runId: run.id, key: 'suffix', value: 'ctx' }, ada)).toMatchObject({
      version: 1,
      writtenBy: 'human:ada',
    });
    expect(
      (await ctx.write({ runId: run.id, key: 'note', value: { n: 1 }, expectVersion: 0 }, helper)).version,
    ).toBe(1);
    await expect(
      ctx.write({ runId: run.id, key: 'note', value: { n: 2 }, expectVersion: 0 }, helper),
    ).rejects.toThrow(/expectVersion: is 1, not 0/);
    await expect(ctx.write({ runId: run.id, key: 'bad key', value: 1 }, helper)).rejects.toThrow(/^key: /);
    await expect(ctx.list(run.id, outsider)).rejects.toBeInstanceOf(ForbiddenError);
    await expect(ctx.get(run.id, 'missing', worker)).rejects.toThrow(/key: unknown context entry/);
    expect((await ctx.list(run.id, worker)).map((e) => [e.key, e.version, e.writtenBy])).toEqual([
      ['note', 1, 'agent:helper'],
      ['suffix', 1, 'human:ada'],
    ]);

    await engine.workflows.drain();
    const done = await engine.workflows.get(run.id);
    expect(done.status).toBe('completed');
    expect(up.calls.map((c) => c.id)).toEqual(['a-ctx']);
    expect(done.steps.draft?.output).toEqual({ seen: { note: { n: 1 }, suffix: 'ctx' } });
    expect(done.events.filter((e) => e.type === 'context_observed')).toHaveLength(1);
    await expect(ctx.write({ runId: run.id, key: 'suffix', value: 'late' }, ada)).rejects.toBeInstanceOf(
      ConflictError,
    );
    const audits = await auditOf('run.context_written');
    expect(audits.map((a) => a.actor)).toEqual(['human:ada', 'agent:helper']);
    expect(JSON.parse(audits[0]?.payload_json as string)).toMatchObject({ key: 'suffix', version: 1 });
    expect((await t.store.audit.verify()).ok).toBe(true);
  });

  it('delivers messages between the agents of a run, to an agent or a role, and audits them', async () => {
    await open();
    const msgs = engine.coordination.messages;
    const run = await engine.workflows.start('team', { id: 'a' }, ADA);
    await msgs.send({ runId: run.id, to: 'helper', body: { text: 'please check' } }, worker);
    await msgs.send({ runId: run.id, toRole: 'helper', body: 'anyone?' }, worker);
    await expect(msgs.send({ runId: run.id, to: 'worker', body: 'hi' }, outsider)).rejects.toBeInstanceOf(
      ForbiddenError,
    );
    await expect(msgs.send({ runId: run.id, to: 'outsider', body: 'hi' }, worker)).rejects.toThrow(
      /^to: agent outsider/,
    );
    await expect(
      msgs.send({ runId: run.id, to: 'helper', toRole: 'helper', body: 'x' }, worker),
    ).rejects.toBeInstanceOf(UserError);
    await expect(msgs.send({ runId: run.id, to: 'helper' } as never, worker)).rejects.toThrow(/^body: /);
    await expect(msgs.send({ runId: run.id, toRole: 'outsider', body: 'x' }, worker)).rejects.toThrow(
      /^toRole: /,
    );

    const inbox = await msgs.inbox({ id: 'helper', role: 'helper' }, { unread: true, markRead: true });
    expect(inbox.map((m) => [m.from, m.to, m.toRole, m.body])).toEqual([
      ['worker', 'helper', null, { text: 'please check' }],
      ['worker', null, 'helper', 'anyone?'],
    ]);
    expect(await msgs.inbox({ id: 'helper', role: 'helper' }, { unread: true })).toEqual([]);
    expect(await msgs.inbox({ id: 'worker', role: 'worker' }, { unread: true })).toEqual([]);
    expect(await msgs.forRun(run.id, ada)).toHaveLength(2);
    await expect(msgs.forRun(run.id, worker)).rejects.toBeInstanceOf(ForbiddenError);
    const audits = await auditOf('run.message_sent');
    expect(audits).toHaveLength(2);
    expect(audits[0]?.payload_json).not.toContain('please check');
    expect(JSON.parse(audits[0]?.payload_json as string)).toMatchObject({ to: 'helper', toRole: null });
  });

  it('answers messages sent in the same millisecond in the order they were sent', async () => {
    await open();
    const msgs = engine.coordination.messages;
    const run = await engine.workflows.start('team', { id: 'a' }, ADA);
    // Every message gets the same timestamp, so only the send order can tell them apart.
    vi.useFakeTimers({ toFake: ['Date'], now: new Date('2026-12-02T12:00:00.000Z') });
    try {
      for (let i = 0; i < 12; i++) await msgs.send({ runId: run.id, to: 'helper', body: { i } }, worker);
      await msgs.send({ runId: run.id, toRole: 'helper', body: { i: 12 } }, worker);
    } finally {
      vi.useRealTimers();
    }
    const order = Array.from({ length: 13 }, (_, i) => ({ i }));
    expect((await msgs.inbox({ id: 'helper', role: 'helper' }, { limit: 13 })).map((m) => m.body)).toEqual(
      order,
    );
    expect((await msgs.forRun(run.id, ada)).map((m) => m.body)).toEqual(order);
  });

  it('pauses an action step while its connector breaker is open, reroutes to a fallback, and resumes on recovery', async () => {
    await open({ failureThreshold: 1, coolDownMs: 1000 });
    up.state.failing = true;
    const broken = await engine.workflows.start('plain', { id: 'first' }, ADA);
    await engine.workflows.drain();
    expect((await engine.workflows.get(broken.id)).status).toBe('failed');
    expect(up.state.refused).toBe(1);

    const rerouted = await engine.workflows.start('rerouted', { id: 'r' }, ADA);
    await engine.workflows.drain();
    const viaSpare = await engine.workflows.get(rerouted.id);
    expect(viaSpare.status).toBe('completed');
    expect(viaSpare.steps.call).toMatchObject({ fallback: true, attempt: 1 });
    expect(up.calls.map((c) => [c.id, c.path])).toEqual([['r', '/backup']]);

    const paused = await engine.workflows.start('plain', { id: 'later' }, ADA);
    await engine.workflows.drain();
    const waiting = await engine.workflows.get(paused.id);
    expect(waiting.status).toBe('running');
    expect(waiting.steps.call).toMatchObject({ status: 'pending', attempt: 0 });
    expect(waiting.events.map((e) => e.type)).toContain('step_paused');
    expect(up.state.refused).toBe(1); // the open breaker kept the step off the failing upstream
    expect(await auditOf('workflow.step_paused')).toHaveLength(1);

    up.state.failing = false;
    expect(await tickUntilDone([engine], [paused.id])).toEqual(['completed']);
    const done = await engine.workflows.get(paused.id);
    expect(done.steps.call?.attempt).toBe(1);
    expect(up.calls.map((c) => [c.id, c.path])).toEqual([
      ['r', '/backup'],
      ['later', '/work'],
    ]);
  });

  it('escalates a step still waiting after its escalate.after to the named group, once', async () => {
    await open();
    const run = await engine.workflows.start('slow', {}, ADA);
    await engine.workflows.drain();
    for (let i = 0; i < 300 && !(await engine.workflows.get(run.id)).steps.approve?.escalatedTo; i++) {
      await engine.workflows.tick();
      await sleep(10);
    }
    await engine.workflows.tick();
    const view = await engine.workflows.get(run.id);
    expect(view.steps.approve).toMatchObject({ status: 'waiting', escalatedTo: 'ops' });
    const audits = await auditOf('workflow.step_escalated');
    expect(audits).toHaveLength(1);
    expect(JSON.parse(audits[0]?.payload_json as string)).toMatchObject({ stepId: 'approve', to: 'ops' });
  });

  it('escalates to the owner when a review runs out of rounds, then fails the run', async () => {
    await open();
    const run = await engine.workflows.start('critiqued', {}, ADA);
    await engine.workflows.drain();
    const view = await engine.workflows.get(run.id);
    expect(view.status).toBe('failed');
    expect(view.steps.check).toMatchObject({ status: 'failed', escalatedTo: 'ada' });
    const audits = await auditOf('workflow.step_escalated');
    expect(JSON.parse(audits[0]?.payload_json as string)).toMatchObject({ stepId: 'check', to: 'ada' });
  });

  it.each([
    ['lease', { lease: '"a" &' }, 'steps.call.lease: bad JSONata'],
    [
      'fallback input',
      { fallback: { tool: 'spare.backup', input: '{' } },
      'steps.call.fallback.input: bad JSONata',
    ],
    ['escalate.after', { escalate: { after: 'soon', to: 'ops' } }, 'steps.call.escalate.after: must be like'],
    ['escalate.to', { escalate: { after: '1h' } }, 'steps.call.escalate.to:'],
  ])('refuses a step with a bad %s, naming its path', (_what, step, message) => {
    expect(() => workWorkflow('bad', {}, step)).toThrow(message);
  });

  it('refuses a priority that is not a whole number', () => {
    expect(() => workWorkflow('bad', { priority: 1.5 })).toThrow(/^priority: /);
  });
});
