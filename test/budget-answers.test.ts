/**
 * `GET /v1/budgets` answers its published schema (wire-schemas.ts) with per-run budgets in it: the authorization
 * matrix meets only configured budgets there (its workflows spend nothing), so the `runs` half is checked here, on a
 * real run of the invoices example whose workflow declares a `budget:`.
 */
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { EnvSecretStore, createEngine, loadWorkflowFile, parseWorkflow } from '@autonomy-os/core';
import type { Engine } from '@autonomy-os/core';
import { buildServer } from '@autonomy-os/server';
import { RESPONSES } from '../packages/server/src/wire-schemas.js';
import { backends } from './helpers/backends.js';
import type { TestStore } from './helpers/backends.js';
import { ERP_KEY, INVOICES, invoicesConfig, seedInvoices, startErp } from './helpers/invoices.js';
import type { Erp } from './helpers/invoices.js';
import { ADA } from './helpers/people.js';

describe.each(backends)('GET /v1/budgets on $name', (backend) => {
  let t: TestStore;
  let erp: Erp;
  let engine: Engine;

  beforeEach(async (ctx) => {
    if (!backend.enabled) return ctx.skip();
    t = await backend.create();
    erp = await startErp();
    await seedInvoices(t);
    const def = loadWorkflowFile(path.join(INVOICES, 'workflows', 'invoice-approval.yaml'));
    engine = await createEngine({
      store: t.store,
      config: invoicesConfig(erp.url),
      secrets: new EnvSecretStore({ env: { AOS_SECRET_ERP_API_KEY: ERP_KEY } }),
      workflows: [parseWorkflow({ ...def, budget: { calls: 5 } })],
    });
    await engine.start({ background: false });
  });
  afterEach(async () => {
    await engine?.close();
    await erp?.close();
    await t?.cleanup();
  });

  it('answers the per-run budgets of runs that spent, as its schema describes them', async () => {
    const run = await engine.workflows.start(
      'invoice-approval',
      { invoiceId: 'inv-1', document: { number: 'inv-1', vendor: 'acme', total: 250, currency: 'EUR' } },
      ADA,
    );
    await engine.workflows.drain();
    const server = buildServer({ engine, version: 'test' });
    try {
      const { token } = await t.store.tokens.issue(
        { subjectType: 'human', subjectId: 'ada' },
        'operator:test',
      );
      const res = await server.app.inject({
        method: 'GET',
        url: '/v1/budgets',
        headers: { authorization: `Bearer ${token}` },
      });
      expect(res.statusCode).toBe(200);
      const body = RESPONSES['GET /v1/budgets']!.schema.parse(JSON.parse(res.body)) as {
        runs: { scope: string; run: { id: string } }[];
      };
      // Not vacuous: the run's own budget is in the answer the schema just parsed.
      expect(body.runs.map((r) => r.scope)).toEqual([`run:${run.id}`]);
      expect(body.runs[0]?.run.id).toBe(run.id);
    } finally {
      await server.close();
    }
  });
});
