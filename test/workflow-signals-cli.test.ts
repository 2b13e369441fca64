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
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

beforeEach(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'aos-wf-signal-'));
  fs.mkdirSync(path.join(tmp, 'workflows'));
  fs.writeFileSync(
    path.join(tmp, 'workflows', 'await-go.yaml'),
    'name: await-go\nversion: 1\nowner: ada\nsteps:\n  go: { kind: wait, event: go, timeout: 1s }\n',
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

describe('aos runs signal and aos runs retry', () => {
  it('retries a run whose wait timed out, then ends the wait with a signal', async () => {
    const started = aos(['runs', 'start', 'await-go', '--config', config, '--wait'], env);
    expect(started.stderr).toBe('');
    const run = json(started.stdout) as { id: string; steps: Record<string, { status: string }> };
    expect(run.steps.go?.status).toBe('waiting');

    await sleep(1100);
    await advance();
    expect(json(aos(['runs', 'show', run.id], env).stdout)).toMatchObject({
      status: 'failed',
      error: { code: 'timeout' },
    });
    const early = aos(['runs', 'signal', run.id, 'go'], env);
    expect(early.code).not.toBe(0);
    expect(early.stderr).toContain('it takes no signals');

    const retried = aos(['runs', 'retry', run.id], env);
    expect(retried.stderr).toBe('');
    expect(json(retried.stdout)).toMatchObject({ id: run.id, status: 'running', error: null });

    const sent = aos(['runs', 'signal', run.id, 'go', '{"ok":true}'], env);
    expect(sent.stderr).toBe('');
    expect(json(sent.stdout)).toMatchObject({
      runId: run.id,
      name: 'go',
      data: { ok: true },
      sentBy: 'human:ada',
    });
    await advance();

    const done = json(aos(['runs', 'show', run.id], env).stdout) as {
      status: string;
      steps: Record<string, { output: unknown; attempt: number }>;
    };
    expect(done.status).toBe('completed');
    expect(done.steps.go).toMatchObject({ output: { ok: true }, attempt: 2 });

    const again = aos(['runs', 'retry', run.id], env);
    expect(again.code).not.toBe(0);
    expect(again.stderr).toContain('only a failed run can be retried');
  });

  it('refuses a bad signal name and bad data, naming the field', () => {
    const run = json(aos(['runs', 'start', 'await-go', '--config', config], env).stdout) as { id: string };
    const badName = aos(['runs', 'signal', run.id, 'no spaces'], env);
    expect(badName.code).not.toBe(0);
    expect(badName.stderr).toContain('name: must be a signal name');
    const badData = aos(['runs', 'signal', run.id, 'go', '{oops'], env);
    expect(badData.code).not.toBe(0);
    expect(badData.stderr).toContain('data: must be JSON');
  });
});
