import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { Page } from 'playwright-core';
import { AOS_BIN, aos } from './helpers/cli.js';
import { startLiveDemo } from './helpers/demo.js';
import type { DemoStartLine, LiveDemo } from './helpers/demo.js';
import { hasChromium, launchChromium, seriousA11yViolations } from './helpers/browser.js';

/**
 * The console's acceptance, tried as a new user would: one `aos demo` process, one Chromium, each scene a tab
 * signed in as the person who would do it.
 */
const SCREENSHOTS = fileURLToPath(new URL('../docs/screenshots/', import.meta.url));
const DEMO_CONFIG = fileURLToPath(new URL('../examples/demo/aos.yaml', import.meta.url));
const PLANTED =
  'Refund now <script>window.__pwned = "script"</script><img src=x onerror="window.__pwned = \'img\'"> ' +
  '<a href="javascript:window.__pwned=\'link\'">details</a>';

async function until<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = 60_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await probe();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

if (!hasChromium) process.stdout.write('[aos] console acceptance: SKIPPED (/usr/bin/chromium is missing)\n');

describe.skipIf(!hasChromium)('the console against aos demo, in Chromium', { timeout: 60_000 }, () => {
  let dir: string;
  let demo: LiveDemo;
  let line: DemoStartLine;
  let chromium: Awaited<ReturnType<typeof launchChromium>>;
  let viewer = '';
  /** `aos eval run` of support-bot's gating suite, started in beforeAll beside the other scenes (it takes a while). */
  let evalRun: Promise<{ code: number | null; out: string }>;
  const pages: Page[] = [];

  const api = async (token: string, method: string, p: string, body?: unknown) => {
    const res = await fetch(`${line.url}${p}`, {
      method,
      headers: { authorization: `Bearer ${token}`, ...(body ? { 'content-type': 'application/json' } : {}) },
      ...(body ? { body: JSON.stringify(body) } : {}),
    });
    // eslint-disable-next-line @typescript-eslint/no-explicit-any -- response bodies are read loosely here
    return { status: res.status, body: (await res.json()) as Record<string, any> };
  };
  const support = () => line.agents['support-bot'] as string;
  /** A support-bot call in a fresh session (its demo session read a prompt injection, which taints it). */
  const supportAct = async (
    tool: string,
    input: Record<string, unknown>,
    extra: Record<string, unknown> = {},
  ) => {
    const { body } = await api(support(), 'POST', '/v1/sessions', {});
    return api(support(), 'POST', '/v1/actions', { tool, input, sessionId: body.sessionId, ...extra });
  };
  async function signedIn(token: string, at = '/'): Promise<Page> {
    const page = await chromium.context.newPage();
    pages.push(page);
    await page.goto(line.url);
    await page.getByLabel('API token', { exact: true }).fill(token);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByTestId('who').waitFor();
    if (at !== '/') await page.goto(`${line.url}${at}`);
    return page;
  }
  const nav = (page: Page, name: string) => page.getByRole('navigation').getByRole('link', { name }).click();
  /** Axe finds nothing serious, and a screenshot goes to docs/screenshots. */
  const check = async (page: Page, name: string) => {
    expect(await seriousA11yViolations(page)).toEqual([]);
    await page.screenshot({ path: path.join(SCREENSHOTS, `${name}.png`) });
  };
  /** An attribute of the element that has keyboard focus (the test's tsconfig has no DOM types). */
  const focusedAttr = (page: Page, name: string) =>
    page.evaluate((n) => {
      const doc = (
        globalThis as unknown as {
          document: { activeElement: { getAttribute(a: string): string | null } | null };
        }
      ).document;
      return doc.activeElement?.getAttribute(n) ?? '';
    }, name);
  const pwned = (page: Page) => page.evaluate(() => (globalThis as { __pwned?: string }).__pwned);

  beforeAll(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'aos-console-demo-'));
    fs.mkdirSync(SCREENSHOTS, { recursive: true });
    demo = await startLiveDemo([
      '--data',
      dir,
      'demo',
      '--json',
      '--port',
      '0',
      '--interval-ms',
      '200',
      '--limit',
      '9',
    ]);
    line = demo.line;
    for (const args of [
      ['humans', 'add', 'vic'],
      ['tokens', 'issue', '--human', 'vic'],
    ]) {
      const r = aos(['--data', line.dataDir, ...args]);
      if (r.code !== 0) throw new Error(`aos ${args.join(' ')}: ${r.stderr}`);
      viewer = r.stdout.trim();
    }
    evalRun = new Promise((resolve) => {
      const args = [
        '--data',
        line.dataDir,
        'eval',
        'run',
        'support_agent_regression',
        '--config',
        DEMO_CONFIG,
      ];
      const child = spawn(process.execPath, [AOS_BIN, ...args], {
        env: { ...process.env, AOS_DATABASE_URL: '', AOS_DATA: '', CI: 'true' },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let out = '';
      child.stdout.on('data', (d: Buffer) => (out += d.toString()));
      child.stderr.on('data', (d: Buffer) => (out += d.toString()));
      child.on('close', (code) => resolve({ code, out }));
    });
    chromium = await launchChromium();
  }, 120_000);
  afterEach(async () => {
    for (const p of pages.splice(0)) await p.close().catch(() => undefined);
  });
  afterAll(async () => {
    await chromium?.close();
    await demo?.stop();
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  it('serves the console at / and client routes with a strict CSP, and leaves API paths to the API', async () => {
    for (const p of ['/', '/approvals/apr_x']) {
      const res = await fetch(`${line.url}${p}`, { headers: { accept: 'text/html' } });
      expect(res.status).toBe(200);
      expect(await res.text()).toContain('<div id="root">');
      const csp = res.headers.get('content-security-policy') ?? '';
      expect(csp).toContain("script-src 'self'");
      expect(csp).not.toMatch(/unsafe-inline|unsafe-eval/);
    }
    const api404 = await fetch(`${line.url}/v1/nope`, { headers: { accept: 'text/html' } });
    expect(api404.status).toBe(404);
    expect(await api404.json()).toMatchObject({ error: { code: 'not_found' } });
    expect((await fetch(`${line.url}/healthz`)).status).toBe(200);
  });

  it('refuses to sign in an agent token, and a bad token', async () => {
    const page = await chromium.context.newPage();
    pages.push(page);
    await page.goto(line.url);
    await check(page, 'sign-in');
    await page.getByLabel('API token', { exact: true }).fill(support());
    await page.getByRole('button', { name: 'Sign in' }).click();
    await expect(page.getByRole('alert').textContent()).resolves.toMatch(/agent token/);
    await page.getByLabel('API token', { exact: true }).fill('aos_not_a_token');
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page
      .getByRole('alert')
      .filter({ hasText: /not valid/i })
      .waitFor();
    expect(await page.getByTestId('who').count()).toBe(0);
  });

  it('shows live activity, filters it and pauses the view', async () => {
    const page = await signedIn(line.adminToken);
    await nav(page, 'Live activity');
    await supportAct('erp.get_order', { orderId: 'o-3' });
    await page.getByRole('cell', { name: 'action.succeeded' }).first().waitFor({ timeout: 15_000 });
    await page.getByLabel('Event or outcome').fill('no-such-event');
    await page.getByText(/^No event yet\./).waitFor();
    await page.getByLabel('Event or outcome').fill('');
    await page.getByRole('button', { name: 'Pause view' }).click();
    await supportAct('erp.get_order', { orderId: 'o-4' });
    await page.getByRole('button', { name: /Resume \([1-9]\d* new\)/ }).waitFor({ timeout: 15_000 });
    await check(page, 'activity');
  });

  it('shows a request arriving live in the inbox, reached by keyboard, with planted markup as text', async () => {
    const page = await signedIn(line.approverToken);
    await nav(page, 'Approvals');
    await page.getByRole('table', { name: 'pending approvals' }).waitFor();
    const pending = await supportAct(
      'erp.refund',
      { orderId: 'o-7', amount: 150, note: PLANTED },
      { reason: PLANTED },
    );
    expect(pending.body).toMatchObject({ outcome: 'pending_approval' });
    const id = pending.body.approvalId as string;
    await page.locator(`tr[data-approval="${id}"]`).waitFor({ timeout: 15_000 });
    await check(page, 'approvals');
    // Keyboard: from the status filter, Tab until the row's Review link has focus, then Enter opens it.
    await page.getByLabel('Show').focus();
    for (let i = 0; i < 60; i++) {
      await page.keyboard.press('Tab');
      const href = await focusedAttr(page, 'href');
      if (href.endsWith(id)) break;
    }
    await page.keyboard.press('Enter');
    await expect(page.getByTestId('agent-reason').textContent()).resolves.toBe(PLANTED);
    expect(await page.getByLabel('Tool arguments').textContent()).toContain(JSON.stringify(PLANTED));
    expect(await page.locator('a[href^="javascript:"]').count()).toBe(0);
    expect(await pwned(page)).toBeUndefined();
    await check(page, 'approval');
    await page.getByLabel('Comment').fill('customer confirmed');
    await page.getByRole('button', { name: 'Approve' }).focus();
    await page.keyboard.press('Enter');
    await page.getByRole('status').filter({ hasText: 'The approval is approved' }).waitFor();
    expect(await pwned(page)).toBeUndefined();
  });

  it("approves the large invoice's posting and watches its waiting run complete in the run view", async () => {
    const approval = await until('the inv-1002 posting approval', async () => {
      const { body } = await api(line.adminToken, 'GET', '/v1/approvals?status=pending');
      return (
        body.approvals as { id: string; evidence: { tool: string; input: { invoiceId?: string } } }[]
      ).find((a) => a.evidence.tool === 'erp.post_invoice' && a.evidence.input.invoiceId === 'inv-1002');
    });
    const runs = (await api(line.adminToken, 'GET', '/v1/runs?workflow=invoice-approval&status=running')).body
      .runs as { id: string; input: { invoiceId: string } }[];
    const run = runs.find((r) => r.input.invoiceId === 'inv-1002') as { id: string };
    const watcher = await signedIn(line.adminToken, `/runs/${run.id}`);
    await watcher.getByTestId('run-graph').locator('.react-flow__node').first().waitFor();
    await expect(watcher.getByRole('heading', { level: 1 }).textContent()).resolves.toContain(run.id);
    await check(watcher, 'run');

    const page = await signedIn(line.approverToken, `/approvals/${approval.id}`);
    await page.getByRole('button', { name: 'Approve' }).click();
    await page.getByRole('status').filter({ hasText: 'The approval is approved' }).waitFor();
    await watcher
      .locator('.page-header .badge')
      .filter({ hasText: /^completed$/ })
      .waitFor({ timeout: 30_000 });
    // Keyboard on the run view: arrows move between steps, Enter opens one.
    await watcher.locator('[data-step]').first().focus();
    await watcher.keyboard.press('ArrowDown');
    const focused = await focusedAttr(watcher, 'data-step');
    expect(focused).toBe(await watcher.locator('[data-step]').nth(1).getAttribute('data-step'));
    await watcher.keyboard.press('Enter');
    await watcher
      .getByTestId('step-detail')
      .getByRole('heading', { name: `Step ${focused}` })
      .waitFor();
    await watcher
      .getByRole('button', { name: /routine events/ })
      .first()
      .click();
    await nav(watcher, 'Runs');
    await watcher.getByRole('link', { name: run.id }).waitFor();
    await check(watcher, 'runs');
  });

  it('pauses an agent from its page and its next call is refused; resumes it', async () => {
    const page = await signedIn(line.adminToken, '/agents/support-bot');
    await page.getByRole('button', { name: 'Pause' }).click();
    await page.getByRole('button', { name: 'Resume' }).waitFor();
    const refused = await supportAct('erp.get_order', { orderId: 'o-1' });
    expect(refused.body).toMatchObject({
      outcome: 'denied',
      decision: { policies: ['builtin:agent-paused'] },
    });
    await page.getByRole('link', { name: refused.body.id as string }).waitFor({ timeout: 15_000 });
    await check(page, 'agent');
    await page.getByRole('button', { name: 'Resume' }).click();
    await page.getByRole('button', { name: 'Pause' }).waitFor();
    expect((await supportAct('erp.get_order', { orderId: 'o-1' })).body).toMatchObject({
      outcome: 'allowed',
    });
  });

  it('engages and releases the global kill switch; budgets show use against limits', async () => {
    const page = await signedIn(line.adminToken);
    await nav(page, 'Kill switches');
    await page.getByLabel('Reason').fill('incident 7: invoices look wrong');
    await page.getByRole('button', { name: 'Engage' }).click();
    await page.getByRole('button', { name: 'Release global' }).waitFor();
    expect((await supportAct('erp.get_order', { orderId: 'o-2' })).body).toMatchObject({ outcome: 'denied' });
    await check(page, 'killswitches');
    await page.getByRole('button', { name: 'Release global' }).click();
    await page.getByRole('button', { name: 'Engage' }).waitFor();
    expect((await supportAct('erp.get_order', { orderId: 'o-2' })).body).toMatchObject({
      outcome: 'allowed',
    });
    await nav(page, 'Agents');
    await page.getByRole('cell', { name: 'support-bot' }).first().waitFor();
    await check(page, 'agents');
    await nav(page, 'Budgets');
    await page.locator('tr[data-budget="agent:support-bot"]').getByRole('meter').first().waitFor();
    // The demo's invoice runs each have a budget of their own.
    await page.locator('tr[data-budget^="run:"]').getByRole('meter').first().waitFor();
    await check(page, 'budgets');
    await nav(page, 'Overview');
    await page.getByTestId('charts').locator('svg').first().waitFor();
    await check(page, 'overview');
  });

  it('opens the receipt of a posted invoice and undoes it', async () => {
    const posted = (await api(line.adminToken, 'GET', '/v1/actions?status=succeeded&limit=1000')).body
      .actions as {
      id: string;
      tool: string;
      input: { invoiceId: string };
    }[];
    const post = posted.find((a) => a.tool === 'erp.post_invoice' && a.input.invoiceId === 'inv-1001') as {
      id: string;
    };
    const page = await signedIn(line.adminToken, `/actions/${post.id}`);
    await page.getByRole('heading', { name: 'How do we reverse it?' }).waitFor();
    await check(page, 'receipt');
    await page.getByRole('button', { name: /^Undo with erp\.void_invoice/ }).click();
    await page
      .getByRole('status')
      .filter({ hasText: /Reversal .* is succeeded/ })
      .waitFor();
  });

  it('searches the audit log on the server, verifies the chain and exports a bundle (auditor)', async () => {
    const page = await signedIn(line.auditorToken);
    await nav(page, 'Audit');
    await page.getByLabel('Agent').fill('support-bot');
    await page.getByLabel('Type').fill('action.decided');
    await page.getByRole('button', { name: 'Search' }).click();
    await page.getByRole('cell', { name: 'action.decided' }).first().waitFor();
    const shown = await page.getByRole('row').filter({ hasText: 'action.decided' }).count();
    expect(shown).toBeGreaterThan(0);
    await page.getByRole('button', { name: 'Verify the chain' }).click();
    await page
      .getByRole('status')
      .filter({ hasText: /^Intact: \d+ of \d+ records verified/ })
      .waitFor();
    const download = page.waitForEvent('download');
    await page.getByRole('button', { name: 'Export a bundle' }).click();
    const file = await (await download).path();
    const bundle = JSON.parse(fs.readFileSync(file, 'utf8')) as { format: string; records: unknown[] };
    expect(bundle.format).toBe('aos-audit-bundle/1');
    await page
      .getByTestId('checkpoint')
      .getByText(/records 1-\d+ of \d+/)
      .waitFor();
    await check(page, 'audit');
  });

  it('replays a proposed policy set and shows the decisions that would change', async () => {
    const page = await signedIn(line.adminToken);
    await nav(page, 'Policies');
    const box = page.getByLabel('Proposed policies (Cedar)');
    await expect.poll(() => box.inputValue()).toContain('support-refunds');
    const text = await box.inputValue();
    // Proposed: support agents refund nothing.
    await box.fill(text.replace(/@id\("support-refunds"\)\s*permit/, '@id("support-refunds")\nforbid'));
    await page.getByRole('button', { name: 'Replay' }).click();
    await page
      .getByRole('status')
      .filter({ hasText: /would change/ })
      .waitFor({ timeout: 30_000 });
    const rows = page.getByRole('table', { name: 'Changed decisions' }).locator('tbody tr');
    expect(await rows.count()).toBeGreaterThan(0);
    expect(await rows.first().textContent()).toContain('erp.refund');
    await check(page, 'policies');
  });

  it("answers 'faster without getting sloppier?' on the Report page, per workflow and per agent (viewer)", async () => {
    // Wait until the demo's workflows have run, so the report has runs and actions to show.
    await until('a completed demo run', async () => {
      const { body } = await api(line.adminToken, 'GET', '/v1/runs?status=completed');
      return (body.runs as unknown[]).length ? true : undefined;
    });
    const page = await signedIn(viewer);
    await nav(page, 'Report');
    const workflows = page.getByRole('table', { name: 'Workflows' });
    await workflows.locator('tr[data-report-row="invoice-approval"]').waitFor();
    const agents = page.getByRole('table', { name: 'Agents' });
    const support = agents.locator('tr[data-report-row="support-bot"]');
    await support.waitFor();
    // Runs of a workflow and actions of an agent are real numbers, not placeholders.
    const runs = Number(
      await workflows.locator('tr[data-report-row="invoice-approval"] td').first().textContent(),
    );
    expect(runs).toBeGreaterThan(0);
    const actions = Number(await support.locator('td').nth(2).textContent());
    expect(actions).toBeGreaterThan(0);
    expect(await support.locator('td').last().textContent()).toMatch(/^\d+\.\d%$/);
    await page.getByTestId('report-chart').locator('svg').first().waitFor();
    await page.getByLabel('Period').selectOption('30d');
    await support.waitFor();
    await check(page, 'report');
    // The same figures come from the API a script would call.
    const { status, body } = await api(viewer, 'GET', '/v1/reports/summary?since=30d');
    expect(status).toBe(200);
    expect((body.agents as { name: string }[]).map((a) => a.name)).toContain('support-bot');
  });

  it(
    "shows support-bot's latest result, its tier-3 gate and its coverage; a viewer gets no promote button",
    { timeout: 150_000 },
    async () => {
      // A recorded run of the gating suite, as `aos eval run` stores it (the demo's rule agents, the sandbox).
      const run = await evalRun;
      expect(run.out).toMatch(/^Suite: support_agent_regression$/m);
      const page = await signedIn(line.adminToken);
      await nav(page, 'Evals');
      await page.getByRole('combobox', { name: /^Agent/ }).selectOption('support-bot');
      const panel = page.getByRole('region', { name: 'Evaluations of support-bot' });
      await panel
        .getByRole('table', { name: 'Latest runs' })
        .getByRole('row')
        .filter({ hasText: 'support_agent_regression' })
        .waitFor();
      const gate = panel
        .getByRole('table', { name: 'Tier gates' })
        .getByRole('row')
        .filter({ hasText: /^3/ });
      expect(await gate.textContent()).toContain('support_agent_regression ≥ 97%, 2 in a row within 7d');
      await panel
        .getByTestId('agent-eval-coverage')
        .filter({ hasText: /\d+\.\d% of \d+ actions/ })
        .waitFor();
      await page
        .getByRole('table', { name: 'Evaluation coverage' })
        .getByRole('row')
        .filter({ hasText: 'agent:support-bot' })
        .waitFor();
      await check(page, 'evals');

      // The agent's own page carries the same panel.
      await page.goto(`${line.url}/agents/support-bot`);
      await page
        .getByRole('region', { name: 'Evaluations of support-bot' })
        .getByTestId('agent-eval-coverage')
        .waitFor();

      const seen = await signedIn(viewer, '/evals');
      await seen.getByRole('combobox', { name: /^Agent/ }).selectOption('support-bot');
      const viewerPanel = seen.getByRole('region', { name: 'Evaluations of support-bot' });
      await viewerPanel
        .getByRole('table', { name: 'Tier gates' })
        .getByRole('row')
        .filter({ hasText: /^3/ })
        .waitFor();
      expect(await seen.getByRole('button', { name: /^Promote/ }).count()).toBe(0);
      expect((await api(viewer, 'POST', '/v1/agents/support-bot/promote', { tier: 3 })).status).toBe(403);
    },
  );

  it('offers a viewer no approve, pause, switch or replay, and the API refuses them (403)', async () => {
    const pending = await supportAct(
      'erp.refund',
      { orderId: 'o-8', amount: 120 },
      { reason: 'late parcel' },
    );
    const id = pending.body.approvalId as string;
    const page = await signedIn(viewer, `/approvals/${id}`);
    await page.getByTestId('cannot-decide').waitFor();
    expect(await page.getByRole('button', { name: 'Approve' }).count()).toBe(0);
    await page.goto(`${line.url}/agents/support-bot`);
    await page.getByTestId('agent-tier').waitFor();
    expect(await page.getByRole('button', { name: /^(Pause|Resume|Kill|Change tier)$/ }).count()).toBe(0);
    await nav(page, 'Kill switches');
    await page.getByTestId('viewer-note').waitFor();
    expect(await page.getByRole('button', { name: 'Engage' }).count()).toBe(0);
    await nav(page, 'Policies');
    await page.getByTestId('policy-hash').waitFor();
    expect(await page.getByRole('button', { name: 'Replay' }).count()).toBe(0);
    expect((await api(viewer, 'POST', `/v1/approvals/${id}/approve`, {})).status).toBe(403);
    expect((await api(viewer, 'POST', '/v1/agents/support-bot/pause', {})).status).toBe(403);
    expect((await api(viewer, 'POST', '/v1/killswitch', { active: true, reason: 'x' })).status).toBe(403);
    expect((await api(viewer, 'POST', '/v1/policies/replay', { policies: [] })).status).toBe(403);
    expect((await api(viewer, 'GET', '/v1/audit')).status).toBe(403);
  });
});
