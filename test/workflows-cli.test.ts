import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { execFile } from 'node:child_process';
import { AOS_BIN, aos } from './helpers/cli.js';
import { ERP_KEY, INVOICES, startErp } from './helpers/invoices.js';
import type { Erp } from './helpers/invoices.js';

/** `aos` without blocking this process, whose event loop serves the ERP upstream the command calls. */
function aosAsync(args: string[], env: Record<string, string>): Promise<{ stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [AOS_BIN, ...args],
      { env: { ...process.env, AOS_DATABASE_URL: '', ...env }, timeout: 60_000 },
      (_err, stdout, stderr) => resolve({ stdout, stderr }),
    );
  });
}

let tmp: string;
let erp: Erp;
beforeEach(async () => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'aos-wf-cli-'));
  erp = await startErp();
});
afterEach(async () => {
  await erp.close();
  fs.rmSync(tmp, { recursive: true, force: true });
});

describe('aos workflows and aos runs', () => {
  it('validates the example workflows against the organisation: roles from the store, rules from the config', () => {
    const env = { AOS_DATA: path.join(tmp, 'data') };
    const bare = aos(['workflows', 'validate', path.join(INVOICES, 'workflows')], env);
    expect(bare.code).toBe(0); // no store yet: the file alone is valid, and stderr says roles were not checked
    expect(bare.stderr).toContain('roles not checked: no store at');

    expect(aos(['humans', 'add', 'fiona'], env).stderr).toBe('');
    for (const [id, role] of [
      ['clerk-1', 'clerk'],
      ['critic-1', 'critic'],
      ['poster', 'poster'],
    ] as const)
      expect(aos(['agents', 'create', id, '--role', role, '--owner', 'fiona'], env).stderr).toBe('');
    const config = path.join(INVOICES, 'aos.yaml');
    const r = aos(['workflows', 'validate', path.join(INVOICES, 'workflows'), '--config', config], env);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toBe(
      'ok invoice-approval v1 (owner fiona, 5 steps)\nok invoice-intake v1 (owner fiona, 1 step)\n',
    );

    const example = fs.readFileSync(path.join(INVOICES, 'workflows', 'invoice-approval.yaml'), 'utf8');
    const file = path.join(tmp, 'invoice-approval.yaml');
    fs.writeFileSync(file, example.replace('role: clerk', 'role: clerks'));
    const role = aos(['workflows', 'validate', file, '--config', config], env);
    expect(role.code).toBe(2);
    expect(role.stderr).toContain(`${file}: steps.extract.role: unknown role 'clerks'`);
    fs.writeFileSync(file, example.replace('rule: invoice-extract', 'rule: invoice-extractor'));
    const rule = aos(['workflows', 'validate', file, '--config', config], env);
    expect(rule.code).toBe(2);
    expect(rule.stderr).toContain(`${file}: steps.extract.rule: unknown rule handler 'invoice-extractor'`);
  });

  it('rejects a workflow with a cycle, naming the file and the path', () => {
    const file = path.join(tmp, 'bad.yaml');
    fs.writeFileSync(
      file,
      'name: bad\nversion: 1\nowner: ada\nsteps:\n  a: { kind: task, role: r, rule: x, dependsOn: [b] }\n  b: { kind: task, role: r, rule: x, dependsOn: [a] }\n',
    );
    const r = aos(['workflows', 'validate', file]);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain(`${file}: steps.a.dependsOn: cycle: a → b → a`);
  });

  it('starts a run of the example and advances it to completion with --wait', async () => {
    const config = path.join(tmp, 'aos.yaml');
    fs.writeFileSync(
      config,
      fs
        .readFileSync(path.join(INVOICES, 'aos.yaml'), 'utf8')
        .replaceAll('http://127.0.0.1:7432', erp.url)
        .replace('policies: ./policies', `policies: ${path.join(INVOICES, 'policies')}`)
        .replace('workflows: ./workflows', `workflows: ${path.join(INVOICES, 'workflows')}`)
        .replace('rules: ./rules.mjs', `rules: ${path.join(INVOICES, 'rules.mjs')}`),
    );
    const env = { AOS_DATA: path.join(tmp, 'data'), AOS_SECRET_ERP_API_KEY: ERP_KEY };
    const list = aos(['workflows', 'list', '--config', config], env);
    expect(list.stdout).toContain('invoice-approval');
    expect(aos(['humans', 'add', 'fiona', '--groups', 'approvers:finance'], env).stderr).toBe('');
    for (const [id, role, tier] of [
      ['clerk-1', 'clerk', '1'],
      ['critic-1', 'critic', '1'],
      ['poster', 'poster', '2'],
    ] as const) {
      const c = aos(['agents', 'create', id, '--role', role, '--tier', tier, '--owner', 'fiona'], env);
      expect(c.stderr).toBe('');
    }
    const input = JSON.stringify({
      invoiceId: 'inv-7',
      document: { number: 'inv-7', vendor: 'acme', total: 90, currency: 'EUR' },
    });
    const r = await aosAsync(
      ['runs', 'start', 'invoice-approval', '--config', config, '--input', input, '--wait', '--as', 'fiona'],
      env,
    );
    expect(r.stderr).toBe('');
    const run = JSON.parse(r.stdout) as { id: string; status: string; output: unknown };
    expect(run.status).toBe('completed');
    expect(run.output).toEqual({ invoiceId: 'inv-7', entry: 'je_1' });
    expect(erp.calls('POST /invoices/:id/post')).toBe(1);
    const shown = aos(['runs', 'show', run.id], env);
    expect((JSON.parse(shown.stdout) as { events: unknown[] }).events.length).toBeGreaterThan(5);
    expect(aos(['runs', 'list'], env).stdout).toContain(run.id);
    const cancel = aos(['runs', 'cancel', run.id, '--as', 'fiona'], env);
    expect(cancel.code).not.toBe(0);
    expect(cancel.stderr).toContain('already completed');
  });
});
