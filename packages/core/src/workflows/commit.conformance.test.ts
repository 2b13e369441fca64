import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { backends } from '../../../../test/helpers/backends.js';
import type { TestStore } from '../../../../test/helpers/backends.js';
import { recordTxStatements } from '../../../../test/helpers/statements.js';
import { parseConfig } from '../config/config.js';
import { createEngine } from '../engine.js';
import type { Engine } from '../engine.js';
import { EnvSecretStore } from '../secrets/index.js';
import { defineWorkflow } from './definition.js';

// A run waiting for a signal, sent twelve before its next advance: their events commit together, more than one
// insert statement holds (8).
const SIGNALS = 12;
const waiting = defineWorkflow({
  name: 'waiting',
  version: 1,
  owner: 'ada',
  input: { type: 'object', properties: {} },
  steps: {
    go: { kind: 'wait', event: 'go' },
    after: { kind: 'task', role: 'clerk', rule: 'echo', dependsOn: ['go'] },
  },
});

// A rule whose run another node takes over while it works (the lease stolen under it): its commit must write nothing.
// `stolen-two` goes on to a second step, so the step's end and the next start commit as one statement alone;
// `stolen-one` ends the run, which commits in a transaction.
const stolen = (name: string, steps: number) =>
  defineWorkflow({
    name,
    version: 1,
    owner: 'ada',
    input: { type: 'object', properties: {} },
    steps: {
      work: { kind: 'task', role: 'clerk', rule: 'steal' },
      ...(steps > 1 ? { more: { kind: 'task', role: 'clerk', rule: 'echo', dependsOn: ['work'] } } : {}),
    },
  });

describe.each(backends)('workflow commits on $name', (backend) => {
  let t: TestStore;
  let engine: Engine;

  beforeEach(async (ctx) => {
    if (!backend.enabled) return ctx.skip();
    t = await backend.create();
    await t.store.humans.add({ id: 'ada', groups: ['admins'] }, 'operator:test');
    await t.store.agents.create({ id: 'clerk-1', role: 'clerk', tier: 1, owner: 'ada' }, 'operator:test');
    engine = await createEngine({
      store: t.store,
      config: parseConfig({}),
      secrets: new EnvSecretStore({ env: {} }),
      workflows: [waiting, stolen('stolen-one', 1), stolen('stolen-two', 2)],
      rules: {
        echo: () => ({ ok: true }),
        steal: async () => {
          await t.raw("UPDATE workflow_runs SET lease_owner = 'node-elsewhere', lease_until = ?", [
            Date.now() + 3_600_000,
          ]);
          return { ok: true };
        },
      },
    });
  });
  afterEach(async () => {
    await engine?.close();
    await t?.cleanup();
  });

  const signalled = async () => {
    const ada = await t.store.humans.require('ada');
    const run = await engine.workflows.start('waiting', {}, ada);
    await engine.workflows.drain();
    // All in one millisecond, as fast senders manage: their ids tie on the time and order randomly after it.
    const clock = vi.spyOn(Date, 'now').mockReturnValue(Date.now());
    try {
      for (let i = 0; i < SIGNALS; i++)
        await engine.workflows.signal({
          runId: run.id,
          name: i === SIGNALS - 1 ? 'go' : 'note',
          data: i,
          by: ada,
        });
    } finally {
      clock.mockRestore();
    }
    return run;
  };

  it.each(['stolen-two', 'stolen-one'])(
    'writes nothing of an advance whose lease another node took meanwhile (%s)',
    async (name) => {
      const ada = await t.store.humans.require('ada');
      const run = await engine.workflows.start(name, {}, ada);
      await engine.workflows.drain();
      const types = (await t.raw('SELECT type FROM workflow_events WHERE run_id = ? ORDER BY seq', [
        run.id,
      ])) as { type: string }[];
      expect(types.map((e) => e.type)).toEqual(['run_started', 'step_started']);
      const audited = (await t.store.audit.list({ subject: `run:${run.id}`, limit: 100 })).map((r) => r.type);
      expect(audited).not.toContain('workflow.step_completed');
      expect(await t.raw('SELECT status, lease_owner FROM workflow_runs WHERE id = ?', [run.id])).toEqual([
        { status: 'running', lease_owner: 'node-elsewhere' },
      ]);
    },
  );

  it('numbers every event of a long batch in order, signals in send order, with the audit records and run row', async () => {
    const run = await signalled();
    await engine.workflows.drain();
    const done = await engine.workflows.get(run.id);
    expect(done.status).toBe('completed');
    const events = (await t.raw(
      'SELECT seq, type, data_json FROM workflow_events WHERE run_id = ? ORDER BY seq',
      [run.id],
    )) as { seq: number | string; type: string; data_json: string }[];
    expect(events.map((e) => Number(e.seq))).toEqual(events.map((_, i) => i + 1));
    const received = events.filter((e) => e.type === 'signal_received');
    expect(received.map((e) => (JSON.parse(e.data_json) as { data: number }).data)).toEqual(
      Array.from({ length: SIGNALS }, (_, i) => i),
    );
    // Recorded in one commit: one after the other in the history.
    expect(Number(received.at(-1)?.seq) - Number(received[0]?.seq)).toBe(SIGNALS - 1);
    expect(done.steps.after?.status).toBe('completed');
    expect(await t.store.audit.verify()).toMatchObject({ ok: true });
  });

  it.skipIf(backend.name !== 'postgres')(
    'writes an advance’s events, the run row and their audit records in one statement',
    async () => {
      const ada = await t.store.humans.require('ada');
      const seen = recordTxStatements(t.store.db);
      await engine.workflows.start('waiting', {}, ada);
      // The run's row, then its first event and audit record together.
      const started = seen.splice(0).filter((s) => /workflow_events/.test(s));
      expect(started).toHaveLength(1);
      expect(started[0]).toMatch(/aos_audit_append/);
      seen.splice(0);
      const run = await signalled();
      seen.splice(0);
      await engine.workflows.drain();
      const writes = seen.filter((s) => /workflow_events|aos_audit_append/.test(s));
      // The events with the run row, and the audit records when the events have any.
      const combined = writes.filter(
        (s) => /INSERT INTO workflow_events/.test(s) && /UPDATE workflow_runs SET status/.test(s),
      );
      expect(combined.filter((s) => /aos_audit_append/.test(s)).length).toBeGreaterThanOrEqual(2);
      // Every commit of the advance is one statement, but for the first insert of the twelve signals' events.
      expect(writes.filter((s) => !combined.includes(s)).map((s) => s.trim().slice(0, 9))).toEqual([
        'WITH last',
      ]);
      expect((await engine.workflows.get(run.id)).status).toBe('completed');
    },
  );
});
