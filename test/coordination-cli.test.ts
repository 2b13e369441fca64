import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { EnvSecretStore, createEngine, defineWorkflow, openStore, parseConfig } from '@autonomy-os/core';
import { aos } from './helpers/cli.js';
import { ADA } from './helpers/people.js';

let dir: string;
let runId: string;

beforeEach(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'aos-coord-cli-'));
  const store = await openStore({ dataDir: dir });
  try {
    await store.humans.add({ id: 'ada', groups: ['admins'] }, 'operator:test');
    await store.agents.create({ id: 'helper', role: 'helper', tier: 1, owner: 'ada' }, 'operator:test');
    const def = defineWorkflow({
      name: 'team',
      version: 1,
      owner: 'ada',
      steps: { draft: { kind: 'task', role: 'helper', rule: 'draft' } },
    });
    const engine = await createEngine({
      store,
      config: parseConfig({}),
      workflows: [def],
      rules: { draft: () => ({ ok: true }) },
      secrets: new EnvSecretStore({ env: {} }),
    });
    runId = (await engine.workflows.start('team', {}, ADA)).id;
    await engine.coordination.context.write(
      { runId, key: 'plan', value: { step: 1 } },
      { kind: 'agent', id: 'helper', role: 'helper', status: 'active' },
    );
    await engine.close();
  } finally {
    await store.close();
  }
});
afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

describe('aos runs context, messages and leases', () => {
  it('prints and writes a run context entry, attributed to the human given with --as', () => {
    const env = { AOS_DATA: dir };
    const all = aos(['runs', 'context', runId], env);
    expect(all.stderr).toBe('');
    expect(JSON.parse(all.stdout)).toMatchObject({
      entries: [{ key: 'plan', value: { step: 1 }, version: 1, writtenBy: 'agent:helper' }],
    });
    const set = aos(
      ['runs', 'context', runId, 'plan', '--set', '{"step":2}', '--as', 'ada', '--expect-version', '1'],
      env,
    );
    expect(set.code).toBe(0);
    expect(JSON.parse(set.stdout)).toMatchObject({ value: { step: 2 }, version: 2, writtenBy: 'human:ada' });
    const stale = aos(
      ['runs', 'context', runId, 'plan', '--set', '3', '--as', 'ada', '--expect-version', '1'],
      env,
    );
    expect(stale.code).not.toBe(0);
    expect(stale.stderr).toContain('expectVersion: is 2, not 1');
    const noAs = aos(['runs', 'context', runId, 'plan', '--set', '3'], env);
    expect(noAs.code).not.toBe(0);
    expect(noAs.stderr).toContain('as: is required');
    expect(JSON.parse(aos(['runs', 'context', runId, 'plan'], env).stdout)).toMatchObject({ version: 2 });
    expect(JSON.parse(aos(['runs', 'messages', runId], env).stdout)).toEqual({ messages: [] });
    expect(JSON.parse(aos(['runs', 'leases', '--json'], env).stdout)).toEqual({ leases: [], waiters: [] });
    expect(JSON.parse(aos(['runs', 'show', runId], env).stdout)).toMatchObject({ id: runId, leases: [] });
  });
});
