// The Autonomy OS leg of the workflows suite: the workload (bench/workflow-workload.js) as a workflow definition,
// run by `createEngine` on a given store: runs started with `engine.workflows.start`, then advanced by
// `engine.workflows.drain()` (the same ticks `aos serve` runs) until every run is over.
import {
  EnvSecretStore,
  createEngine,
  defineWorkflow,
  parseConfig,
  policyBundleFromTexts,
} from '@autonomy-os/core';
import { STEPS_PER_RUN, rules, runInput } from './workflow-workload.js';

/** The workload as a workflow: classify → check → score (rule agents) → ping 1 → ping 2 (pipeline actions). */
export const benchWorkflow = defineWorkflow({
  name: 'bench-steps',
  version: 1,
  owner: 'owner',
  input: {
    type: 'object',
    required: ['id', 'amount'],
    properties: { id: { type: 'string' }, amount: { type: 'number' } },
  },
  steps: {
    classify: { kind: 'task', role: 'clerk', rule: 'bench-classify' },
    check: {
      kind: 'task',
      role: 'clerk',
      rule: 'bench-check',
      dependsOn: ['classify'],
      input: 'steps.classify',
    },
    score: { kind: 'task', role: 'clerk', rule: 'bench-score', dependsOn: ['check'], input: 'steps.check' },
    ping1: {
      kind: 'action',
      as: 'poster',
      tool: 'noop.ping',
      dependsOn: ['score'],
      input: '{ "id": input.id, "n": 1, "score": steps.score.score }',
    },
    ping2: {
      kind: 'action',
      as: 'poster',
      tool: 'noop.ping',
      dependsOn: ['ping1'],
      input: '{ "id": input.id, "n": 2, "score": steps.score.score }',
    },
  },
  output: 'steps.score',
});

if (Object.keys(benchWorkflow.steps).length !== STEPS_PER_RUN)
  throw new Error('bench workflow: wrong step count');

/**
 * An engine on `store` for the workload, the no-op tool pointing at `upstreamUrl` (with `extra` workflows beside
 * it, and `workflowOptions` for the workflow engine, e.g. how many claimed runs a tick advances at once). Answers
 * `{ engine, runs(n, from) → completes n runs, close() }`; `runs` throws unless every run completed.
 */
export async function openAosLeg(store, upstreamUrl, extra = [], workflowOptions = undefined) {
  await store.humans.add({ id: 'owner' }, 'operator:bench');
  await store.agents.create({ id: 'clerk-1', role: 'clerk', tier: 1, owner: 'owner' }, 'operator:bench');
  await store.agents.create(
    { id: 'poster', role: 'poster', tier: 2, owner: 'owner', environments: ['dev'] },
    'operator:bench',
  );
  const config = parseConfig({
    defaultEnvironment: 'dev',
    connectors: [
      {
        id: 'noop',
        type: 'http',
        operations: [
          {
            name: 'ping',
            description: 'Does nothing and answers ok',
            method: 'POST',
            url: `${upstreamUrl}/ping`,
            body: 'input',
            inputSchema: {
              type: 'object',
              properties: { id: { type: 'string' }, n: { type: 'number' }, score: { type: 'number' } },
              required: ['id', 'n'],
              additionalProperties: false,
            },
            annotations: {
              readOnlyHint: false,
              destructiveHint: false,
              idempotentHint: false,
              openWorldHint: false,
            },
          },
        ],
      },
    ],
  });
  const policies = policyBundleFromTexts([
    {
      file: 'bench.cedar',
      text: 'permit (principal in Role::"poster", action, resource in Connector::"noop");',
    },
  ]);
  const engine = await createEngine({
    store,
    config,
    policies,
    secrets: new EnvSecretStore({ env: {} }),
    workflows: [benchWorkflow, ...extra],
    rules,
    ...(workflowOptions ? { workflowOptions } : {}),
  });
  await engine.start({ background: false });
  return {
    engine,
    /** Starts runs `from … from+n-1` and drains until none records anything new; checks each completed. */
    async runs(n, from) {
      const ids = new Set();
      const owner = await store.humans.require('owner');
      for (let i = from; i < from + n; i++) {
        ids.add((await engine.workflows.start('bench-steps', runInput(i), owner)).id);
      }
      // Each tick claims up to `claimLimit` runs (default 20) and advances each as far as it goes, as many at once as
      // `advanceConcurrency` (default 1); bounded by drain's own tick limit.
      await engine.workflows.drain(10 + n);
      return ids;
    },
    /** Starts runs `from … from+n-1` all at once and drains until none records anything new. */
    async concurrently(n, from) {
      const owner = await store.humans.require('owner');
      const started = await Promise.all(
        Array.from({ length: n }, (_, i) => engine.workflows.start('bench-steps', runInput(from + i), owner)),
      );
      await engine.workflows.drain(10 + n);
      return new Set(started.map((r) => r.id));
    },
    /** Throws unless every run of `ids` completed (outside the timed part). */
    async check(ids) {
      const done = (await engine.workflows.list({ limit: 1000 })).filter((r) => ids.has(r.id));
      const bad = done.filter((r) => r.status !== 'completed');
      if (done.length !== ids.size || bad.length) {
        const first = bad[0] ? await engine.workflows.get(bad[0].id) : undefined;
        throw new Error(
          `workflows: ${ids.size - done.length + bad.length} of ${ids.size} runs did not complete` +
            (first ? ` (${first.status}: ${JSON.stringify(first.error)})` : ''),
        );
      }
    },
    close: () => engine.close(),
  };
}
