import { afterEach, describe, expect, it } from 'vitest';
import { PG_URL, backends } from './helpers/backends.js';
import type { TestStore } from './helpers/backends.js';
import {
  api,
  dead,
  effectsOf,
  repeatedCompletions,
  resolveFlagged,
  serveInvoices,
  writeInvoicesConfig,
} from './helpers/invoice-runs.js';
import type { Decision, RunBody } from './helpers/invoice-runs.js';
import { seedInvoices, startErp } from './helpers/invoices.js';
import type { Erp } from './helpers/invoices.js';
import type { ServeProcess } from './helpers/serve.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const postgres = backends.find((b) => b.name === 'postgres');

describe('three aos serve nodes on one PostgreSQL', () => {
  let t: TestStore | undefined;
  let erp: Erp | undefined;
  const nodes: ServeProcess[] = [];

  afterEach(async () => {
    for (const n of nodes.splice(0)) await n.stop();
    await erp?.close();
    await t?.cleanup();
  });

  it.skipIf(!PG_URL)(
    'finish the runs of a node killed with kill -9 while it holds them, no step executed twice',
    async () => {
      t = await (postgres as NonNullable<typeof postgres>).create();
      erp = await startErp();
      erp.state.delayMs = 150; // a slow ERP: runs are mid-way when the node dies
      await seedInvoices(t);
      const config = writeInvoicesConfig(t, erp, 2000);
      const token = (await t.store.tokens.issue({ subjectType: 'human', subjectId: 'ada' }, 'operator:test'))
        .token;
      const fiona = (
        await t.store.tokens.issue({ subjectType: 'human', subjectId: 'fiona' }, 'operator:test')
      ).token;
      for (let i = 0; i < 3; i++) nodes.push(await serveInvoices(t, config));

      const invoices = Array.from({ length: 12 }, (_, i) => ({
        invoiceId: `inv-${i}`,
        vendor: `vendor-${i}`,
      }));
      const runs = new Map<string, string>();
      for (const [i, inv] of invoices.entries()) {
        const res = await api((nodes[i % 3] as ServeProcess).url, token)<RunBody>(
          'POST',
          '/v1/workflows/invoice-approval/runs',
          {
            input: {
              invoiceId: inv.invoiceId,
              document: { number: inv.invoiceId, vendor: inv.vendor, total: 100 + i, currency: 'EUR' },
            },
          },
        );
        expect(res.status).toBe(201);
        runs.set(inv.invoiceId, res.body.id);
      }

      // Kill the first node seen holding the lease of an unfinished run.
      let victim: ServeProcess | undefined;
      let held: string[] = [];
      for (let i = 0; i < 400 && !victim; i++) {
        const rows = (await t.raw(
          "SELECT id, lease_owner FROM workflow_runs WHERE status IN ('running', 'compensating') AND lease_until > ?",
          [Date.now()],
        )) as { id: string; lease_owner: string | null }[];
        for (const n of nodes) {
          const mine = rows.filter((r) => r.lease_owner?.split('/')[1] === String(n.child.pid));
          if (mine.length) {
            n.child.kill('SIGKILL');
            victim = n;
            held = mine.map((r) => r.id);
            break;
          }
        }
        if (!victim) await sleep(25);
      }
      expect(victim, 'a node held runs').toBeDefined();
      expect(held.length).toBeGreaterThan(0);
      await (victim as ServeProcess).exited();
      const survivor = nodes.find((n) => !dead(n)) as ServeProcess;
      expect(nodes.filter((n) => !dead(n))).toHaveLength(2);

      const asAda = api(survivor.url, token);
      const decisions: Decision[] = [];
      const final = new Map<string, RunBody>();
      for (let i = 0; i < 600 && final.size < runs.size; i++) {
        // The call the dead node had in flight waits for its owner: fiona resolves it from the ERP's log.
        await resolveFlagged(api(survivor.url, fiona), erp, decisions);
        for (const [inv, id] of runs) {
          const run = (await asAda<RunBody>('GET', `/v1/runs/${id}`)).body;
          if (['completed', 'failed', 'cancelled'].includes(run.status)) final.set(inv, run);
        }
        if (final.size < runs.size) await sleep(200);
      }
      expect(final.size, 'every run finished').toBe(runs.size);

      for (const inv of invoices) {
        const run = final.get(inv.invoiceId) as RunBody;
        const seen = effectsOf(erp, inv);
        expect(repeatedCompletions(run), `${inv.invoiceId}: steps completed twice`).toEqual([]);
        expect({ invoice: inv.invoiceId, status: run.status, ...seen }).toEqual({
          invoice: inv.invoiceId,
          status: 'completed',
          post: 1,
          notify: 1,
          void: 0,
        });
      }
      // A node advances one run at a time, so at most one action was in flight when it died.
      expect(decisions.length).toBeLessThanOrEqual(1);
      // The runs the dead node held were finished by the others.
      for (const id of held) expect([...final.values()].map((r) => r.id)).toContain(id);
      expect((await t.store.audit.verify()).ok).toBe(true);
    },
  );
});
