import { execFile } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AOS_BIN, aos } from './helpers/cli.js';
import { ERP_KEY, INVOICES, startErp } from './helpers/invoices.js';
import type { Erp } from './helpers/invoices.js';
import { startServe } from './helpers/serve.js';
import type { ServeProcess } from './helpers/serve.js';

interface Result {
  code: number;
  stdout: string;
  stderr: string;
}

/** `aos` without blocking this process, whose event loop serves the ERP upstream `aos serve` calls. */
function aosAsync(args: string[], env: Record<string, string>): Promise<Result> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [AOS_BIN, ...args],
      { env: { ...process.env, AOS_DATABASE_URL: '', AOS_URL: '', AOS_TOKEN: '', ...env }, timeout: 60_000 },
      (err, stdout, stderr) =>
        resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr }),
    );
  });
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('aos runs and aos workflows against a running server (--url, --token)', () => {
  let tmp: string;
  let erp: Erp;
  let server: ServeProcess;
  let config: string;
  const tokens: Record<string, string> = {};
  let local: Record<string, string>;
  const remote = (who: string) => ({ AOS_URL: server.url, AOS_TOKEN: tokens[who] as string });
  const input = (id: string, total: number) =>
    JSON.stringify({ invoiceId: id, document: { number: id, vendor: 'acme', total, currency: 'EUR' } });

  beforeAll(async () => {
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'aos-wf-remote-'));
    erp = await startErp();
    config = path.join(tmp, 'aos.yaml');
    fs.writeFileSync(
      config,
      fs
        .readFileSync(path.join(INVOICES, 'aos.yaml'), 'utf8')
        .replaceAll('http://127.0.0.1:7432', erp.url)
        .replace('policies: ./policies', `policies: ${path.join(INVOICES, 'policies')}`)
        .replace('workflows: ./workflows', `workflows: ${path.join(INVOICES, 'workflows')}`)
        .replace('rules: ./rules.mjs', `rules: ${path.join(INVOICES, 'rules.mjs')}`),
    );
    local = { AOS_DATA: path.join(tmp, 'data'), AOS_SECRET_ERP_API_KEY: ERP_KEY };
    const setup = (...args: string[]) => {
      const r = aos(args, local);
      expect(r.code, r.stderr).toBe(0);
      return r.stdout.trim();
    };
    setup('humans', 'add', 'ada', '--groups', 'admins');
    setup('humans', 'add', 'frank', '--groups', 'approvers:finance');
    for (const [id, role, tier] of [
      ['clerk-1', 'clerk', '1'],
      ['critic-1', 'critic', '1'],
      ['poster', 'poster', '2'],
    ] as const)
      setup('agents', 'create', id, '--role', role, '--tier', tier, '--owner', 'ada');
    for (const h of ['ada', 'frank']) tokens[h] = setup('tokens', 'issue', '--human', h);
    server = await startServe(['serve', '--config', config, '--port', '0', '--quiet'], local);
  });
  afterAll(async () => {
    await server?.stop();
    await erp?.close();
    fs.rmSync(tmp, { recursive: true, force: true });
  });

  it('lists workflows exactly as local mode does', async () => {
    const r = await aosAsync(['workflows', 'list'], remote('ada'));
    expect(r.stderr).toBe('');
    expect(r.stdout).toContain('invoice-approval');
    expect(r.stdout).toBe(aos(['workflows', 'list', '--config', config], local).stdout);
    const json = await aosAsync(['workflows', 'list', '--json'], remote('ada'));
    expect(json.stdout).toBe(aos(['workflows', 'list', '--config', config, '--json'], local).stdout);
  });

  it('starts a run, follows it to its approval, approves it and shows it, as local mode prints them', async () => {
    const started = await aosAsync(
      ['runs', 'start', 'invoice-approval', '--input', input('inv-r1', 5000), '--wait'],
      remote('ada'),
    );
    expect(started.stderr).toBe('');
    const waiting = JSON.parse(started.stdout) as {
      id: string;
      createdBy: string;
      steps: Record<string, { status: string }>;
    };
    expect(waiting.createdBy).toBe('human:ada');
    expect(waiting.steps.approve?.status).toBe('waiting');
    expect(erp.calls('POST /invoices/:id/post')).toBe(0);

    const approved = await aosAsync(
      ['runs', 'approve', waiting.id, 'approve', '--comment', 'ok'],
      remote('frank'),
    );
    expect(approved.stderr).toBe('');
    expect(
      (JSON.parse(approved.stdout) as { steps: Record<string, { status: string }> }).steps.approve?.status,
    ).toBe('completed');
    let shown: { status: string } = { status: 'running' };
    for (let i = 0; i < 60 && shown.status !== 'completed'; i++) {
      await sleep(250);
      shown = JSON.parse((await aosAsync(['runs', 'show', waiting.id], remote('ada'))).stdout) as {
        status: string;
      };
    }
    expect(shown.status).toBe('completed');
    expect(erp.calls('POST /invoices/:id/post')).toBe(1);

    // Same output as local mode on the same store (the server is idle: the run is over).
    const remoteShow = await aosAsync(['runs', 'show', waiting.id], remote('ada'));
    expect(remoteShow.stdout).toBe(aos(['runs', 'show', waiting.id], local).stdout);
    for (const args of [
      ['runs', 'list'],
      ['runs', 'list', '--json'],
      ['runs', 'list', '--status', 'completed'],
    ]) {
      const r = await aosAsync(args, remote('ada'));
      expect(r.stdout).toBe(aos(args, local).stdout);
    }
  });

  it('denies an approval step and cancels runs remotely, with the server’s errors', async () => {
    const a = JSON.parse(
      (
        await aosAsync(
          ['runs', 'start', 'invoice-approval', '--input', input('inv-r2', 7000), '--wait'],
          remote('ada'),
        )
      ).stdout,
    ) as { id: string };
    const denied = await aosAsync(['runs', 'deny', a.id, 'approve', '--comment', 'no'], remote('frank'));
    expect(denied.stderr).toBe('');
    expect(
      (JSON.parse(denied.stdout) as { steps: Record<string, { status: string }> }).steps.approve?.status,
    ).toBe('failed');
    const b = JSON.parse(
      (await aosAsync(['runs', 'start', 'invoice-approval', '--input', input('inv-r3', 7000)], remote('ada')))
        .stdout,
    ) as { id: string; status: string };
    expect(b.status).toBe('running');
    const forbidden = await aosAsync(['runs', 'cancel', b.id], remote('frank'));
    expect(forbidden.code).not.toBe(0);
    const cancelled = await aosAsync(['runs', 'cancel', b.id, '--reason', 'duplicate'], remote('ada'));
    expect(cancelled.stderr).toBe('');
    expect((JSON.parse(cancelled.stdout) as { status: string }).status).toBe('compensating');
    const bad = await aosAsync(
      ['runs', 'start', 'invoice-approval', '--input', '{"invoiceId":1}'],
      remote('ada'),
    );
    expect(bad.code).not.toBe(0);
    expect(bad.stderr).toContain('input');
  });

  it('asks for a token when given a URL', async () => {
    const r = await aosAsync(['runs', 'list'], { AOS_URL: server.url });
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain('token');
  });
});
