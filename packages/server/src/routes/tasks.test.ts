import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { AosClient, AosWorker } from '@autonomy-os/sdk';
import type { WorkerTask } from '@autonomy-os/sdk';
import type { Engine } from '@autonomy-os/core';
import { backends } from '../../../../test/helpers/backends.js';
import type { TestStore } from '../../../../test/helpers/backends.js';
import { startErp } from '../../../../test/helpers/invoices.js';
import type { Erp } from '../../../../test/helpers/invoices.js';
import {
  extractInvoice,
  seedWorkers,
  workerInvoicesEngine,
} from '../../../../test/helpers/worker-invoices.js';
import { buildServer } from '../server.js';
import type { AosServer } from '../server.js';
import { ADA } from '../../../../test/helpers/people.js';

const doc = (id: string, total: number) => ({
  invoiceId: id,
  document: { number: id, vendor: 'acme', total, currency: 'EUR' },
});
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe.each(backends)('task REST routes and the SDK worker on $name', (backend) => {
  let t: TestStore;
  let erp: Erp;
  let engine: Engine;
  let server: AosServer;
  let base: string;
  const tokens: Record<string, string> = {};
  const workers: AosWorker[] = [];

  const call = async (method: string, path: string, who: string, body?: unknown) => {
    const res = await fetch(`${base}${path}`, {
      method,
      headers: {
        authorization: `Bearer ${tokens[who]}`,
        ...(body === undefined ? {} : { 'content-type': 'application/json' }),
      },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    const text = await res.text();
    return { status: res.status, body: (text ? JSON.parse(text) : {}) as Record<string, unknown> };
  };
  const worker = (who: string, role: string, handler: (task: WorkerTask, ctx: never) => unknown) => {
    const w = new AosWorker({ url: base, token: tokens[who] as string, waitSec: 1 });
    w.handle(role, handler as never);
    workers.push(w);
    return w;
  };
  /** Advances runs until `done` holds (bounded). */
  const until = async (done: () => Promise<boolean>) => {
    for (let i = 0; i < 200; i++) {
      await engine.workflows.drain();
      if (await done()) return;
      await sleep(50);
    }
    throw new Error('condition not reached');
  };
  const status = async (runId: string) => (await engine.workflows.get(runId)).status;

  beforeEach(async (ctx) => {
    if (!backend.enabled) return ctx.skip();
    t = await backend.create();
    erp = await startErp();
    await seedWorkers(t);
    engine = await workerInvoicesEngine(t.store, erp.url, { maxDepth: 1, maxFanOut: 1 });
    server = buildServer({ engine, version: 'test' });
    base = await server.listen();
    for (const h of ['ada', 'fiona', 'frank'])
      tokens[h] = (await t.store.tokens.issue({ subjectType: 'human', subjectId: h }, 'operator:test')).token;
    for (const a of ['clerk-1', 'clerk-2', 'checker-1'])
      tokens[a] = (await t.store.tokens.issue({ subjectType: 'agent', subjectId: a }, 'operator:test')).token;
  });
  afterEach(async () => {
    for (const w of workers.splice(0)) await w.stop();
    await server?.close();
    await engine?.close();
    await erp?.close();
    await t?.cleanup();
  });

  it('lets an SDK worker take the extract step; the run posts to the ERP once', async () => {
    const seen: string[] = [];
    await worker('clerk-1', 'clerk', (task) => {
      seen.push(task.id);
      return extractInvoice(task.input);
    }).start();
    const run = await engine.workflows.start('invoice-worker', doc('inv-1', 250), ADA);
    await until(async () => (await status(run.id)) === 'completed');
    expect(seen).toHaveLength(1);
    const task = await call('GET', `/v1/tasks/${seen[0]}`, 'ada');
    expect(task.body).toMatchObject({ status: 'completed', agentId: 'clerk-1', runId: run.id });
    expect(erp.calls('POST /invoices/:id/post')).toBe(1);
  });

  it('refuses a worker whose agent does not have the role it handles', async () => {
    await expect(worker('checker-1', 'clerk', () => ({})).start()).rejects.toThrow(/role 'checker'/);
  });

  it('gives the task of a worker that stopped heartbeating to another worker, and completes the step once', async () => {
    const run = await engine.workflows.start('invoice-worker', doc('inv-1', 250), ADA);
    await engine.workflows.drain();
    // clerk-1 takes the task over plain REST and then goes silent.
    const taken = await call('POST', '/v1/tasks/next', 'clerk-1', { waitSec: 0 });
    expect(taken.status).toBe(200);
    const id = taken.body.id as string;
    // Its lease runs out.
    await engine.workflows.tasks.expireLeases(Date.now() + engine.workflows.tasks.leaseMs + 1000);
    let handled = 0;
    await worker('clerk-2', 'clerk', (task) => {
      handled++;
      return extractInvoice(task.input);
    }).start();
    await until(async () => (await status(run.id)) === 'completed');
    expect(handled).toBe(1);
    const late = await call('POST', `/v1/tasks/${id}/complete`, 'clerk-1', { output: { late: true } });
    expect(late.status).toBe(409);
    expect(late.body).toMatchObject({ error: { code: 'conflict', field: 'taskId' } });
    const detail = await engine.workflows.get(run.id);
    expect(detail.events.filter((e) => e.type === 'step_completed' && e.stepId === 'extract')).toHaveLength(
      1,
    );
    expect((await call('GET', `/v1/tasks/${id}`, 'ada')).body.agentId).toBe('clerk-2');
    expect(erp.calls('POST /invoices/:id/post')).toBe(1);
  });

  it("aborts a handler's signal when its lease is lost, and never reports the lost task", async () => {
    let release: () => void = () => undefined;
    const reclaimed = new Promise<void>((r) => (release = r));
    let aborted = false;
    await worker(
      'clerk-1',
      'clerk',
      async (task, ctx: { heartbeat(): Promise<void>; signal: AbortSignal }) => {
        await reclaimed;
        await ctx.heartbeat();
        aborted = ctx.signal.aborted;
        return { stale: task.id };
      },
    ).start();
    const run = await engine.workflows.start('invoice-worker', doc('inv-1', 250), ADA);
    await engine.workflows.drain();
    await until(async () => (await engine.workflows.tasks.list({ status: 'claimed' })).length === 1);
    await engine.workflows.tasks.expireLeases(Date.now() + engine.workflows.tasks.leaseMs + 1000);
    const taken = await call('POST', '/v1/tasks/next', 'clerk-2', { waitSec: 0 });
    expect(taken.status).toBe(200);
    release();
    await until(async () => aborted);
    const done = await call('POST', `/v1/tasks/${taken.body.id as string}/complete`, 'clerk-2', {
      output: extractInvoice(doc('inv-1', 250)),
    });
    expect(done.body).toMatchObject({ status: 'completed', agentId: 'clerk-2' });
    await until(async () => (await status(run.id)) === 'completed');
    expect((await engine.workflows.get(run.id)).steps.extract?.output).toEqual(
      extractInvoice(doc('inv-1', 250)),
    );
  });

  it('lets a worker delegate to another role and wait for its output, within the limits', async () => {
    const refused: string[] = [];
    await worker('checker-1', 'checker', (task) => ({
      checked: (task.input as { vendor: string }).vendor,
    })).start();
    await worker(
      'clerk-1',
      'clerk',
      async (task, ctx: { delegate(r: string, i: unknown): Promise<unknown> }) => {
        const out = extractInvoice(task.input);
        const checked = (await ctx.delegate('checker', { vendor: out.vendor })) as { checked: string };
        // maxFanOut is 1: a second sub-task is refused.
        await ctx.delegate('checker', {}).catch((e: Error) => refused.push(e.message));
        return { ...out, vendor: checked.checked };
      },
    ).start();
    const run = await engine.workflows.start('invoice-worker', doc('inv-1', 250), ADA);
    await until(async () => (await status(run.id)) === 'completed');
    expect(refused).toEqual([expect.stringMatching(/limit is 1/)]);
    const list = await call('GET', `/v1/tasks?run=${run.id}`, 'ada');
    const tasks = list.body.tasks as { role: string; status: string; depth: number }[];
    expect(tasks.map((x) => [x.role, x.status, x.depth]).sort()).toEqual([
      ['checker', 'completed', 1],
      ['clerk', 'completed', 0],
    ]);
  });

  it('answers 204 when there is no task, checks bodies, and keeps task lists for humans', async () => {
    expect((await call('POST', '/v1/tasks/next', 'clerk-1', { waitSec: 0 })).status).toBe(204);
    const bad = await call('POST', '/v1/tasks/next', 'clerk-1', { waitSec: 99 });
    expect(bad.status).toBe(400);
    expect(bad.body).toMatchObject({ error: { field: 'waitSec' } });
    expect((await call('POST', '/v1/tasks/next', 'ada', {})).status).toBe(403);
    expect((await call('GET', '/v1/tasks', 'clerk-1')).status).toBe(403);
    expect((await call('GET', '/v1/tasks?status=nope', 'ada')).status).toBe(400);
  });

  it('escalates a task to a human who resolves it over REST; others may not', async () => {
    const run = await engine.workflows.start('invoice-worker', doc('inv-1', 250), ADA);
    await engine.workflows.drain();
    const taken = await call('POST', '/v1/tasks/next', 'clerk-1', { waitSec: 0 });
    const id = taken.body.id as string;
    expect((await call('GET', `/v1/tasks/${id}`, 'clerk-2')).status).toBe(403);
    const noMessage = await call('POST', `/v1/tasks/${id}/fail`, 'clerk-1', { escalate: true });
    expect(noMessage.body).toMatchObject({ error: { field: 'message' } });
    const esc = await call('POST', `/v1/tasks/${id}/fail`, 'clerk-1', {
      message: 'unreadable',
      escalate: true,
    });
    expect(esc.body.status).toBe('escalated');
    const fiona = new AosClient({ url: base, token: tokens.fiona as string });
    expect((await fiona.listTasks({ status: 'escalated' })).tasks.map((x) => x.id)).toEqual([id]);
    expect((await call('POST', `/v1/tasks/${id}/resolve`, 'frank', { output: {} })).status).toBe(403);
    const ok = await fiona.resolveTask(id, extractInvoice(doc('inv-1', 250)));
    expect(ok.status).toBe('completed');
    expect((await fiona.getTask(id)).output).toEqual(extractInvoice(doc('inv-1', 250)));
    expect((await call('POST', `/v1/tasks/${id}/reject`, 'fiona', { message: 'x' })).status).toBe(409);
    await until(async () => (await status(run.id)) === 'completed');
  });
});
