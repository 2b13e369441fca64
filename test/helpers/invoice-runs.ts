import fs from 'node:fs';
import path from 'node:path';
import type { TestStore } from './backends.js';
import { PG_URL } from './backends.js';
import type { Erp } from './invoices.js';
import { ERP_KEY, INVOICES } from './invoices.js';
import type { ServeProcess } from './serve.js';
import { startServe } from './serve.js';

/** The runs a crash test drives through the invoice example, one per path of the workflow. */
export interface InvoiceScenario {
  key: string;
  /** The workflow the run starts (default `invoice-approval`). */
  workflow?: string;
  invoiceId: string;
  vendor: string;
  total: number;
  /** How the run ends when nothing goes wrong. */
  status: 'completed' | 'failed';
  /** Calls the ERP sees for the run: posts, notifications (each attempt), voids. */
  post: number;
  notify: number;
  void: number;
}

/**
 * Small (no approval), large (workflow approval), huge (also a pipeline approval), failing (compensated) and an
 * intake whose approval is a sub-run (`invoice-intake` → `invoice-approval`).
 */
export const SCENARIOS: InvoiceScenario[] = [
  {
    key: 'small',
    invoiceId: 'inv-s',
    vendor: 'acme',
    total: 300,
    status: 'completed',
    post: 1,
    notify: 1,
    void: 0,
  },
  {
    key: 'large',
    invoiceId: 'inv-l',
    vendor: 'globex',
    total: 2500,
    status: 'completed',
    post: 1,
    notify: 1,
    void: 0,
  },
  {
    key: 'huge',
    invoiceId: 'inv-h',
    vendor: 'umbrella',
    total: 6000,
    status: 'completed',
    post: 1,
    notify: 1,
    void: 0,
  },
  // Notify fails twice (two attempts), so the post is voided.
  {
    key: 'failing',
    invoiceId: 'inv-f',
    vendor: 'flaky',
    total: 400,
    status: 'failed',
    post: 1,
    notify: 2,
    void: 1,
  },
  {
    key: 'intake',
    workflow: 'invoice-intake',
    invoiceId: 'inv-i',
    vendor: 'initech',
    total: 200,
    status: 'completed',
    post: 1,
    notify: 1,
    void: 0,
  },
];

/**
 * Writes the invoice example's aos.yaml into the test's data dir with absolute paths, the ERP's URL, a short
 * workflow lease (a killed node's runs are resumed after it) and an approval rule for posts over 5000 (so the huge
 * invoice passes a pipeline approval too). Answers the file.
 */
export function writeInvoicesConfig(t: TestStore, erp: Erp, leaseMs: number): string {
  const policies = path.join(t.dataDir, 'policies');
  fs.mkdirSync(path.join(policies, 'approvals'), { recursive: true });
  fs.copyFileSync(path.join(INVOICES, 'policies', 'invoices.cedar'), path.join(policies, 'invoices.cedar'));
  fs.writeFileSync(
    path.join(policies, 'approvals', 'huge-invoices.cedar'),
    `@id("huge-invoice")\n@approvers("approvers:finance")\n@quorum("1")\n` +
      `permit (principal, action == Action::"erp.post_invoice", resource) when { context.input.amount.greaterThan(decimal("5000.0")) };\n`,
  );
  const file = path.join(t.dataDir, 'aos.yaml');
  fs.writeFileSync(
    file,
    fs
      .readFileSync(path.join(INVOICES, 'aos.yaml'), 'utf8')
      .replaceAll('http://127.0.0.1:7432', erp.url)
      .replace('policies: ./policies', `policies: ${policies}`)
      .replace('workflows: ./workflows', `workflows: ${path.join(INVOICES, 'workflows')}`)
      .replace('rules: ./rules.mjs', `rules: ${path.join(INVOICES, 'rules.mjs')}`) +
      `\nworkflowEngine: { leaseMs: ${leaseMs} }\n`,
  );
  return file;
}

/** Starts `aos serve` on the test's store (PostgreSQL schema or SQLite data dir). */
export function serveInvoices(
  t: TestStore,
  config: string,
  env: Record<string, string> = {},
): Promise<ServeProcess> {
  return startServe(['serve', '--config', config, '--port', '0', '--quiet'], {
    AOS_DATA: t.dataDir,
    AOS_DATABASE_URL: t.schema ? `${PG_URL}?schema=${t.schema}` : '',
    AOS_SECRET_ERP_API_KEY: ERP_KEY,
    ...env,
  });
}

/** Whether the child process has exited (killed by a crash point or by the test). */
export function dead(node: ServeProcess): boolean {
  return node.child.exitCode !== null || node.child.signalCode !== null;
}

/** A run as `GET /v1/runs/:id` answers it (the parts the tests read). */
export interface RunBody {
  id: string;
  workflow: string;
  status: string;
  input: { invoiceId: string; document: { vendor: string } };
  error: { code: string } | null;
  steps: Record<
    string,
    {
      status: string;
      attempt: number;
      approval?: unknown;
      votes: unknown[];
      error?: { code: string };
      /** An action of the step with an unknown outcome after a crash, waiting for the owner's decision. */
      unknownOutcome?: { actionId: string; index?: number; compensation?: boolean };
      freeAttempts?: number;
    }
  >;
  events: { seq: number; type: string; stepId?: string; attempt?: number }[];
}

/** A small REST client for one node with a human's token. */
export function api(url: string, token: string) {
  return async <T>(method: string, p: string, body?: unknown): Promise<{ status: number; body: T }> => {
    const res = await fetch(`${url}${p}`, {
      method,
      headers: {
        authorization: `Bearer ${token}`,
        ...(body !== undefined ? { 'content-type': 'application/json' } : {}),
      },
      ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
      signal: AbortSignal.timeout(10_000),
    });
    return { status: res.status, body: (await res.json()) as T };
  };
}

/** ERP calls that belong to one scenario's invoice, per effect. */
export function effectsOf(erp: Erp, s: Pick<InvoiceScenario, 'invoiceId' | 'vendor'>) {
  const log = erp.state.log;
  return {
    post: log.filter((c) => c.path === `/invoices/${s.invoiceId}/post`).length,
    void: log.filter((c) => c.path === `/invoices/${s.invoiceId}/void`).length,
    notify: log.filter((c) => c.path === '/notifications' && (c.body as { to?: string }).to === s.vendor)
      .length,
  };
}

/** Step attempts completed more than once in a run's history (a step executed twice). */
export function repeatedCompletions(run: RunBody): string[] {
  const seen = new Set<string>();
  const repeated: string[] = [];
  let reruns = 0;
  for (const e of run.events) {
    if (e.type === 'review_rejected') reruns++;
    if (e.type !== 'step_completed') continue;
    const key = `${e.stepId}#${e.attempt}#${reruns}`;
    if (seen.has(key)) repeated.push(key);
    seen.add(key);
  }
  return repeated;
}

/** The notify step's `retry.maxAttempts` in the example. */
const NOTIFY_ATTEMPTS = 2;

/** A decision fiona took on a flagged step, and whether the ERP's log showed the call had reached it. */
export interface Decision {
  runId: string;
  invoiceId: string;
  step: string;
  compensation: boolean;
  outcome: 'succeeded' | 'failed' | 'retry';
  reached: boolean;
}

/**
 * fiona, the workflows' owner, resolves every step waiting on an unknown outcome with the ERP's own log as the
 * truth: an effect that happened `succeeded` with the ERP's answer; a call that never reached it is tried again
 * (`retry`, a new idempotency key); a notification the ERP refused is what a failed attempt would have been — tried
 * again while the step has attempts left, else `failed`.
 */
export async function resolveFlagged(
  asFiona: ReturnType<typeof api>,
  erp: Erp,
  decisions: Decision[],
): Promise<void> {
  const listed = await asFiona<{ runs: RunBody[] }>('GET', '/v1/runs');
  for (const r of listed.body.runs.filter((x) => x.status === 'running' || x.status === 'compensating')) {
    const run = (await asFiona<RunBody>('GET', `/v1/runs/${r.id}`)).body;
    for (const [step, st] of Object.entries(run.steps)) {
      const u = st.unknownOutcome;
      if (!u) continue;
      const invoiceId = run.input.invoiceId;
      const vendor = run.input.document.vendor;
      const inv = erp.state.invoices.get(invoiceId);
      let decision: Pick<Decision, 'outcome' | 'reached'> & { output?: unknown };
      if (u.compensation) {
        const reached = inv?.status === 'voided';
        decision = reached
          ? { outcome: 'succeeded', reached, output: { invoiceId, status: 'voided' } }
          : { outcome: 'retry', reached };
      } else if (step === 'post') {
        decision = inv
          ? { outcome: 'succeeded', reached: true, output: { invoiceId, status: 'posted', entry: inv.entry } }
          : { outcome: 'retry', reached: false };
      } else {
        // Earlier notify attempts all had an answer (one crash per test), each one call at the ERP.
        const answered = run.events.filter(
          (e) => e.stepId === 'notify' && (e.type === 'step_failed' || e.type === 'step_completed'),
        ).length;
        const reached = effectsOf(erp, { invoiceId, vendor }).notify > answered;
        const refused = erp.state.failNotifyTo.has(vendor);
        const counted = st.attempt - (st.freeAttempts ?? 0);
        decision = !reached
          ? { outcome: 'retry', reached }
          : !refused
            ? { outcome: 'succeeded', reached, output: { sent: true } }
            : { outcome: counted < NOTIFY_ATTEMPTS ? 'retry' : 'failed', reached };
      }
      const res = await asFiona('POST', `/v1/runs/${run.id}/steps/${step}/resolve`, {
        outcome: decision.outcome,
        ...(decision.output !== undefined ? { output: decision.output } : {}),
        comment: 'checked the ERP log',
      });
      if (res.status !== 200) throw new Error(`resolving ${run.id}/${step}: ${JSON.stringify(res.body)}`);
      decisions.push({
        runId: run.id,
        invoiceId,
        step,
        compensation: !!u.compensation,
        outcome: decision.outcome,
        reached: decision.reached,
      });
    }
  }
}
