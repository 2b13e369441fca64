import { execFileSync, spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { Page } from 'playwright-core';
import { AOS_BIN, aos } from './helpers/cli.js';
import { startServe } from './helpers/serve.js';
import type { ServeProcess } from './helpers/serve.js';
import { PAYMENTS_KEY, SUPPORT_DESK } from './helpers/support-desk.js';
import { hasChromium, launchChromium, seriousA11yViolations } from './helpers/browser.js';

const SCREENSHOTS = fileURLToPath(new URL('../docs/screenshots/', import.meta.url));
/** What an agent might write to hijack an approver's browser; it must show as text and never run. */
const PLANTED =
  'Customer says: <script>window.__pwned = "script"</script><img src=x onerror="window.__pwned = \'img\'"> ' +
  '<a href="javascript:window.__pwned=\'link\'">details</a>';

const PLANTED_NOTE = '<script>window.__pwned="input"</script> javascript:alert(1)';

function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = net.createServer();
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(port));
    });
  });
}

if (!hasChromium) {
  process.stdout.write(
    '[aos] console browser tests: SKIPPED (/usr/bin/chromium is missing: apt-get install -y chromium)\n',
  );
}

describe.skipIf(!hasChromium)('the web console, in Chromium, against aos serve', () => {
  let dir: string;
  let payments: ChildProcess;
  let server: ServeProcess;
  let chromium: Awaited<ReturnType<typeof launchChromium>>;
  const tokens: Record<string, string> = {};
  const pages: Page[] = [];
  let approvalId = '';
  let actionId = '';

  const run = (...args: string[]) => {
    const r = aos(['--data', dir, ...args]);
    if (r.code !== 0) throw new Error(`aos ${args.join(' ')} exited ${r.code}: ${r.stderr}`);
    return r.stdout;
  };
  const api = async (token: string, method: string, p: string, body?: unknown) => {
    const res = await fetch(`${server.url}${p}`, {
      method,
      headers: { authorization: `Bearer ${token}`, ...(body ? { 'content-type': 'application/json' } : {}) },
      ...(body ? { body: JSON.stringify(body) } : {}),
    });
    // eslint-disable-next-line @typescript-eslint/no-explicit-any -- response bodies are read loosely in this test
    return { status: res.status, body: (await res.json()) as Record<string, any> };
  };
  const act = (tool: string, input: Record<string, unknown>, extra: Record<string, unknown> = {}) =>
    api(tokens['refund-bot'] as string, 'POST', '/v1/actions', { tool, input, ...extra });

  /** A new browser session (its own sessionStorage), signed in with `token`. */
  async function signedIn(token: string): Promise<Page> {
    const page = await chromium.context.newPage();
    pages.push(page);
    await page.goto(server.url);
    await page.getByLabel('API token', { exact: true }).fill(token);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByTestId('who').waitFor();
    return page;
  }
  // The main pages' screenshots come from test/console-demo.e2e.test.ts (the demo organisation); these are the rest.
  const shot = (page: Page, name: string) =>
    page.screenshot({ path: path.join(SCREENSHOTS, `${name}.png`), fullPage: false });
  /** What the planted markup would have set, had any of it run. */
  const pwned = (page: Page) => page.evaluate(() => (globalThis as { __pwned?: string }).__pwned);
  const expectAccessible = async (page: Page) => expect(await seriousA11yViolations(page)).toEqual([]);

  beforeAll(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'aos-console-'));
    fs.mkdirSync(SCREENSHOTS, { recursive: true });
    const port = await freePort();
    const paymentsUrl = `http://127.0.0.1:${port}`;
    payments = spawn(process.execPath, [path.join(SUPPORT_DESK, 'payments-server.mjs'), String(port)], {
      env: { ...process.env, PAYMENTS_API_KEY: PAYMENTS_KEY },
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    await new Promise<void>((r) => payments.stdout?.once('data', () => r()));
    const config = path.join(dir, 'aos.yaml');
    fs.cpSync(path.join(SUPPORT_DESK, 'policies'), path.join(dir, 'policies'), { recursive: true });
    fs.writeFileSync(
      config,
      fs
        .readFileSync(path.join(SUPPORT_DESK, 'aos.yaml'), 'utf8')
        .replaceAll('http://127.0.0.1:7431', paymentsUrl),
    );
    run('init');
    execFileSync(process.execPath, [AOS_BIN, '--data', dir, 'secrets', 'set', 'payments-api-key'], {
      input: `${PAYMENTS_KEY}\n`,
    });
    run('humans', 'add', 'ada', '--groups', 'admins,auditors');
    run('humans', 'add', 'frank', '--groups', 'approvers:finance');
    run('humans', 'add', 'olivia', '--groups', 'approvers:support-leads');
    run('humans', 'add', 'vic');
    run('agents', 'create', 'refund-bot', '--role', 'support', '--owner', 'olivia', '--tier', '2');
    run('agents', 'create', 'reader', '--role', 'support', '--owner', 'olivia', '--tier', '0');
    tokens['refund-bot'] = run('tokens', 'issue', '--agent', 'refund-bot').trim();
    for (const h of ['ada', 'frank', 'vic']) tokens[h] = run('tokens', 'issue', '--human', h).trim();
    server = await startServe(['--data', dir, 'serve', '--config', config, '--port', '0', '--quiet']);
    chromium = await launchChromium();
  }, 240_000);

  // Each tab holds an event stream, and Chromium opens at most six HTTP/1.1 connections to one server.
  afterEach(async () => {
    for (const p of pages.splice(0)) await p.close().catch(() => undefined);
  });

  afterAll(async () => {
    await chromium?.close();
    await server?.stop();
    payments?.kill('SIGKILL');
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  it('serves the console at / and client routes with a strict CSP, and leaves API paths to the API', async () => {
    for (const p of ['/', '/approvals/apr_x']) {
      const res = await fetch(`${server.url}${p}`, { headers: { accept: 'text/html' } });
      expect(res.status).toBe(200);
      expect(await res.text()).toContain('<div id="root">');
      const csp = res.headers.get('content-security-policy') ?? '';
      expect(csp).toContain("script-src 'self'");
      expect(csp).not.toMatch(/unsafe-inline|unsafe-eval/);
    }
    const api404 = await fetch(`${server.url}/v1/nope`, { headers: { accept: 'text/html' } });
    expect(api404.status).toBe(404);
    expect(await api404.json()).toMatchObject({ error: { code: 'not_found' } });
    expect((await fetch(`${server.url}/healthz`)).status).toBe(200);
  });

  it('refuses to sign in an agent token, and a bad token', async () => {
    const page = await chromium.context.newPage();
    pages.push(page);
    await page.goto(server.url);
    await expectAccessible(page);
    await shot(page, 'sign-in');
    await page.getByLabel('API token', { exact: true }).fill(tokens['refund-bot'] as string);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await expect(page.getByRole('alert').textContent()).resolves.toMatch(/agent token/);
    await page.getByLabel('API token', { exact: true }).fill('aos_not_a_token');
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page
      .getByRole('alert')
      .filter({ hasText: /token|authenticat/i })
      .waitFor();
    expect(await page.getByTestId('who').count()).toBe(0);
  });

  it('shows a pending approval arriving live, its evidence as text, and approves it', async () => {
    const page = await signedIn(tokens.frank as string);
    expect(await page.getByTestId('who').textContent()).toContain('frank · approver');
    await page.getByRole('navigation').getByRole('link', { name: 'Approvals' }).click();
    await page.getByText('No pending approvals.').waitFor();
    // The agent asks while the inbox is open: the row appears without a reload.
    const pending = await act(
      'payments.refund',
      { orderId: 'o-2', amount: 250, note: PLANTED_NOTE },
      { reason: PLANTED, confidence: 0.8 },
    );
    expect(pending.body).toMatchObject({ outcome: 'pending_approval' });
    approvalId = pending.body.approvalId as string;
    actionId = pending.body.id as string;
    await page.locator(`tr[data-approval="${approvalId}"]`).waitFor({ timeout: 15_000 });
    await expectAccessible(page);

    await page.locator(`tr[data-approval="${approvalId}"]`).getByRole('link', { name: 'Review' }).click();
    await expect(page.getByTestId('agent-reason').textContent()).resolves.toBe(PLANTED);
    const args = await page.getByLabel('Tool arguments').textContent();
    expect(args).toContain('"amount": 250');
    expect(args).toContain(`"note": ${JSON.stringify(PLANTED_NOTE)}`);
    expect(await pwned(page)).toBeUndefined();
    expect(await page.locator('a[href^="javascript:"]').count()).toBe(0);
    expect(await page.locator('main script, main img').count()).toBe(0);
    await expectAccessible(page);
    await shot(page, 'approval');

    await page.getByLabel('Comment').fill('checked the order');
    await page.getByRole('button', { name: 'Approve' }).click();
    await page.getByRole('status').filter({ hasText: 'The approval is approved' }).waitFor();
    expect((await api(tokens.frank as string, 'GET', `/v1/actions/${actionId}`)).body.status).toBe(
      'succeeded',
    );
    expect(await pwned(page)).toBeUndefined();
  });

  it('opens the receipt of the approved action and undoes it (as an admin)', async () => {
    const page = await signedIn(tokens.ada as string);
    await page.goto(`${server.url}/actions/${actionId}`);
    await page.getByRole('heading', { name: 'What did the agent do?' }).waitFor();
    await page.getByRole('heading', { name: 'Who approved it?' }).waitFor();
    expect(await page.locator('section', { hasText: 'Who approved it?' }).textContent()).toContain('frank');
    await expectAccessible(page);
    await page.getByRole('button', { name: /^Undo with payments\.reverse_refund/ }).click();
    await page
      .getByRole('status')
      .filter({ hasText: /Reversal .* is succeeded/ })
      .waitFor();
    expect(await pwned(page)).toBeUndefined();
  });

  it('pauses an agent from the agents page, and its next call is refused; then resumes it', async () => {
    const page = await signedIn(tokens.ada as string);
    await page.getByRole('navigation').getByRole('link', { name: 'Agents' }).click();
    await page.getByRole('button', { name: 'pause refund-bot' }).click();
    await page.getByRole('button', { name: 'resume refund-bot' }).waitFor();
    const refused = await act('payments.get_order', { orderId: 'o-1' });
    expect(refused.body).toMatchObject({
      outcome: 'denied',
      decision: { policies: ['builtin:agent-paused'] },
    });
    await expectAccessible(page);
    await shot(page, 'agents');
    await page.getByRole('navigation').getByRole('link', { name: 'Overview' }).click();
    await page
      .getByRole('cell', { name: /agent refund-bot is paused/ })
      .first()
      .waitFor({ timeout: 15_000 });
    await page.getByRole('navigation').getByRole('link', { name: 'Agents' }).click();
    await page.getByRole('button', { name: 'resume refund-bot' }).click();
    await page.getByRole('button', { name: 'pause refund-bot' }).waitFor();
    expect((await act('payments.get_order', { orderId: 'o-1' })).body).toMatchObject({ outcome: 'allowed' });
  });

  it('engages and releases the global kill switch with a reason, live on the overview', async () => {
    const page = await signedIn(tokens.ada as string);
    const overview = await signedIn(tokens.ada as string);
    await overview.getByTestId('killswitch-state').filter({ hasText: 'None engaged' }).waitFor();
    await page.getByRole('navigation').getByRole('link', { name: 'Kill switches' }).click();
    await page.getByLabel('Reason').fill('incident 42: refunds look wrong');
    await page.getByRole('button', { name: 'Engage' }).click();
    await page.getByRole('button', { name: 'Release global' }).waitFor();
    await overview
      .getByTestId('killswitch-state')
      .filter({ hasText: '1 engaged' })
      .waitFor({ timeout: 15_000 });
    expect((await act('payments.get_order', { orderId: 'o-1' })).body).toMatchObject({ outcome: 'denied' });
    await expectAccessible(page);
    await shot(page, 'killswitches');
    await expectAccessible(overview);
    await page.getByRole('button', { name: 'Release global' }).click();
    await overview
      .getByTestId('killswitch-state')
      .filter({ hasText: 'None engaged' })
      .waitFor({ timeout: 15_000 });
    expect((await act('payments.get_order', { orderId: 'o-1' })).body).toMatchObject({ outcome: 'allowed' });
  });

  it('shows live activity, filters it and pauses the view', async () => {
    const page = await signedIn(tokens.ada as string);
    await page.getByRole('navigation').getByRole('link', { name: 'Live activity' }).click();
    await act('payments.get_order', { orderId: 'o-3' });
    await page.getByRole('cell', { name: 'action.succeeded' }).first().waitFor({ timeout: 15_000 });
    await page.getByLabel('Event or outcome').fill('denied');
    await page.getByText('No event yet.').waitFor();
    await page.getByLabel('Event or outcome').fill('');
    await page.getByRole('button', { name: 'Pause view' }).click();
    await act('payments.get_order', { orderId: 'o-4' });
    await page.getByRole('button', { name: /Resume \([1-9]\d* new\)/ }).waitFor({ timeout: 15_000 });
    await expectAccessible(page);
    await shot(page, 'activity');
  });

  it('verifies the audit chain for an auditor', async () => {
    const page = await signedIn(tokens.ada as string);
    await page.getByRole('navigation').getByRole('link', { name: 'Audit' }).click();
    await page.getByRole('button', { name: 'Verify the chain' }).click();
    await page
      .getByRole('status')
      .filter({ hasText: /^Intact: \d+ of \d+ records verified/ })
      .waitFor();
    await expectAccessible(page);
  });

  it('offers a viewer no approve, pause or engage, and the API refuses them (403)', async () => {
    const pending = await act('payments.refund', { orderId: 'o-5', amount: 300 }, { reason: 'lost parcel' });
    const id = pending.body.approvalId as string;
    const page = await signedIn(tokens.vic as string);
    expect(await page.getByTestId('who').textContent()).toContain('vic · viewer');
    await page.goto(`${server.url}/approvals/${id}`);
    await page.getByTestId('cannot-decide').waitFor();
    expect(await page.getByRole('button', { name: 'Approve' }).count()).toBe(0);
    await page.getByRole('navigation').getByRole('link', { name: 'Agents' }).click();
    await page.getByRole('cell', { name: 'refund-bot' }).first().waitFor();
    expect(await page.getByRole('button', { name: /^(pause|resume|kill) / }).count()).toBe(0);
    await page.getByRole('navigation').getByRole('link', { name: 'Kill switches' }).click();
    await page.getByTestId('viewer-note').waitFor();
    expect(await page.getByRole('button', { name: 'Engage' }).count()).toBe(0);

    const vic = tokens.vic as string;
    expect((await api(vic, 'POST', `/v1/approvals/${id}/approve`, {})).status).toBe(403);
    expect((await api(vic, 'POST', '/v1/agents/refund-bot/pause', {})).status).toBe(403);
    expect((await api(vic, 'POST', '/v1/killswitch', { active: true, reason: 'x' })).status).toBe(403);
    expect((await api(tokens.ada as string, 'GET', `/v1/approvals/${id}`)).body.status).toBe('pending');
  });
});
