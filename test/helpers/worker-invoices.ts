import fs from 'node:fs';
import path from 'node:path';
import { parse as parseYaml } from 'yaml';
import { EnvSecretStore, createEngine, parseWorkflow } from '@autonomy-os/core';
import type { Engine, WorkflowDefinition } from '@autonomy-os/core';
import type { TestStore } from './backends.js';
import { ERP_KEY, INVOICES, invoicesConfig, seedInvoices } from './invoices.js';

/**
 * The example's invoice workflow with its extract step made worker work (no `rule:`): an agent of role `clerk` takes
 * it from the task queue (SDK worker, REST or MCP) instead of the in-process rule.
 */
export function workerInvoiceWorkflow(): WorkflowDefinition {
  const raw = parseYaml(
    fs.readFileSync(path.join(INVOICES, 'workflows', 'invoice-approval.yaml'), 'utf8'),
  ) as { name: string; steps: { extract: Record<string, unknown> } };
  delete raw.steps.extract.rule;
  raw.name = 'invoice-worker';
  return parseWorkflow(raw);
}

/** What a clerk worker answers for an invoice run's input: the extraction the critic accepts. */
export function extractInvoice(input: unknown): Record<string, unknown> {
  const i = input as { invoiceId: string; document: { vendor: string; total: number; currency?: string } };
  return {
    invoiceId: i.invoiceId,
    vendor: i.document.vendor,
    amount: i.document.total,
    currency: i.document.currency ?? 'EUR',
  };
}

/** Seeds the invoices example plus a second clerk and a `checker` (delegation and handoff target). */
export async function seedWorkers(t: TestStore): Promise<void> {
  await seedInvoices(t);
  await t.store.agents.create({ id: 'clerk-2', role: 'clerk', tier: 1, owner: 'fiona' }, 'operator:test');
  await t.store.agents.create({ id: 'checker-1', role: 'checker', tier: 1, owner: 'fiona' }, 'operator:test');
}

/** An engine running {@link workerInvoiceWorkflow} against the ERP at `erpUrl`, with task queue settings. */
export async function workerInvoicesEngine(
  store: TestStore['store'],
  erpUrl: string,
  settings: {
    maxTasksPerAgent?: number;
    maxDepth?: number;
    maxFanOut?: number;
    /** Another workflow to run instead of {@link workerInvoiceWorkflow}. */
    workflow?: WorkflowDefinition;
  } = {},
): Promise<Engine> {
  const config = invoicesConfig(erpUrl);
  config.server.port = 0;
  config.workflows = {
    maxTasksPerAgent: settings.maxTasksPerAgent ?? 1,
    taskLease: '60s',
    delegation: { maxDepth: settings.maxDepth ?? 2, maxFanOut: settings.maxFanOut ?? 5 },
  };
  const engine = await createEngine({
    store,
    config,
    workflows: [settings.workflow ?? workerInvoiceWorkflow()],
    secrets: new EnvSecretStore({ env: { AOS_SECRET_ERP_API_KEY: ERP_KEY } }),
  });
  await engine.start({ background: false });
  return engine;
}
