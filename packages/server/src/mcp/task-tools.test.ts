import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Engine } from '@autonomy-os/core';
import { backends } from '../../../../test/helpers/backends.js';
import type { TestStore } from '../../../../test/helpers/backends.js';
import { startErp } from '../../../../test/helpers/invoices.js';
import type { Erp } from '../../../../test/helpers/invoices.js';
import { connectClient } from '../../../../test/helpers/mcp-gateway.js';
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

type Result = { structuredContent?: Record<string, unknown>; isError?: boolean };
type Task = { id: string; status: string; input: unknown; context: { notes?: { note: string }[] } };

describe.each(backends)('MCP task tools on $name', (backend) => {
  let t: TestStore;
  let erp: Erp;
  let engine: Engine;
  let server: AosServer;
  let base: string;
  const clients: Client[] = [];

  const connect = async (agent: string) => {
    const token = (await t.store.tokens.issue({ subjectType: 'agent', subjectId: agent }, 'operator:test'))
      .token;
    const c = await connectClient(base, token);
    clients.push(c);
    return c;
  };
  const call = async (c: Client, name: string, args: Record<string, unknown>) =>
    (await c.callTool({ name, arguments: args })) as Result;
  const taskOf = (r: Result) => r.structuredContent?.task as Task;

  beforeEach(async (ctx) => {
    if (!backend.enabled) return ctx.skip();
    t = await backend.create();
    erp = await startErp();
    await seedWorkers(t);
    engine = await workerInvoicesEngine(t.store, erp.url);
    server = buildServer({ engine, version: 'test' });
    base = await server.listen();
  });
  afterEach(async () => {
    for (const c of clients.splice(0)) await c.close();
    await server?.close();
    await engine?.close();
    await erp?.close();
    await t?.cleanup();
  });

  it('offers the task and run tools to an agent whose role takes workflow tasks', async () => {
    const names = (await (await connect('clerk-1')).listTools()).tools.map((x) => x.name);
    expect(names).toEqual(expect.arrayContaining(['aos_next_task', 'aos_complete_task', 'aos_context_get']));
  });

  it('lets an agent take, hand off and complete the extract step over MCP; the run posts once', async () => {
    const run = await engine.workflows.start('invoice-worker', doc('inv-1', 250), ADA);
    await engine.workflows.drain();
    const [clerk, checker] = [await connect('clerk-1'), await connect('checker-1')];
    expect(taskOf(await call(checker, 'aos_next_task', {}))).toBeNull();
    const task = taskOf(await call(clerk, 'aos_next_task', { waitSec: 1 }));
    expect(task).toMatchObject({ status: 'claimed', input: doc('inv-1', 250) });
    // Someone else's task looks like none.
    expect((await call(checker, 'aos_task_status', { taskId: task.id })).isError).toBe(true);
    const handed = await call(clerk, 'aos_handoff', {
      taskId: task.id,
      toRole: 'checker',
      context: 'check vendor',
    });
    expect(taskOf(handed).status).toBe('open');
    const got = taskOf(await call(checker, 'aos_next_task', {}));
    expect(got.id).toBe(task.id);
    expect(got.context.notes?.[0]?.note).toBe('check vendor');
    await expect(call(clerk, 'aos_complete_task', { taskId: task.id, output: {} })).rejects.toThrow(
      /not claimed by clerk-1/,
    );
    const done = await call(checker, 'aos_complete_task', {
      taskId: task.id,
      output: extractInvoice(got.input),
    });
    expect(taskOf(done).status).toBe('completed');
    await engine.workflows.drain();
    expect((await engine.workflows.get(run.id)).status).toBe('completed');
    expect(erp.calls('POST /invoices/:id/post')).toBe(1);
  });

  it('answers a waiting aos_next_task with a task that appears while it waits', async () => {
    const clerk = await connect('clerk-1');
    const waiting = call(clerk, 'aos_next_task', { waitSec: 20 });
    const run = await engine.workflows.start('invoice-worker', doc('inv-2', 250), ADA);
    await engine.workflows.drain();
    const task = taskOf(await waiting);
    expect(task).toMatchObject({ status: 'claimed', runId: run.id, stepId: 'extract' });
  });

  it('delegates over MCP and holds the parent until the child is done; fails with escalation to a human', async () => {
    const run = await engine.workflows.start('invoice-worker', doc('inv-1', 250), ADA);
    await engine.workflows.drain();
    const [clerk, checker] = [await connect('clerk-1'), await connect('checker-1')];
    const parent = taskOf(await call(clerk, 'aos_next_task', {}));
    const child = taskOf(
      await call(clerk, 'aos_delegate', { taskId: parent.id, role: 'checker', input: { v: 1 } }),
    );
    await expect(call(clerk, 'aos_delegate', { taskId: parent.id, role: 'nobody' })).rejects.toThrow(
      /no active agent has role 'nobody'/,
    );
    await expect(call(clerk, 'aos_complete_task', { taskId: parent.id, output: {} })).rejects.toThrow(
      /still open/,
    );
    const taken = taskOf(await call(checker, 'aos_next_task', {}));
    expect(taken.id).toBe(child.id);
    await call(checker, 'aos_complete_task', { taskId: child.id, output: { ok: true } });
    const seen = await call(clerk, 'aos_task_status', { taskId: child.id });
    expect(taskOf(seen)).toMatchObject({ status: 'completed', output: { ok: true } });
    const esc = await call(clerk, 'aos_fail_task', {
      taskId: parent.id,
      message: 'need a human',
      escalate: true,
    });
    expect(taskOf(esc).status).toBe('escalated');
    await expect(call(clerk, 'aos_fail_task', { taskId: parent.id })).rejects.toThrow(/message/);
    const fiona = await t.store.humans.require('fiona');
    await engine.workflows.tasks.decide(fiona, parent.id, { decision: 'reject', message: 'not an invoice' });
    await engine.workflows.drain();
    const failed = await engine.workflows.get(run.id);
    expect(failed.status).toBe('failed');
    expect(failed.error?.message).toBe('not an invoice');
    expect(erp.calls('POST /invoices/:id/post')).toBe(0);
  });
});
