// The console at size: 1,000 agents and 100,000 actions (and their audit records) seeded straight into a SQLite
// store, served by the real server, and each main page loaded in Debian's Chromium: milliseconds from navigation to
// the page showing its data. Baseline: the same page in an empty store, measured in the same run. Not asserted
// anywhere; skipped when /usr/bin/chromium is missing.
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import { performance } from 'node:perf_hooks';
import path from 'node:path';
import { createEngine, openStore } from '@autonomy-os/core';
import { buildServer } from '@autonomy-os/server';
import { chromium } from 'playwright-core';
import { startPayments, supportDeskConfig } from '../support-desk.js';

export const name = 'console';

const CHROMIUM = '/usr/bin/chromium';
const TOOLS = ['payments.get_order', 'payments.refund', 'kb.search'];
const OUTCOMES = [
  ['allowed', 'succeeded'],
  ['denied', 'denied'],
  ['pending_approval', 'pending_approval'],
];

/** Inserts `agents` agents and `actions` actions (with one audit record each) in large transactions. */
async function seed(store, { agents, actions }) {
  await store.humans.add({ id: 'ada', groups: ['admins', 'auditors'] }, 'operator:bench');
  await store.humans.add({ id: 'olivia', groups: ['approvers:support-leads'] }, 'operator:bench');
  const now = Date.now();
  await store.db.tx(async (tx) => {
    for (let i = 0; i < agents; i++) {
      const at = new Date(now - (agents - i) * 1000).toISOString();
      await tx.run(
        `INSERT INTO agents (id, display_name, role, tier, owner, environments_json, status, created_at, updated_at)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
        [
          `agent-${String(i).padStart(4, '0')}`,
          `Agent ${i}`,
          i % 3 ? 'support' : 'finance',
          i % 4,
          'olivia',
          '["dev"]',
          i % 10 ? 'active' : 'paused',
          at,
          at,
        ],
      );
    }
  });
  const policyHash = 'bench';
  for (let start = 0; start < actions; start += 5000) {
    await store.db.tx(async (tx) => {
      const events = [];
      for (let i = start; i < Math.min(actions, start + 5000); i++) {
        const [outcome, status] = OUTCOMES[i % 7 === 0 ? 1 : i % 11 === 0 ? 2 : 0];
        const at = new Date(now - (actions - i) * 60).toISOString();
        const id = `act_${String(i).padStart(7, '0')}`;
        const input = JSON.stringify({ orderId: `o-${i}` });
        await tx.run(
          `INSERT INTO actions (id, agent_id, tool, input_json, input_hash, environment, request_hash, outcome, status,
             decision_json, policy_hash, risk, created_at, updated_at)
           VALUES (?, ?, ?, ?, ?, 'dev', ?, ?, ?, ?, ?, 10, ?, ?)`,
          [
            id,
            `agent-${String(i % agents).padStart(4, '0')}`,
            TOOLS[i % TOOLS.length],
            input,
            crypto.createHash('sha256').update(input).digest('hex'),
            id,
            outcome,
            status,
            JSON.stringify({ policies: ['support-read'], reasons: [] }),
            policyHash,
            at,
            at,
          ],
        );
        events.push({
          actor: `agent:agent-${String(i % agents).padStart(4, '0')}`,
          type: 'action.decided',
          subject: `action:${id}`,
          payload: { actionId: id, tool: TOOLS[i % TOOLS.length], outcome },
        });
      }
      await store.audit.appendMany(tx, events);
    });
  }
}

/** Milliseconds from `goto` to `ready` on the page, median of `rounds`. */
async function load(page, url, ready, rounds) {
  const samples = [];
  for (let r = 0; r < rounds; r++) {
    await page.goto('about:blank');
    const t0 = performance.now();
    await page.goto(url);
    await ready(page);
    samples.push(performance.now() - t0);
  }
  return samples.sort((a, b) => a - b)[Math.floor(samples.length / 2)];
}

const PAGES = [
  ['overview', '/', (p) => p.getByTestId('pending-count').filter({ hasText: /^\d+$/ }).waitFor()],
  ['agents', '/agents', (p) => p.getByRole('row').filter({ hasText: 'agent-' }).first().waitFor()],
  [
    'agent',
    '/agents/agent-0000',
    (p) =>
      p
        .getByRole('table', { name: /Actions of/ })
        .getByRole('link')
        .first()
        .waitFor(),
  ],
  ['activity', '/activity', (p) => p.getByRole('heading', { name: 'Live activity' }).waitFor()],
  [
    'audit',
    '/audit',
    (p) =>
      p
        .getByTestId('audit-count')
        .filter({ hasText: /^[1-9]/ })
        .waitFor(),
  ],
  ['runs', '/runs', (p) => p.getByRole('table', { name: 'Runs' }).waitFor()],
  ['policies', '/policies', (p) => p.getByTestId('policy-hash').waitFor()],
  ['budgets', '/budgets', (p) => p.getByRole('table', { name: 'Budgets' }).waitFor()],
];

async function measure({ agents, actions, rounds, browser }) {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'aos-bench-console-'));
  const store = await openStore({ dataDir });
  const payments = await startPayments();
  const t0 = performance.now();
  await seed(store, { agents, actions });
  const seedMs = performance.now() - t0;
  const config = supportDeskConfig(payments.url);
  const engine = await createEngine({ store, config });
  const server = buildServer({ engine, version: 'bench' });
  const url = await server.listen();
  const token = (await store.tokens.issue({ subjectType: 'human', subjectId: 'ada' }, 'operator:bench'))
    .token;
  const page = await browser.newPage();
  try {
    await page.goto(url);
    await page.getByLabel('API token', { exact: true }).fill(token);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByTestId('who').waitFor();
    const out = {};
    for (const [label, p, ready] of PAGES) out[label] = await load(page, `${url}${p}`, ready, rounds);
    return { out, seedMs };
  } finally {
    await page.close();
    await server.close();
    await engine.close();
    await payments.close();
    fs.rmSync(dataDir, { recursive: true, force: true });
  }
}

export async function run({ quick }) {
  if (!fs.existsSync(CHROMIUM)) {
    process.stderr.write('bench: console skipped (/usr/bin/chromium is missing)\n');
    return [];
  }
  const agents = 1000;
  const actions = quick ? 5_000 : 100_000; // quick: a smoke figure, the seed dominates its time
  const rounds = quick ? 1 : 3;
  const browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: ['--no-sandbox'] });
  try {
    const empty = await measure({ agents: 1, actions: 1, rounds, browser });
    const full = await measure({ agents, actions, rounds, browser });
    const size = `${agents} agents, ${actions} actions`;
    return [
      { suite: name, backend: 'sqlite', metric: `seed ${size}, s`, value: full.seedMs / 1000 },
      ...PAGES.map(([label]) => ({
        suite: name,
        backend: 'sqlite',
        metric: `${label} page load, ms`,
        value: full.out[label],
        ratio: full.out[label] / empty.out[label],
        note: `${size} vs an empty store`,
      })),
    ];
  } finally {
    await browser.close();
  }
}
