import { execFileSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { PG_URL } from './helpers/backends.js';
import { aos } from './helpers/cli.js';

interface Target {
  name: string;
  enabled: boolean;
  /** Global flags that select the store. */
  flags(dir: string, schema: string): string[];
  /** Runs SQL directly in the database, as an operator with sqlite3 or psql would. */
  sql(dir: string, schema: string, sql: string): void;
  dropGuard: string;
}

const targets: Target[] = [
  {
    name: 'sqlite',
    enabled: true,
    flags: (dir) => ['--data', dir],
    sql: (dir, _s, sql) => void execFileSync('sqlite3', [path.join(dir, 'aos.db'), sql]),
    dropGuard: 'DROP TRIGGER audit_log_no_update; DROP TRIGGER audit_log_no_delete;',
  },
  {
    name: 'postgres',
    enabled: !!PG_URL,
    flags: (dir, schema) => ['--data', dir, '--database-url', `${PG_URL}?schema=${schema}`],
    sql: (_d, schema, sql) =>
      void execFileSync('psql', [
        PG_URL as string,
        '-v',
        'ON_ERROR_STOP=1',
        '-q',
        '-c',
        `SET client_min_messages=warning; SET search_path=${schema}; ${sql}`,
      ]),
    dropGuard: 'DROP TRIGGER audit_log_no_update ON audit_log;',
  },
];

describe.each(targets)('aos CLI on $name', (target) => {
  let dir: string;
  let schema: string;
  let run: (...args: string[]) => ReturnType<typeof aos>;

  beforeEach((ctx) => {
    if (!target.enabled) return ctx.skip();
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'aos-cli-'));
    schema = `aos_cli_${crypto.randomBytes(5).toString('hex')}`;
    run = (...args) => aos([...target.flags(dir, schema), ...args]);
    expect(run('init').code).toBe(0);
    expect(run('humans', 'add', 'olivia', '--groups', 'approvers:finance').code).toBe(0);
  });
  afterEach(() => {
    if (!target.enabled) return;
    if (target.name === 'postgres') target.sql(dir, schema, `DROP SCHEMA ${schema} CASCADE`);
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('creates agents and tokens, lists them, and verifies the audit log', () => {
    expect(
      run('agents', 'create', 'refund-bot', '--role', 'support', '--owner', 'olivia', '--tier', '1').code,
    ).toBe(0);
    const issued = run('tokens', 'issue', '--agent', 'refund-bot', '--json');
    expect(issued.code).toBe(0);
    const token = (JSON.parse(issued.stdout) as { token: string }).token;
    expect(token).toMatch(/^aos_/);
    expect(run('tokens', 'verify', token).stdout).toMatch(/agent refund-bot/);
    const list = JSON.parse(run('agents', 'list', '--json').stdout) as { id: string; tier: number }[];
    expect(list).toMatchObject([{ id: 'refund-bot', tier: 1 }]);
    const verify = run('audit', 'verify', '--json');
    expect(verify.code).toBe(0);
    expect(JSON.parse(verify.stdout)).toMatchObject({ ok: true, verified: 3 });
    expect(JSON.stringify(run('audit', 'list', '--json').stdout)).not.toContain(token);
  });

  it.each([
    ['an unknown agent', ['agents', 'pause', 'ghost'], /agent: unknown agent 'ghost'/],
    [
      'tier 7',
      ['agents', 'create', 'a1', '--role', 'r', '--owner', 'olivia', '--tier', '7'],
      /tier: must be 0, 1, 2 or 3/,
    ],
    ['a missing owner', ['agents', 'create', 'a1', '--role', 'r'], /--owner/],
    [
      'an unknown owner',
      ['agents', 'create', 'a1', '--role', 'r', '--owner', 'nobody'],
      /owner: unknown human 'nobody'/,
    ],
    ['a malformed token', ['tokens', 'verify', 'not-a-token'], /token: malformed token/],
    ['an unknown token id', ['tokens', 'revoke', 'tok_nope'], /token: unknown token/],
    ['a bad expiry', ['tokens', 'issue', '--human', 'olivia', '--expires', 'soon'], /expires: /],
  ])('rejects %s with one line naming the field, and writes nothing', (_n, args, message) => {
    const before = run('audit', 'list', '--json').stdout;
    const res = run(...args);
    expect(res.code).not.toBe(0);
    expect(res.stderr.trim().split('\n')).toHaveLength(1);
    expect(res.stderr).toMatch(message);
    expect(run('audit', 'list', '--json').stdout).toBe(before);
  });

  it('rejects a duplicate agent id', () => {
    expect(run('agents', 'create', 'a1', '--role', 'r', '--owner', 'olivia').code).toBe(0);
    const dup = run('agents', 'create', 'a1', '--role', 'r', '--owner', 'olivia');
    expect(dup.code).toBe(2);
    expect(dup.stderr).toMatch(/^aos: error: id: agent 'a1' already exists/);
  });

  it('names the first bad record when a record is changed in the database', () => {
    for (const id of ['a1', 'a2', 'a3']) run('agents', 'create', id, '--role', 'r', '--owner', 'olivia');
    target.sql(
      dir,
      schema,
      `${target.dropGuard} UPDATE audit_log SET actor = 'human:mallory' WHERE seq = 3;`,
    );
    const res = run('audit', 'verify');
    expect(res.code).toBe(1);
    expect(res.stdout).toMatch(/BROKEN at record 3/);
    const json = JSON.parse(run('audit', 'verify', '--json').stdout) as {
      ok: boolean;
      firstBad: { seq: number };
    };
    expect(json).toMatchObject({ ok: false, firstBad: { seq: 3 } });
  });

  it('detects a truncated tail against a saved checkpoint file', () => {
    for (const id of ['a1', 'a2', 'a3']) run('agents', 'create', id, '--role', 'r', '--owner', 'olivia');
    const cp = path.join(dir, 'cp.json');
    expect(run('audit', 'checkpoint', '--out', cp).code).toBe(0);
    target.sql(
      dir,
      schema,
      `${target.dropGuard} DELETE FROM audit_log WHERE seq > 2; DELETE FROM audit_checkpoints;`,
    );
    expect(run('audit', 'verify').code).toBe(0);
    const res = run('audit', 'verify', '--checkpoint', cp);
    expect(res.code).toBe(1);
    expect(res.stdout).toMatch(/BROKEN at record 3: .*removed from the end/);
  });

  it('exports a bundle that verifies offline, without the database, and fails when edited', () => {
    run('agents', 'create', 'a1', '--role', 'r', '--owner', 'olivia');
    const bundle = path.join(dir, 'bundle.json');
    expect(run('audit', 'export', '--out', bundle).code).toBe(0);
    const key = path.join(dir, 'key.pem');
    fs.writeFileSync(key, run('audit', 'key').stdout);
    const elsewhere = path.join(os.tmpdir(), `aos-nodb-${crypto.randomBytes(4).toString('hex')}`);
    const offline = aos(['--data', elsewhere, 'audit', 'verify', '--bundle', bundle, '--key', key]);
    expect(offline.code).toBe(0);
    expect(offline.stdout).toMatch(/bundle intact: 2 records verified/);
    expect(fs.existsSync(elsewhere)).toBe(false);
    fs.writeFileSync(bundle, fs.readFileSync(bundle, 'utf8').replace('"role":"r"', '"role":"admin"'));
    const edited = aos(['audit', 'verify', '--bundle', bundle]);
    expect(edited.code).toBe(1);
    expect(edited.stdout).toMatch(/BROKEN at record 2/);
  });
});

describe('aos CLI basics', () => {
  it('prints its version', () => {
    expect(aos(['--version']).stdout.trim()).toMatch(/^\d+\.\d+\.\d+$/);
  });

  it.each([
    [[]],
    [['agents']],
    [['agents', 'create']],
    [['humans', 'add']],
    [['tokens', 'issue']],
    [['audit', 'verify']],
    [['audit', 'checkpoint']],
    [['audit', 'export']],
    [['serve']],
    [['init']],
  ])('has --help for %j', (args) => {
    const res = aos([...args, '--help']);
    expect(res.code).toBe(0);
    expect(res.stdout).toMatch(/^Usage: aos/);
  });

  it('refuses a data directory it cannot use, naming the field', () => {
    const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'aos-bad-')), 'file');
    fs.writeFileSync(file, 'x');
    const res = aos(['--data', file, 'agents', 'list']);
    expect(res.code).toBe(2);
    expect(res.stderr).toMatch(/^aos: error: data: cannot use data directory/);
  });

  it('refuses a database URL that is not postgres://', () => {
    const res = aos(['--database-url', 'mysql://x', 'agents', 'list']);
    expect(res.code).toBe(2);
    expect(res.stderr).toMatch(/database-url: must start with postgres:\/\//);
  });
});
