import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { AosEvent, Engine, Store } from '@autonomy-os/core';
import { backends } from '../../../../test/helpers/backends.js';
import type { TestStore } from '../../../../test/helpers/backends.js';
import { invoicesConfig, invoicesEngine, seedInvoices, startErp } from '../../../../test/helpers/invoices.js';
import type { Erp } from '../../../../test/helpers/invoices.js';
import { buildServer } from '../server.js';
import type { AosServer } from '../server.js';
import { ADA } from '../../../../test/helpers/people.js';

/**
 * Reads an SSE stream until run `runId`'s `until` event has been seen (bounded), answering that run's events in
 * arrival order. Other runs' events are dropped: on PostgreSQL the NOTIFY channel is shared by every schema of the
 * test database, so runs of other suites can show up on the stream.
 */
async function readEvents(res: Response, runId: string, until: string): Promise<AosEvent[]> {
  const reader = (res.body as ReadableStream<Uint8Array>).getReader();
  const decoder = new TextDecoder();
  let text = '';
  const events: AosEvent[] = [];
  for (let i = 0; i < 500 && !events.some((e) => e.type === until); i++) {
    const { value, done } = await reader.read();
    if (done) break;
    text += decoder.decode(value, { stream: true });
    const frames = text.split('\n\n');
    text = frames.pop() ?? '';
    for (const f of frames) {
      const data = /^data: (.*)$/m.exec(f)?.[1];
      const event = data ? (JSON.parse(data) as AosEvent) : undefined;
      if (event?.subject === `run:${runId}`) events.push(event);
    }
  }
  await reader.cancel();
  return events;
}

describe.each(backends)('run events on the live stream on $name', (backend) => {
  let t: TestStore;
  let erp: Erp;
  let engine: Engine;
  let server: AosServer;
  let base: string;
  let token: string;
  const other: { store?: Store; engine?: Engine } = {};

  beforeEach(async (ctx) => {
    if (!backend.enabled) return ctx.skip();
    t = await backend.create();
    erp = await startErp();
    await seedInvoices(t);
    const config = invoicesConfig(erp.url);
    config.server.port = 0;
    engine = await invoicesEngine(t.store, config);
    server = buildServer({ engine, version: 'test' });
    base = await server.listen();
    token = (await t.store.tokens.issue({ subjectType: 'human', subjectId: 'ada' }, 'operator:test')).token;
  });
  afterEach(async () => {
    await server?.close();
    await other.engine?.close();
    await other.store?.close();
    delete other.engine;
    delete other.store;
    await engine?.close();
    await erp?.close();
    await t?.cleanup();
  });

  const subscribe = () =>
    fetch(`${base}/v1/events?types=run`, { headers: { authorization: `Bearer ${token}` } });
  const start = async (total: number) => {
    const res = await fetch(`${base}/v1/workflows/invoice-approval/runs`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: JSON.stringify({
        input: { invoiceId: 'inv-5', document: { number: 'inv-5', vendor: 'acme', total, currency: 'EUR' } },
      }),
    });
    expect(res.status).toBe(201);
    return ((await res.json()) as { id: string }).id;
  };

  /** What a small invoice's run publishes, in order: every step of the example, approval skipped. */
  const smallInvoice = (runId: string) =>
    [
      ['run.started', undefined, 'running'],
      ['run.step_started', 'extract', 'running'],
      ['run.step_completed', 'extract', 'running'],
      ['run.step_started', 'review', 'running'],
      ['run.step_completed', 'review', 'running'],
      ['run.step_skipped', 'approve', 'running'],
      ['run.step_started', 'post', 'running'],
      ['run.step_completed', 'post', 'running'],
      ['run.step_started', 'notify', 'running'],
      ['run.step_completed', 'notify', 'running'],
      ['run.completed', undefined, 'completed'],
    ].map(([type, stepId, status]) => ({ type, subject: `run:${runId}`, stepId, status }));

  const shape = (events: AosEvent[]) =>
    events.map((e) => ({
      type: e.type,
      subject: e.subject,
      stepId: e.data.stepId,
      status: e.data.status,
    }));

  it('streams a run’s events in order, after each commit, without inputs or outputs', async () => {
    const res = await subscribe();
    const id = await start(250);
    await engine.workflows.drain();
    const events = await readEvents(res, id, 'run.completed');
    expect(shape(events)).toEqual(smallInvoice(id));
    expect(events.every((e) => e.data.runId === id && e.data.workflow === 'invoice-approval')).toBe(true);
    expect(JSON.stringify(events)).not.toContain('acme');
    expect(JSON.stringify(events)).not.toContain('inv-5');
  });

  it('streams a run waiting for an approval, then cancelled', async () => {
    const res = await subscribe();
    const id = await start(5000);
    await engine.workflows.drain();
    await engine.workflows.cancel(id, ADA, 'duplicate');
    await engine.workflows.drain();
    const events = await readEvents(res, id, 'run.cancelled');
    const types = events.map((e) => e.type);
    expect(types.slice(-3)).toEqual(['run.waiting', 'run.cancel_requested', 'run.cancelled']);
    expect(events.find((e) => e.type === 'run.waiting')?.data).toMatchObject({
      stepId: 'approve',
      waitingFor: 'approval',
    });
  });

  it.runIf(backend.name === 'postgres')(
    'streams the events of a run another node advances, in order',
    async () => {
      other.store = await t.reopen();
      other.engine = await invoicesEngine(other.store, invoicesConfig(erp.url));
      const res = await subscribe();
      const id = await start(250);
      // Only the other node works on the run: its events reach this node's stream over LISTEN/NOTIFY.
      await other.engine.workflows.drain();
      const events = await readEvents(res, id, 'run.completed');
      expect(shape(events)).toEqual(smallInvoice(id));
    },
  );
});
