import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse as parseYaml } from 'yaml';
import { EnvSecretStore, createEngine, parseConfig } from '@autonomy-os/core';
import type { AosConfig, Engine, EngineOptions, WorkflowCrashPoint } from '@autonomy-os/core';
import type { TestStore } from './backends.js';
import { createErpServer } from '../../examples/invoices/erp-server.mjs';

/** The invoices example's folder. */
export const INVOICES = fileURLToPath(new URL('../../examples/invoices/', import.meta.url));
export const ERP_KEY = 'sk_test_erp_key_00000000000000';

/** The ERP upstream, listening on a free 127.0.0.1 port. */
export interface Erp {
  url: string;
  state: {
    calls: Record<string, number>;
    log: { route: string; path: string; at: number; body: unknown }[];
    failNotify: boolean;
    failNotifyTo: Set<string>;
    delayMs: number;
    /** The ERP's ledger: invoices posted (and voided), by id, with their journal entry. */
    invoices: Map<string, { status: string; entry: string }>;
  };
  calls(route: string): number;
  close(): Promise<void>;
}

export async function startErp(): Promise<Erp> {
  const { server, state } = createErpServer({ apiKey: ERP_KEY }) as { server: Server; state: Erp['state'] };
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    url,
    state,
    calls: (route) => state.calls[route] ?? 0,
    close: () => new Promise<void>((r) => server.close(() => r())),
  };
}

/** The example's aos.yaml pointed at the given ERP URL, with absolute paths. */
export function invoicesConfig(erpUrl: string): AosConfig {
  const text = fs
    .readFileSync(path.join(INVOICES, 'aos.yaml'), 'utf8')
    .replaceAll('http://127.0.0.1:7432', erpUrl);
  const raw = parseYaml(text) as Record<string, unknown>;
  raw.policies = path.join(INVOICES, 'policies');
  raw.workflows = path.join(INVOICES, 'workflows');
  raw.rules = path.join(INVOICES, 'rules.mjs');
  return parseConfig(raw);
}

/** Seeds the example's people and agents. */
export async function seedInvoices(t: TestStore): Promise<void> {
  const s = t.store;
  await s.humans.add({ id: 'fiona', groups: ['approvers:finance'] }, 'operator:test');
  await s.humans.add({ id: 'frank', groups: ['approvers:finance'] }, 'operator:test');
  await s.humans.add({ id: 'ada', groups: ['admins'] }, 'operator:test');
  await s.agents.create({ id: 'clerk-1', role: 'clerk', tier: 1, owner: 'fiona' }, 'operator:test');
  await s.agents.create({ id: 'critic-1', role: 'critic', tier: 1, owner: 'fiona' }, 'operator:test');
  await s.agents.create(
    { id: 'poster', role: 'poster', tier: 2, owner: 'fiona', environments: ['dev'] },
    'operator:test',
  );
}

/** An engine for the example (ERP key in the secret store), started without background timers. */
export async function invoicesEngine(
  store: TestStore['store'],
  config: AosConfig,
  workflowOptions: { leaseMs?: number; crash?: (point: WorkflowCrashPoint) => void } = {},
  extra: Pick<EngineOptions, 'workflows' | 'rules' | 'logger'> = {},
): Promise<Engine> {
  const engine = await createEngine({
    store,
    config,
    secrets: new EnvSecretStore({ env: { AOS_SECRET_ERP_API_KEY: ERP_KEY } }),
    workflowOptions,
    ...extra,
  });
  await engine.start({ background: false });
  return engine;
}
