#!/usr/bin/env node
// Records the event histories of the invoice example's runs into examples/invoices/histories/*.json: a completed
// run, an approval run, a compensated run and a run whose extraction the critic rejected once. CI replays them
// (packages/core/src/workflows/histories.test.ts) to catch nondeterminism: a change to the engine or the
// definition that decides differently from a recorded history fails there. Re-record after an intended change:
//   npm run build && npm run record-histories
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { EnvSecretStore, createEngine, loadConfigFile, openStore } from '@autonomy-os/core';
import { createErpServer } from '../examples/invoices/erp-server.mjs';

const INVOICES = fileURLToPath(new URL('../examples/invoices/', import.meta.url));
const OUT = path.join(INVOICES, 'histories');
const ERP_KEY = 'sk_test_erp_key_00000000000000';

const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'aos-record-'));
const { server, state } = createErpServer({ apiKey: ERP_KEY });
await new Promise((r) => server.listen(0, '127.0.0.1', r));
const erpUrl = `http://127.0.0.1:${server.address().port}`;
const configFile = path.join(dataDir, 'aos.yaml');
fs.writeFileSync(
  configFile,
  fs
    .readFileSync(path.join(INVOICES, 'aos.yaml'), 'utf8')
    .replaceAll('http://127.0.0.1:7432', erpUrl)
    .replace('policies: ./policies', `policies: ${path.join(INVOICES, 'policies')}`)
    .replace('workflows: ./workflows', `workflows: ${path.join(INVOICES, 'workflows')}`)
    .replace('rules: ./rules.mjs', `rules: ${path.join(INVOICES, 'rules.mjs')}`),
);

const store = await openStore({ dataDir });
const op = 'operator:record-histories';
await store.humans.add({ id: 'fiona', groups: ['approvers:finance'] }, op);
await store.humans.add({ id: 'frank', groups: ['approvers:finance'] }, op);
await store.humans.add({ id: 'ada', groups: ['admins'] }, op);
await store.agents.create({ id: 'clerk-1', role: 'clerk', tier: 1, owner: 'fiona' }, op);
await store.agents.create({ id: 'critic-1', role: 'critic', tier: 1, owner: 'fiona' }, op);
await store.agents.create(
  { id: 'poster', role: 'poster', tier: 2, owner: 'fiona', environments: ['dev'] },
  op,
);
const engine = await createEngine({
  store,
  config: loadConfigFile(configFile),
  secrets: new EnvSecretStore({ env: { AOS_SECRET_ERP_API_KEY: ERP_KEY } }),
});
await engine.start({ background: false });

/** Advances the run until it is over (bounded: retries wait their backoff). */
async function finish(runId) {
  for (let i = 0; i < 100; i++) {
    await engine.workflows.drain();
    const run = await engine.workflows.get(runId);
    if (['completed', 'failed', 'cancelled'].includes(run.status)) return run;
    const waiting = Object.entries(run.steps).find(([, s]) => s.status === 'waiting' && s.approval);
    if (waiting) {
      const human = await store.humans.require('frank');
      await engine.workflows.decide({ runId, stepId: waiting[0], human, vote: 'approve' });
      continue;
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`run ${runId} did not finish`);
}

const doc = (n, vendor, total, currency = 'EUR') => ({
  invoiceId: n,
  document: { number: n, vendor, total, ...(currency ? { currency } : {}) },
});
const scenarios = [
  { name: 'completed', input: doc('inv-100', 'acme', 300) },
  { name: 'approval', input: doc('inv-200', 'globex', 2500) },
  { name: 'compensated', input: doc('inv-300', 'flaky', 400), failNotify: 'flaky' },
  { name: 'review-rejected', input: doc('inv-400', 'initech', 120, null) },
];
fs.mkdirSync(OUT, { recursive: true });
try {
  for (const s of scenarios) {
    if (s.failNotify) state.failNotifyTo.add(s.failNotify);
    const started = await engine.workflows.start(
      'invoice-approval',
      s.input,
      await store.humans.require('ada'),
    );
    const run = await finish(started.id);
    const recorded = {
      name: s.name,
      runId: run.id,
      workflow: (await store.db.get('SELECT definition_json FROM workflow_runs WHERE id = ?', [run.id]))
        .definition_json,
      input: run.input,
      status: run.status,
      events: run.events,
    };
    recorded.workflow = JSON.parse(recorded.workflow);
    fs.writeFileSync(path.join(OUT, `${s.name}.json`), `${JSON.stringify(recorded, null, 2)}\n`);
    process.stdout.write(`${s.name}: ${run.status}, ${run.events.length} events\n`);
  }
} finally {
  await engine.close();
  await store.close();
  server.close();
  fs.rmSync(dataDir, { recursive: true, force: true });
}
