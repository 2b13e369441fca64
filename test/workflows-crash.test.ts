import { execFile } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Engine } from '@autonomy-os/core';
import { PG_URL, backends } from './helpers/backends.js';
import type { TestStore } from './helpers/backends.js';
import { AOS_BIN } from './helpers/cli.js';
import {
  ERP_KEY,
  INVOICES,
  invoicesConfig,
  invoicesEngine,
  seedInvoices,
  startErp,
} from './helpers/invoices.js';
import type { Erp } from './helpers/invoices.js';

/** `aos` as a child process that may be killed; this process keeps serving the ERP upstream meanwhile. */
function aosAsync(
  args: string[],
  env: Record<string, string>,
): Promise<{ signal: string | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = execFile(
      process.execPath,
      [AOS_BIN, ...args],
      { env: { ...process.env, AOS_DATABASE_URL: '', ...env }, timeout: 60_000 },
      (_err, stdout, stderr) => resolve({ signal: child.signalCode, stdout, stderr }),
    );
  });
}

describe.each(backends)('workflow crash recovery on $name', (backend) => {
  let t: TestStore;
  let erp: Erp;
  let engine: Engine | undefined;

  beforeEach(async (ctx) => {
    if (!backend.enabled) return ctx.skip();
    t = await backend.create();
    erp = await startErp();
    await seedInvoices(t);
  });
  afterEach(async () => {
    await engine?.close();
    engine = undefined;
    await erp?.close();
    await t?.cleanup();
  });

  it('finishes a run after kill -9 between an action and its completion event, each effect once upstream', async () => {
    const config = path.join(t.dataDir, 'aos.yaml');
    fs.writeFileSync(
      config,
      fs
        .readFileSync(path.join(INVOICES, 'aos.yaml'), 'utf8')
        .replaceAll('http://127.0.0.1:7432', erp.url)
        .replace('policies: ./policies', `policies: ${path.join(INVOICES, 'policies')}`)
        .replace('workflows: ./workflows', `workflows: ${path.join(INVOICES, 'workflows')}`)
        .replace('rules: ./rules.mjs', `rules: ${path.join(INVOICES, 'rules.mjs')}`),
    );
    const input = JSON.stringify({
      invoiceId: 'inv-3',
      document: { number: 'inv-3', vendor: 'acme', total: 300, currency: 'EUR' },
    });
    const crashed = await aosAsync(
      ['runs', 'start', 'invoice-approval', '--config', config, '--input', input, '--wait'],
      {
        AOS_DATA: t.dataDir,
        AOS_DATABASE_URL: backend.name === 'postgres' ? `${PG_URL}?schema=${t.schema}` : '',
        AOS_SECRET_ERP_API_KEY: ERP_KEY,
        AOS_CRASH_POINT: 'workflow.after-action-submit',
      },
    );
    expect(crashed.signal).toBe('SIGKILL');
    expect(crashed.stdout).toBe('');
    expect(erp.calls('POST /invoices/:id/post')).toBe(1);

    engine = await invoicesEngine(t.store, invoicesConfig(erp.url));
    const [run] = await engine.workflows.list();
    expect(run?.status).toBe('running');
    expect((await engine.workflows.get(run?.id as string)).steps.post?.status).toBe('running');
    expect(await engine.workflows.tick()).toBe(0); // the dead process's lease still holds
    await engine.workflows.tick(Date.now() + 31_000); // ... until it runs out
    await engine.workflows.drain();
    const done = await engine.workflows.get(run?.id as string);
    expect(done.status).toBe('completed');
    expect(erp.calls('POST /invoices/:id/post')).toBe(1);
    expect(erp.calls('POST /notifications')).toBe(1);
    expect((await t.store.audit.verify()).ok).toBe(true);
  });
});
