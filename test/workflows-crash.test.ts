import { execFile } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { CRASH_POINTS } from '@autonomy-os/core';
import type { CrashPoint, Engine } from '@autonomy-os/core';
import { PG_URL, backends } from './helpers/backends.js';
import type { TestStore } from './helpers/backends.js';
import { AOS_BIN } from './helpers/cli.js';
import {
  SCENARIOS,
  api,
  resolveFlagged,
  dead,
  effectsOf,
  repeatedCompletions,
  serveInvoices,
  writeInvoicesConfig,
} from './helpers/invoice-runs.js';
import type { Decision, RunBody } from './helpers/invoice-runs.js';
import {
  ERP_KEY,
  INVOICES,
  invoicesConfig,
  invoicesEngine,
  seedInvoices,
  startErp,
} from './helpers/invoices.js';
import type { Erp } from './helpers/invoices.js';
import type { ServeProcess } from './helpers/serve.js';

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

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const TERMINAL = ['completed', 'failed', 'cancelled'];

/**
 * Crash points where the pipeline had marked an action `executing` when the process died: recovery flags that
 * action `unknown_outcome`, never retrying it (the upstream may or may not have acted), and its step waits for the
 * workflow owner's decision.
 */
const IN_FLIGHT: CrashPoint[] = ['action.after-decision', 'action.after-upstream', 'approval.after-vote'];

/**
 * Drives the invoice scenarios on one `aos serve` node over REST as humans would: starts the runs not yet started,
 * votes approval steps and pipeline approvals as frank, resolves unknown outcomes as fiona, until every run is over
 * ('done') or the node dies ('died').
 */
async function drive(
  node: ServeProcess,
  tokens: { ada: string; frank: string; fiona: string },
  runs: Map<string, string>,
  owner: { erp: Erp; decisions: Decision[] },
): Promise<'done' | 'died'> {
  const asAda = api(node.url, tokens.ada);
  const asFrank = api(node.url, tokens.frank);
  const asFiona = api(node.url, tokens.fiona);
  for (let i = 0; i < 400; i++) {
    if (dead(node)) return 'died';
    try {
      if (runs.size < SCENARIOS.length) {
        // A run whose POST died with the node (after it was committed) is found, not started again.
        const listed = await asAda<{ runs: RunBody[] }>('GET', '/v1/runs');
        for (const r of listed.body.runs) {
          const s = SCENARIOS.find(
            (x) => x.invoiceId === r.input.invoiceId && (x.workflow ?? 'invoice-approval') === r.workflow,
          );
          if (s) runs.set(s.key, r.id);
        }
        for (const s of SCENARIOS.filter((x) => !runs.has(x.key))) {
          const res = await asAda<RunBody>('POST', `/v1/workflows/${s.workflow ?? 'invoice-approval'}/runs`, {
            input: {
              invoiceId: s.invoiceId,
              document: { number: s.invoiceId, vendor: s.vendor, total: s.total, currency: 'EUR' },
            },
          });
          expect(res.status).toBe(201);
          runs.set(s.key, res.body.id);
        }
      }
      let over = 0;
      for (const id of runs.values()) {
        const run = (await asAda<RunBody>('GET', `/v1/runs/${id}`)).body;
        if (TERMINAL.includes(run.status)) over++;
        const approve = run.steps.approve;
        if (run.status === 'running' && approve?.status === 'waiting' && approve.votes.length === 0)
          await asFrank('POST', `/v1/runs/${id}/steps/approve/approve`, { comment: 'ok' });
      }
      const pending = await asFrank<{ approvals: { id: string }[] }>('GET', '/v1/approvals?status=pending');
      for (const a of pending.body.approvals) await asFrank('POST', `/v1/approvals/${a.id}/approve`, {});
      await resolveFlagged(asFiona, owner.erp, owner.decisions);
      if (over === SCENARIOS.length) return 'done';
    } catch (err) {
      // The node died under a request (the crash point hit while serving it).
      await Promise.race([node.exited(), sleep(2000)]);
      if (dead(node)) return 'died';
      throw err;
    }
    await sleep(150);
  }
  throw new Error(`runs did not finish:\n${node.output()}`);
}

describe.each(backends)('workflow crash recovery on $name', (backend) => {
  let t: TestStore;
  let erp: Erp;
  let engine: Engine | undefined;
  const nodes: ServeProcess[] = [];

  beforeEach(async (ctx) => {
    if (!backend.enabled) return ctx.skip();
    t = await backend.create();
    erp = await startErp();
    await seedInvoices(t);
  });
  afterEach(async () => {
    for (const n of nodes.splice(0)) await n.stop();
    await engine?.close();
    engine = undefined;
    await erp?.close();
    await t?.cleanup();
  });

  it.each(CRASH_POINTS)(
    'finishes every run after kill -9 at %s, each effect reaching the ERP once',
    async (point) => {
      erp.state.failNotifyTo.add('flaky');
      const config = writeInvoicesConfig(t, erp, 1500);
      const issue = async (id: string) =>
        (await t.store.tokens.issue({ subjectType: 'human', subjectId: id }, 'operator:test')).token;
      const tokens = { ada: await issue('ada'), frank: await issue('frank'), fiona: await issue('fiona') };
      const runs = new Map<string, string>();
      const decisions: Decision[] = [];
      const owner = { erp, decisions };

      const doomed = await serveInvoices(t, config, { AOS_CRASH_POINT: point });
      nodes.push(doomed);
      expect(await drive(doomed, tokens, runs, owner)).toBe('died');
      expect(await doomed.exited()).toBe(null);
      expect(doomed.child.signalCode).toBe('SIGKILL');

      // The restarted node takes over the dead one's SQLite lock and its runs (once their lease runs out).
      const survivor = await serveInvoices(t, config);
      nodes.push(survivor);
      expect(await drive(survivor, tokens, runs, owner)).toBe('done');

      // Every run finishes as its scenario does without a crash, and the ERP saw every effect exactly once: an
      // action in flight when the node died was flagged and held for fiona, never sent again on its own.
      const asAda = api(survivor.url, tokens.ada);
      for (const s of SCENARIOS) {
        const run = (await asAda<RunBody>('GET', `/v1/runs/${runs.get(s.key)}`)).body;
        expect(repeatedCompletions(run), `${s.key}: steps completed twice`).toEqual([]);
        // A refused notification fiona had tried again is one more (refused) call, not an effect.
        const retriedRefusals = decisions.filter(
          (d) => d.invoiceId === s.invoiceId && d.step === 'notify' && d.reached && d.outcome === 'retry',
        ).length;
        expect({ key: s.key, status: run.status, ...effectsOf(erp, s) }).toEqual({
          key: s.key,
          status: s.status,
          post: s.post,
          notify: s.notify + retriedRefusals,
          void: s.void,
        });
      }
      // The engine's tick and an HTTP request (a vote, a pipeline approval) run concurrently in a node, so besides
      // the crash point's own action at most one other action can be in flight when it dies.
      if (IN_FLIGHT.includes(point)) expect(decisions.length).toBeGreaterThanOrEqual(1);
      // After the upstream answered, the effect had happened: fiona found it in the ERP's log.
      if (point === 'action.after-upstream') expect(decisions.some((d) => d.reached)).toBe(true);
      expect(decisions.length).toBeLessThanOrEqual(IN_FLIGHT.includes(point) ? 2 : 1);
      const flagged = (await t.raw("SELECT id FROM actions WHERE status = 'unknown_outcome'")) as unknown[];
      expect(flagged).toHaveLength(decisions.length);
      const resolved = await t.raw("SELECT actor FROM audit_log WHERE type = 'workflow.outcome_resolved'");
      expect(resolved).toEqual(decisions.map(() => ({ actor: 'human:fiona' })));
      expect((await t.store.audit.verify()).ok).toBe(true);
    },
  );

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
        AOS_AS: 'fiona',
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

  it('wakes a run waiting on a timer on time after kill -9 and a restart', async () => {
    const config = writeInvoicesConfig(t, erp, 1500);
    const workflows = path.join(t.dataDir, 'workflows');
    fs.mkdirSync(workflows, { recursive: true });
    fs.writeFileSync(
      path.join(workflows, 'nap.yaml'),
      'name: nap\nversion: 1\nowner: fiona\ninput: { type: object }\nsteps:\n  nap: { kind: wait, for: 3s }\n',
    );
    fs.writeFileSync(
      config,
      fs
        .readFileSync(config, 'utf8')
        .replace(`workflows: ${path.join(INVOICES, 'workflows')}`, `workflows: ${workflows}`),
    );
    const ada = (await t.store.tokens.issue({ subjectType: 'human', subjectId: 'ada' }, 'operator:test'))
      .token;
    const doomed = await serveInvoices(t, config);
    nodes.push(doomed);
    const started = await api(doomed.url, ada)<RunBody>('POST', '/v1/workflows/nap/runs', { input: {} });
    expect(started.status).toBe(201);
    const id = started.body.id;
    let waiting: RunBody | undefined;
    for (let i = 0; i < 100 && !waiting; i++) {
      const run = (await api(doomed.url, ada)<RunBody>('GET', `/v1/runs/${id}`)).body;
      if (run.steps.nap?.status === 'waiting') waiting = run;
      else await sleep(100);
    }
    expect(waiting).toBeDefined();
    doomed.child.kill('SIGKILL');
    await doomed.exited();

    // Nothing but the wake time recorded in the store brings the run back: no request touches it.
    const [row] = (await t.raw('SELECT wake_at FROM workflow_runs WHERE id = ?', [id])) as {
      wake_at: number | string | null;
    }[];
    expect(row?.wake_at).not.toBeNull();
    const wakeAt = Number(row?.wake_at);
    const survivor = await serveInvoices(t, config);
    nodes.push(survivor);
    let done: RunBody | undefined;
    for (let i = 0; i < 200 && !done; i++) {
      const run = (await api(survivor.url, ada)<RunBody>('GET', `/v1/runs/${id}`)).body;
      if (TERMINAL.includes(run.status)) done = run;
      else await sleep(100);
    }
    expect(done?.status).toBe('completed');
    expect((done as RunBody & { output: unknown }).output).toEqual({
      nap: { wokeAt: new Date(wakeAt).toISOString() },
    });
    const finished = (await t.raw(
      "SELECT at FROM workflow_events WHERE run_id = ? AND type = 'step_completed'",
      [id],
    )) as { at: string }[];
    expect(Date.parse((finished[0] as { at: string }).at)).toBeGreaterThanOrEqual(wakeAt);
  });
});
