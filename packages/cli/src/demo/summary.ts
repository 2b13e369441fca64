import type { Engine } from '@autonomy-os/core';
import type { DemoUpstreams } from './upstreams.js';
import { SCENARIO, expectedTotals } from './work.js';

/** The `aos demo --once --json` summary (the contract in the design brief), with the checks behind `ok`. */
export interface DemoSummary {
  ok: boolean;
  actions: { allowed: number; approved: number; denied: number };
  runs: { completed: number; compensated: number };
  audit: { verified: boolean; records: number };
  /** Each expectation and whether it held; `ok` is true only when all did. */
  checks: { name: string; ok: boolean; detail?: string }[];
}

/** Counts what the organisation did, from the store and from the upstreams' own databases, and checks it. */
export async function summarise(engine: Engine, up: DemoUpstreams): Promise<DemoSummary> {
  const actions = await engine.actions.list({ limit: 1000 });
  const counted = { allowed: 0, approved: 0, denied: 0 };
  for (const a of actions) {
    if (a.status === 'denied') counted.denied++;
    else if (a.approvalId) {
      if (a.status === 'succeeded') counted.approved++;
    } else if (a.outcome === 'allowed') counted.allowed++;
  }
  const runs = { completed: 0, compensated: 0 };
  for (const r of await engine.workflows.list({ limit: 1000 })) {
    if (r.status === 'completed') runs.completed++;
    const detail = await engine.workflows.get(r.id);
    if (detail.events.some((e) => e.type === 'compensation_done' && e.status === 'succeeded'))
      runs.compensated++;
  }
  const report = await engine.store.audit.verify();
  const want = expectedTotals(SCENARIO);
  const checks: DemoSummary['checks'] = [];
  const check = (name: string, ok: boolean, detail?: string) =>
    checks.push({ name, ok, ...(detail && !ok ? { detail } : {}) });
  for (const k of ['allowed', 'approved', 'denied'] as const)
    check(`${k} actions`, counted[k] === want[k], `expected ${want[k]}, counted ${counted[k]}`);
  check(
    'completed runs',
    runs.completed === want.completed,
    `expected ${want.completed}, counted ${runs.completed}`,
  );
  check(
    'compensated runs',
    runs.compensated === want.compensated,
    `expected ${want.compensated}, counted ${runs.compensated}`,
  );

  // Approved work reached each upstream exactly once, counted in the upstream's own database.
  const one = (db: DemoUpstreams['erp']['db'], sql: string, ...params: unknown[]) =>
    (db.prepare(sql).get(...params) as { n: number }).n;
  const posted = one(
    up.erp.db,
    "SELECT COUNT(*) AS n FROM requests WHERE method = 'POST' AND path = ?",
    '/invoices/inv-1002/post',
  );
  check(
    'approved invoice posted once at the ERP',
    posted === 1,
    `ERP received ${posted} postings of inv-1002`,
  );
  const refunded = one(up.erp.db, "SELECT COUNT(*) AS n FROM refunds WHERE note = 'ticket t-1003'");
  check('approved refund made once at the ERP', refunded === 1, `ERP holds ${refunded} refunds for t-1003`);
  const flipped = one(
    up.flags.db,
    "SELECT COUNT(*) AS n FROM changes WHERE environment = 'production' AND flag = 'new-checkout'",
  );
  check(
    'approved production change made once',
    flipped === 1,
    `flag service holds ${flipped} production changes`,
  );
  const voided = one(
    up.erp.db,
    "SELECT COUNT(*) AS n FROM invoices WHERE invoice_id = 'inv-1003' AND status = 'voided'",
  );
  check('failed invoice voided by compensation', voided === 1, 'inv-1003 is not voided at the ERP');

  // The injection: the refund the customer's text demanded was denied by the session-taint policy, and never paid.
  const injected = actions.find((a) => a.tool === 'erp.refund' && a.input.orderId === 'o-1337');
  check(
    'prompt injection stopped by policy',
    !!injected &&
      injected.status === 'denied' &&
      injected.decision.policies.includes('no-money-after-untrusted-input') &&
      one(up.erp.db, "SELECT COUNT(*) AS n FROM refunds WHERE order_id = 'o-1337'") === 0,
    'the injected refund was not denied by no-money-after-untrusted-input',
  );
  check('audit chain verified', report.ok, `first bad record: ${JSON.stringify(report.firstBad ?? null)}`);
  return {
    ok: checks.every((c) => c.ok),
    actions: counted,
    runs,
    audit: { verified: report.ok, records: report.records },
    checks,
  };
}
