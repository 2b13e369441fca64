import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Agent } from '@autonomy-os/core';
import { aos } from './helpers/cli.js';
import { backends } from './helpers/backends.js';
import type { TestStore } from './helpers/backends.js';
import { startErp } from './helpers/invoices.js';
import type { Erp } from './helpers/invoices.js';
import { extractInvoice, seedWorkers, workerInvoicesEngine } from './helpers/worker-invoices.js';
import { ADA } from './helpers/people.js';

const sqlite = backends.find((b) => b.name === 'sqlite')!;

describe('aos tasks', () => {
  let t: TestStore;
  let erp: Erp;
  let taskId: string;
  let runId: string;

  beforeEach(async () => {
    t = await sqlite.create();
    erp = await startErp();
    await seedWorkers(t);
    const engine = await workerInvoicesEngine(t.store, erp.url);
    try {
      const input = { invoiceId: 'inv-1', document: { number: 'inv-1', vendor: 'acme', total: 50 } };
      runId = (await engine.workflows.start('invoice-worker', input, ADA)).id;
      await engine.workflows.drain();
      const clerk = (await t.store.agents.get('clerk-1')) as Agent;
      const task = await engine.workflows.tasks.claim(clerk);
      taskId = task!.id;
      await engine.workflows.tasks.fail(clerk, taskId, { message: 'which vendor?', escalate: true });
    } finally {
      await engine.close();
    }
  });
  afterEach(async () => {
    await erp?.close();
    await t?.cleanup();
  });

  it('lists escalated tasks and lets the owner resolve one, refusing anyone else', () => {
    const env = { AOS_DATA: t.dataDir };
    const list = aos(['tasks', 'list', '--status', 'escalated', '--run', runId, '--json'], env);
    expect(list.stderr).toBe('');
    expect((JSON.parse(list.stdout) as { id: string }[]).map((x) => x.id)).toEqual([taskId]);
    const bad = aos(['tasks', 'list', '--status', 'lost'], env);
    expect(bad.code).not.toBe(0);
    expect(bad.stderr).toContain('status');
    const frank = aos(['tasks', 'resolve', taskId, '--as', 'frank', '--output', '{}'], env);
    expect(frank.code).not.toBe(0);
    expect(frank.stderr).toContain("admins or being the workflow's owner fiona");
    const output = JSON.stringify(
      extractInvoice({ invoiceId: 'inv-1', document: { vendor: 'acme', total: 50 } }),
    );
    const ok = aos(['tasks', 'resolve', taskId, '--as', 'fiona', '--output', output], env);
    expect(ok.stderr).toBe('');
    expect(JSON.parse(ok.stdout)).toMatchObject({
      id: taskId,
      status: 'completed',
      output: { vendor: 'acme' },
    });
    const again = aos(['tasks', 'reject', taskId, '--as', 'fiona', '--message', 'no'], env);
    expect(again.code).not.toBe(0);
    expect(again.stderr).toContain('not escalated');
  });
});
