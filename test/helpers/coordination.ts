import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { EnvSecretStore, createEngine, defineWorkflow, parseConfig } from '@autonomy-os/core';
import type { Engine, RuleHandler, Store, WorkflowInput } from '@autonomy-os/core';
import type { TestStore } from './backends.js';

/** One call the work upstream served: when it started and ended (its own clock). */
export interface WorkCall {
  id: string;
  path: string;
  startMs: number;
  endMs: number;
}

/**
 * A real HTTP upstream for coordination tests. `POST /work` and `POST /backup` record each call's interval. A call
 * takes `delayMs`, after — while `barrier` is set — waiting until `barrier` calls are in flight at once (bounded by
 * `barrierTimeoutMs`, so a test fails rather than hangs). While `failing`, `/work` drops the connection.
 */
export interface WorkUpstream {
  url: string;
  calls: WorkCall[];
  state: {
    delayMs: number;
    barrier: number;
    barrierTimeoutMs: number;
    /** While true, calls wait (at most 10 s) before answering. */
    hold: boolean;
    failing: boolean;
    refused: number;
  };
  close(): Promise<void>;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export async function startWorkUpstream(): Promise<WorkUpstream> {
  const calls: WorkCall[] = [];
  const state = { delayMs: 200, barrier: 0, barrierTimeoutMs: 5000, hold: false, failing: false, refused: 0 };
  let inFlight = 0;
  let peak = 0;
  const server = http.createServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString()));
    req.on('end', () => {
      void (async () => {
        const url = req.url ?? '';
        if (state.failing && url === '/work') {
          state.refused++;
          // A dropped connection (not an HTTP error answer) is what a connector's circuit breaker counts.
          req.socket.destroy();
          return;
        }
        const input = (body ? JSON.parse(body) : {}) as { id?: string };
        const startMs = Date.now();
        inFlight++;
        peak = Math.max(peak, inFlight);
        for (let i = 0; i < 1000 && state.hold; i++) await sleep(10);
        if (state.barrier > 0) {
          for (let i = 0; i < state.barrierTimeoutMs / 10 && peak < state.barrier; i++) await sleep(10);
        }
        await sleep(state.delayMs);
        inFlight--;
        if (inFlight === 0) peak = 0;
        const endMs = Date.now();
        calls.push({ id: String(input.id), path: url, startMs, endMs });
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ id: input.id, path: url, startMs, endMs }));
      })();
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    calls,
    state,
    close: () => new Promise<void>((r) => server.close(() => r())),
  };
}

/** Whether any two intervals overlap. */
export function overlapping(calls: readonly WorkCall[]): boolean {
  const sorted = [...calls].sort((a, b) => a.startMs - b.startMs);
  for (let i = 1; i < sorted.length; i++)
    if ((sorted[i] as WorkCall).startMs < (sorted[i - 1] as WorkCall).endMs) return true;
  return false;
}

/** Seeds the worker agent, a human, and returns a config with the `work` connector and a policy letting it write. */
export async function seedCoordination(
  t: TestStore,
  upstreamUrl: string,
  breaker = { failureThreshold: 5, coolDownMs: 30_000 },
) {
  await t.store.humans.add({ id: 'ada', groups: ['admins'] }, 'operator:test');
  await t.store.humans.add({ id: 'olga', groups: ['ops'] }, 'operator:test');
  await t.store.agents.create(
    { id: 'worker', role: 'worker', tier: 2, owner: 'ada', environments: ['dev'] },
    'operator:test',
  );
  await t.store.agents.create({ id: 'helper', role: 'helper', tier: 1, owner: 'ada' }, 'operator:test');
  await t.store.agents.create({ id: 'outsider', role: 'outsider', tier: 1, owner: 'ada' }, 'operator:test');
  const policies = fs.mkdtempSync(path.join(os.tmpdir(), 'aos-coord-policies-'));
  fs.writeFileSync(
    path.join(policies, 'work.cedar'),
    [
      '@id("worker-work")',
      'permit (principal in Role::"worker", action in Action::"write", resource in Connector::"work");',
      '@id("worker-spare")',
      'permit (principal in Role::"worker", action in Action::"write", resource in Connector::"spare");',
      '',
    ].join('\n'),
  );
  const op = (name: string) => ({
    name,
    method: 'POST',
    url: `${upstreamUrl}/${name}`,
    body: 'input',
    inputSchema: { type: 'object', properties: { id: { type: 'string' } }, required: ['id'] },
    annotations: { readOnlyHint: false, destructiveHint: false, idempotentHint: false, openWorldHint: false },
  });
  return parseConfig({
    policies,
    defaultEnvironment: 'dev',
    connectors: [
      { id: 'work', type: 'http', timeoutMs: 10_000, breaker, operations: [op('work')] },
      { id: 'spare', type: 'http', timeoutMs: 10_000, breaker, operations: [op('backup')] },
    ],
  });
}

/** A workflow with one action step calling `work.work` under an optional lease. */
export function workWorkflow(
  name: string,
  extra: Partial<WorkflowInput> = {},
  step: Record<string, unknown> = {},
) {
  return defineWorkflow({
    name,
    version: 1,
    owner: 'ada',
    ...extra,
    steps: {
      call: {
        kind: 'action',
        as: 'worker',
        tool: 'work.work',
        input: '{ "id": input.id }',
        ...step,
      } as WorkflowInput['steps'][string],
    },
  });
}

/** An engine on `store` with the given workflows, started without background timers. */
export async function coordinationEngine(
  store: Store,
  config: ReturnType<typeof parseConfig>,
  workflows: ReturnType<typeof defineWorkflow>[],
  claimLimit?: number,
  rules?: Record<string, RuleHandler>,
): Promise<Engine> {
  const engine = await createEngine({
    store,
    config,
    workflows,
    ...(rules ? { rules } : {}),
    secrets: new EnvSecretStore({ env: {} }),
    ...(claimLimit ? { workflowOptions: { claimLimit } } : {}),
  });
  await engine.start({ background: false });
  return engine;
}

/** Ticks every engine at once until every run is over (bounded); answers the runs' final statuses. */
export async function tickUntilDone(engines: Engine[], runIds: string[], rounds = 400): Promise<string[]> {
  const first = engines[0] as Engine;
  for (let i = 0; i < rounds; i++) {
    await Promise.all(engines.map((e) => e.workflows.tick()));
    const statuses = await Promise.all(runIds.map(async (id) => (await first.workflows.get(id)).status));
    if (statuses.every((s) => ['completed', 'failed', 'cancelled'].includes(s))) return statuses;
    await sleep(10);
  }
  return Promise.all(runIds.map(async (id) => (await first.workflows.get(id)).status));
}
