import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createEngine, loadConfigFile, openStore } from '@autonomy-os/core';
import { aos } from './helpers/cli.js';

let tmp: string;
let env: Record<string, string>;
let config: string;

/** Advances every run on the CLI's data dir once, as an `aos serve` node on the same store would. */
async function advance(): Promise<void> {
  const store = await openStore({ dataDir: env.AOS_DATA as string });
  const engine = await createEngine({ store, config: loadConfigFile(config) });
  try {
    await engine.workflows.drain();
  } finally {
    await engine.close();
    await store.close();
  }
}

const json = (text: string) =>
  JSON.parse(text.trim().split('\n').at(-1) as string) as Record<string, unknown>;

beforeEach(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'aos-wf-pause-'));
  fs.mkdirSync(path.join(tmp, 'workflows'));
  fs.writeFileSync(
    path.join(tmp, 'workflows', 'await-go.yaml'),
    'name: await-go\nversion: 1\nowner: ada\nsteps:\n  go: { kind: wait, event: go }\n',
  );
  config = path.join(tmp, 'aos.yaml');
  fs.writeFileSync(config, 'workflows: ./workflows\n');
  env = { AOS_DATA: path.join(tmp, 'data'), AOS_AS: 'ada' };
  // Run writes act as a known human (AOS_AS, as --as), checked like a token: ada owns the workflow.
  expect(aos(['humans', 'add', 'ada'], env).stderr).toBe('');
});
afterEach(() => {
  fs.rmSync(tmp, { recursive: true, force: true });
});

describe('aos runs pause and aos runs resume', () => {
  it('holds a run so its step does not start, and lets it go on when resumed', async () => {
    const run = json(aos(['runs', 'start', 'await-go', '--config', config], env).stdout) as { id: string };
    const paused = aos(['runs', 'pause', run.id, '--reason', 'audit'], env);
    expect(paused.stderr).toBe('');
    expect(json(paused.stdout)).toMatchObject({ id: run.id, status: 'running' });
    const again = aos(['runs', 'pause', run.id], env);
    expect(again.code).not.toBe(0);
    expect(again.stderr).toContain('already paused');

    expect(aos(['runs', 'signal', run.id, 'go', '{"ok":true}'], env).stderr).toBe('');
    await advance();
    const held = json(aos(['runs', 'show', run.id], env).stdout) as {
      paused: unknown;
      steps: Record<string, { status: string }>;
    };
    expect(held.paused).toEqual({ by: 'human:ada', reason: 'audit' });
    expect(held.steps.go?.status).toBe('pending');

    const resumed = aos(['runs', 'resume', run.id], env);
    expect(resumed.stderr).toBe('');
    await advance();
    const done = json(aos(['runs', 'show', run.id], env).stdout) as {
      status: string;
      paused?: unknown;
      steps: Record<string, { output: unknown }>;
    };
    expect(done.status).toBe('completed');
    expect(done.paused).toBeUndefined();
    expect(done.steps.go?.output).toEqual({ ok: true });
    const late = aos(['runs', 'resume', run.id], env);
    expect(late.code).not.toBe(0);
    expect(late.stderr).toContain('only a running run');
  });
});
