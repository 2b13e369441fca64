import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse as parseYaml } from 'yaml';
import { EnvSecretStore, createEngine, parseConfig } from '@autonomy-os/core';
import type { AosConfig, Engine } from '@autonomy-os/core';
import type { TestStore } from './backends.js';
import { createPaymentsServer } from '../../examples/support-desk/payments-server.mjs';

/** The example organisation's folder. */
export const SUPPORT_DESK = fileURLToPath(new URL('../../examples/support-desk/', import.meta.url));
export const PAYMENTS_KEY = 'sk_test_payments_key_0000000000';

/** The payments upstream, listening on a free 127.0.0.1 port. */
export interface Payments {
  url: string;
  state: { calls: Record<string, number>; log: { route: string; at: number; body: unknown }[] };
  calls(route: string): number;
  close(): Promise<void>;
}

export async function startPayments(options: { delayMs?: number } = {}): Promise<Payments> {
  const { server, state } = createPaymentsServer({ apiKey: PAYMENTS_KEY, ...options }) as {
    server: Server;
    state: Payments['state'];
  };
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    url,
    state,
    calls: (route) => state.calls[route] ?? 0,
    close: () => new Promise<void>((r) => server.close(() => r())),
  };
}

/** The example's aos.yaml, pointed at the given payments URL, with optional changes. */
export function supportDeskConfig(
  paymentsUrl: string,
  patch: (raw: Record<string, unknown>) => void = () => undefined,
): AosConfig {
  const text = fs
    .readFileSync(path.join(SUPPORT_DESK, 'aos.yaml'), 'utf8')
    .replaceAll('http://127.0.0.1:7431', paymentsUrl);
  const raw = parseYaml(text) as Record<string, unknown>;
  raw.policies = path.join(SUPPORT_DESK, 'policies');
  patch(raw);
  return parseConfig(raw);
}

/** Seeds the people and agents the example's scenarios use. */
export async function seedSupportDesk(t: TestStore): Promise<void> {
  const s = t.store;
  await s.humans.add({ id: 'olivia', groups: ['approvers:support-leads'] }, 'operator:test');
  await s.humans.add({ id: 'fiona', groups: ['approvers:finance'] }, 'operator:test');
  await s.humans.add({ id: 'frank', groups: ['approvers:finance'] }, 'operator:test');
  await s.humans.add({ id: 'fay', groups: ['approvers:finance'] }, 'operator:test');
  await s.humans.add({ id: 'lena', groups: ['approvers:finance-leads'] }, 'operator:test');
  await s.humans.add({ id: 'ada', groups: ['admins', 'auditors'] }, 'operator:test');
  await s.agents.create(
    { id: 'refund-bot', role: 'support', tier: 2, owner: 'fiona', environments: ['dev', 'staging'] },
    'operator:test',
  );
  await s.agents.create({ id: 'reader', role: 'support', tier: 0, owner: 'olivia' }, 'operator:test');
  await s.agents.create({ id: 'intern', role: 'support', tier: 1, owner: 'olivia' }, 'operator:test');
}

/** An engine for the example with the payments key in the secret store, started without background timers. */
export async function supportDeskEngine(t: TestStore, config: AosConfig): Promise<Engine> {
  const engine = await createEngine({
    store: t.store,
    config,
    secrets: new EnvSecretStore({ env: { AOS_SECRET_PAYMENTS_API_KEY: PAYMENTS_KEY } }),
  });
  await engine.start({ background: false });
  return engine;
}
