import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { aos } from './helpers/cli.js';

let tmp: string;
let env: Record<string, string>;
let config: string;

const json = (text: string) =>
  JSON.parse(text.trim().split('\n').at(-1) as string) as Record<string, unknown>;

beforeEach(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'aos-runs-access-'));
  fs.mkdirSync(path.join(tmp, 'workflows'));
  fs.writeFileSync(
    path.join(tmp, 'workflows', 'await-go.yaml'),
    'name: await-go\nversion: 1\nowner: ada\nsteps:\n  go: { kind: wait, event: go }\n',
  );
  config = path.join(tmp, 'aos.yaml');
  fs.writeFileSync(config, 'workflows: ./workflows\n');
  env = { AOS_DATA: path.join(tmp, 'data') };
  for (const [id, groups] of [
    ['ada', ''],
    ['olga', 'admins'],
    ['vic', 'auditors'],
  ] as const)
    expect(aos(['humans', 'add', id, ...(groups ? ['--groups', groups] : [])], env).stderr).toBe('');
});
afterEach(() => {
  fs.rmSync(tmp, { recursive: true, force: true });
});

describe('local-mode run writes', () => {
  it('refuse a run write without --as, naming the option, and write nothing', () => {
    const run = json(aos(['runs', 'start', 'await-go', '--config', config, '--as', 'ada'], env).stdout);
    for (const args of [
      ['runs', 'cancel', run.id as string],
      ['runs', 'pause', run.id as string],
      ['runs', 'signal', run.id as string, 'go'],
      ['runs', 'start', 'await-go', '--config', config],
    ]) {
      const r = aos(args, env);
      expect(r.code, args.join(' ')).toBe(2);
      expect(r.stderr, args.join(' ')).toContain('as:');
    }
    expect(json(aos(['runs', 'show', run.id as string], env).stdout)).toMatchObject({ status: 'running' });
    expect(json(aos(['runs', 'show', run.id as string], env).stdout).events).toHaveLength(1);
  });

  it('checks --as with the rule every front uses: the pinned owner or an admin', () => {
    const run = json(aos(['runs', 'start', 'await-go', '--config', config, '--as', 'ada'], env).stdout);
    const id = run.id as string;
    for (const args of [
      ['runs', 'pause', id],
      ['runs', 'cancel', id],
    ]) {
      const r = aos([...args, '--as', 'vic'], env);
      expect(r.code, args.join(' ')).toBe(1);
      expect(r.stderr).toContain('admins');
    }
    expect(aos(['runs', 'start', 'await-go', '--config', config, '--as', 'vic'], env).code).toBe(1);
    expect(aos(['runs', 'pause', id, '--as', 'ada'], env).stderr).toBe('');
    expect(aos(['runs', 'resume', id, '--as', 'olga'], env).stderr).toBe('');
    const cancelled = aos(['runs', 'cancel', id, '--as', 'olga'], env);
    expect(cancelled.stderr).toBe('');
    expect(json(cancelled.stdout)).toMatchObject({ id, status: 'compensating' });
    const shown = json(aos(['runs', 'show', id], env).stdout) as { events: { actor?: string }[] };
    expect(shown.events.map((e) => e.actor).filter(Boolean)).toEqual([
      'human:ada',
      'human:ada',
      'human:olga',
      'human:olga',
    ]);
  });
});
