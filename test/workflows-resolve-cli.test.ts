import { execFile } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { AOS_BIN, aos } from './helpers/cli.js';
import { ERP_KEY, INVOICES, startErp } from './helpers/invoices.js';
import type { Erp } from './helpers/invoices.js';

/** `aos` without blocking this process, whose event loop serves the ERP upstream the command calls. */
function aosAsync(
  args: string[],
  env: Record<string, string>,
): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = execFile(
      process.execPath,
      [AOS_BIN, ...args],
      { env: { ...process.env, AOS_DATABASE_URL: '', ...env }, timeout: 60_000 },
      (_err, stdout, stderr) => resolve({ code: child.exitCode ?? -1, stdout, stderr }),
    );
  });
}

let tmp: string;
let erp: Erp;
beforeEach(async () => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'aos-wf-resolve-'));
  erp = await startErp();
});
afterEach(async () => {
  await erp.close();
  fs.rmSync(tmp, { recursive: true, force: true });
});

describe('aos runs resolve', () => {
  it('lets the owner resolve a step whose action has an unknown outcome; refuses others and bad outcomes', async () => {
    const config = path.join(tmp, 'aos.yaml');
    fs.writeFileSync(
      config,
      fs
        .readFileSync(path.join(INVOICES, 'aos.yaml'), 'utf8')
        .replaceAll('http://127.0.0.1:7432', erp.url)
        // The ERP answers after the connector gives up: the post reaches it, its outcome is unknown.
        .replace('timeoutMs: 10000', 'timeoutMs: 200')
        .replace('policies: ./policies', `policies: ${path.join(INVOICES, 'policies')}`)
        .replace('workflows: ./workflows', `workflows: ${path.join(INVOICES, 'workflows')}`)
        .replace('rules: ./rules.mjs', `rules: ${path.join(INVOICES, 'rules.mjs')}`),
    );
    const env = { AOS_DATA: path.join(tmp, 'data'), AOS_SECRET_ERP_API_KEY: ERP_KEY };
    expect(aos(['humans', 'add', 'fiona', '--groups', 'approvers:finance'], env).stderr).toBe('');
    expect(aos(['humans', 'add', 'frank', '--groups', 'approvers:finance'], env).stderr).toBe('');
    for (const [id, role, tier] of [
      ['clerk-1', 'clerk', '1'],
      ['critic-1', 'critic', '1'],
      ['poster', 'poster', '2'],
    ] as const)
      expect(
        aos(['agents', 'create', id, '--role', role, '--tier', tier, '--owner', 'fiona'], env).stderr,
      ).toBe('');
    erp.state.delayMs = 1500;
    const input = JSON.stringify({
      invoiceId: 'inv-7',
      document: { number: 'inv-7', vendor: 'acme', total: 90, currency: 'EUR' },
    });
    const started = await aosAsync(
      ['runs', 'start', 'invoice-approval', '--config', config, '--input', input, '--wait', '--as', 'fiona'],
      env,
    );
    expect(started.stderr).toBe('');
    const run = JSON.parse(started.stdout) as {
      id: string;
      status: string;
      steps: Record<string, { status: string; unknownOutcome?: { actionId: string } }>;
    };
    expect(run.status).toBe('running');
    expect(run.steps.post).toMatchObject({ status: 'waiting', unknownOutcome: {} });
    erp.state.delayMs = 0;

    const bad = await aosAsync(
      ['runs', 'resolve', run.id, 'post', '--outcome', 'maybe', '--as', 'fiona'],
      env,
    );
    expect(bad.code).not.toBe(0);
    expect(bad.stderr).toContain('outcome');
    const other = await aosAsync(
      ['runs', 'resolve', run.id, 'post', '--outcome', 'retry', '--as', 'frank'],
      env,
    );
    expect(other.code).not.toBe(0);
    expect(other.stderr).toContain('owner fiona');
    const output = JSON.stringify({ invoiceId: 'inv-7', status: 'posted', entry: 'je_1' });
    const resolved = await aosAsync(
      ['runs', 'resolve', run.id, 'post', '--outcome', 'succeeded', '--output', output, '--as', 'fiona'],
      env,
    );
    expect(resolved.stderr).toBe('');
    const after = JSON.parse(resolved.stdout) as typeof run & { steps: Record<string, { output?: unknown }> };
    expect(after.steps.post).toMatchObject({ status: 'completed', output: JSON.parse(output) });
    const again = await aosAsync(
      ['runs', 'resolve', run.id, 'post', '--outcome', 'failed', '--as', 'fiona'],
      env,
    );
    expect(again.code).not.toBe(0);
    expect(again.stderr).toContain('not waiting for an outcome decision');
    expect(erp.calls('POST /invoices/:id/post')).toBe(1);
  });
});
