import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openStore, verifyPassword } from '@autonomy-os/core';
import { AOS_BIN } from './helpers/cli.js';

const PASSWORD = 'a long enough password';

describe('aos humans add --password', () => {
  let dir: string;
  const run = (args: string[], input?: string, env: Record<string, string> = {}) => {
    const res = spawnSync(process.execPath, [AOS_BIN, '--data', dir, ...args], {
      encoding: 'utf8',
      env: { ...process.env, AOS_DATABASE_URL: '', AOS_DATA: '', ...env },
      timeout: 60_000,
      ...(input === undefined ? {} : { input }),
    });
    return { code: res.status ?? -1, stdout: res.stdout, stderr: res.stderr };
  };

  beforeAll(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'aos-pw-'));
    expect(run(['init']).code).toBe(0);
  });
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('reads the password from standard input, never an argument, and stores only a slow hash', async () => {
    const res = run(
      ['humans', 'add', 'frank', '--groups', 'approvers:finance', '--password'],
      `${PASSWORD}\n`,
    );
    expect(res.code).toBe(0);
    expect(res.stdout + res.stderr).not.toContain(PASSWORD);
    expect(
      run(['humans', 'set-password', 'frank', '--password-env', 'PW'], undefined, {
        PW: 'another one, longer',
      }).code,
    ).toBe(0);
    const store = await openStore({ dataDir: dir });
    try {
      const hash = (await store.humans.passwordHash('frank')) as string;
      expect(hash).toMatch(/^scrypt\$131072\$8\$1\$/);
      expect(await verifyPassword('another one, longer', hash)).toBe(true);
      expect(await verifyPassword(PASSWORD, hash)).toBe(false);
      const audit = JSON.stringify(await store.db.all('SELECT type, payload FROM audit_log'));
      expect(audit).toContain('human.password_set');
      expect(audit).not.toContain(PASSWORD);
    } finally {
      await store.close();
    }
  });

  it('refuses a short password, naming the field, and adds no one', () => {
    const res = run(['humans', 'add', 'shorty', '--password'], 'short\n');
    expect(res.code).not.toBe(0);
    expect(res.stderr).toMatch(/password/);
    expect(run(['humans', 'list', '--json']).stdout).not.toContain('shorty');
  });
});
