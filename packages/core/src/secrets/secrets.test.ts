import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';

import { afterEach, beforeEach, describe, expect, it } from 'vitest';

import { SystemError, UserError } from '../errors.js';
import {
  ChainedSecretStore,
  EncryptedFileSecretStore,
  EnvSecretStore,
  resolveSecretRefs,
  secretRefNames,
} from './index.js';
import type { SecretStore } from './index.js';

const VALUE = 'sk_live_TOP-SECRET-9f8e7d';

async function caught(promise: Promise<unknown>): Promise<Error> {
  try {
    await promise;
  } catch (error) {
    return error as Error;
  }
  throw new Error('expected a rejection');
}

function describeError(error: Error): string {
  return `${error.message} ${String((error as { field?: unknown }).field)} ${error.stack ?? ''} ${String(error.cause)}`;
}

describe('EncryptedFileSecretStore', () => {
  let dir: string;
  const noEnv = {};

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'aos-secrets-'));
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('round-trips secrets and lists their names', async () => {
    const store = await EncryptedFileSecretStore.open({ dataDir: dir, env: noEnv });
    await store.set('crm_token', VALUE);
    await store.set('stripe-key', 'other');
    expect(await store.get('crm_token')).toBe(VALUE);
    expect(await store.listNames()).toEqual(['crm_token', 'stripe-key']);

    const reopened = await EncryptedFileSecretStore.open({ dataDir: dir, env: noEnv });
    expect(await reopened.get('crm_token')).toBe(VALUE);
    expect(await reopened.get('missing')).toBeUndefined();
    expect(await reopened.delete('stripe-key')).toBe(true);
    expect(await reopened.delete('stripe-key')).toBe(false);
    expect(await reopened.listNames()).toEqual(['crm_token']);
  });

  it('keeps values encrypted on disk with a fresh IV per write', async () => {
    const store = await EncryptedFileSecretStore.open({ dataDir: dir, env: noEnv });
    await store.set('a', VALUE);
    await store.set('b', VALUE);
    const text = await readFile(store.path, 'utf8');
    expect(text).not.toContain(VALUE);
    const file = JSON.parse(text) as Record<string, { iv: string; data: string }>;
    expect(Buffer.from(file.a!.iv, 'base64')).toHaveLength(12);
    expect(file.a!.iv).not.toBe(file.b!.iv);
    expect(file.a!.data).not.toBe(file.b!.data);
  });

  it('creates master.key and the secrets file with mode 0600', async () => {
    const store = await EncryptedFileSecretStore.open({ dataDir: dir, env: noEnv });
    await store.set('a', VALUE);
    expect((await stat(join(dir, 'master.key'))).mode & 0o777).toBe(0o600);
    expect((await stat(store.path)).mode & 0o777).toBe(0o600);
  });

  it('uses AOS_MASTER_KEY when set and writes no key file', async () => {
    const env = { AOS_MASTER_KEY: randomBytes(32).toString('base64') };
    const store = await EncryptedFileSecretStore.open({ dataDir: dir, env });
    await store.set('a', VALUE);
    await expect(stat(join(dir, 'master.key'))).rejects.toThrow();
    expect(await (await EncryptedFileSecretStore.open({ dataDir: dir, env })).get('a')).toBe(VALUE);
  });

  it('rejects a malformed AOS_MASTER_KEY naming the variable', async () => {
    const error = await caught(
      EncryptedFileSecretStore.open({ dataDir: dir, env: { AOS_MASTER_KEY: 'c2hvcnQ=' } }),
    );
    expect(error).toBeInstanceOf(UserError);
    expect((error as UserError).field).toBe('AOS_MASTER_KEY');
  });

  it('fails clearly with a wrong key, naming the secret but never its value', async () => {
    const store = await EncryptedFileSecretStore.open({ dataDir: dir, env: noEnv });
    await store.set('crm_token', VALUE);
    const wrong = await EncryptedFileSecretStore.open({
      dataDir: dir,
      env: { AOS_MASTER_KEY: randomBytes(32).toString('base64') },
    });
    const error = await caught(wrong.get('crm_token'));
    expect(error).toBeInstanceOf(SystemError);
    expect((error as SystemError).code).toBe('secret_decrypt_failed');
    expect(error.message).toContain("'crm_token'");
    expect(describeError(error)).not.toContain(VALUE);
  });

  it.each([
    ['the ciphertext', 'data'],
    ['the tag', 'tag'],
    ['the IV', 'iv'],
  ] as const)('detects a change to %s', async (_what, part) => {
    const store = await EncryptedFileSecretStore.open({ dataDir: dir, env: noEnv });
    await store.set('crm_token', VALUE);
    const file = JSON.parse(await readFile(store.path, 'utf8')) as Record<string, Record<string, string>>;
    const bytes = Buffer.from(file.crm_token![part]!, 'base64');
    bytes[0] = bytes[0]! ^ 0x01;
    file.crm_token![part] = bytes.toString('base64');
    await writeFile(store.path, JSON.stringify(file));
    const error = await caught(store.get('crm_token'));
    expect(error).toBeInstanceOf(SystemError);
    expect(error.message).toContain("'crm_token'");
    expect(describeError(error)).not.toContain(VALUE);
  });

  it('detects an entry moved to another name', async () => {
    const store = await EncryptedFileSecretStore.open({ dataDir: dir, env: noEnv });
    await store.set('admin_token', VALUE);
    await store.set('public_label', 'hello');
    const file = JSON.parse(await readFile(store.path, 'utf8')) as Record<string, unknown>;
    file.public_label = file.admin_token;
    await writeFile(store.path, JSON.stringify(file));
    expect(await caught(store.get('public_label'))).toBeInstanceOf(SystemError);
  });

  it('reports a corrupt file as a system error', async () => {
    const store = await EncryptedFileSecretStore.open({ dataDir: dir, env: noEnv });
    await writeFile(store.path, '{"a": 1');
    const error = await caught(store.get('a'));
    expect(error).toBeInstanceOf(SystemError);
    expect((error as SystemError).code).toBe('secret_store_corrupt');
  });

  it('serialises concurrent writes without losing any', async () => {
    const store = await EncryptedFileSecretStore.open({ dataDir: dir, env: noEnv });
    await Promise.all(Array.from({ length: 20 }, (_, i) => store.set(`s${i}`, `v${i}`)));
    expect(await store.listNames()).toHaveLength(20);
    expect(await store.get('s7')).toBe('v7');
  });

  it('rejects an invalid secret name naming the field', async () => {
    const store = await EncryptedFileSecretStore.open({ dataDir: dir, env: noEnv });
    const error = await caught(store.set('bad name!', VALUE));
    expect(error).toBeInstanceOf(UserError);
    expect((error as UserError).field).toBe('name');
  });
});

describe('EnvSecretStore', () => {
  it('reads AOS_SECRET_<NAME> variables', async () => {
    const store = new EnvSecretStore({ env: { AOS_SECRET_STRIPE_KEY: 'k', AOS_SECRET_CRM: 'c' } });
    expect(await store.get('stripe-key')).toBe('k');
    expect(await store.get('crm')).toBe('c');
    expect(await store.get('missing')).toBeUndefined();
  });
});

describe('ChainedSecretStore', () => {
  it('answers from the first store that holds the secret', async () => {
    const first = new EnvSecretStore({ env: { AOS_SECRET_A: 'first' } });
    const second = new EnvSecretStore({ env: { AOS_SECRET_A: 'second', AOS_SECRET_B: 'b' } });
    const chain = new ChainedSecretStore([first, second]);
    expect(await chain.get('a')).toBe('first');
    expect(await chain.get('b')).toBe('b');
    expect(await chain.get('c')).toBeUndefined();
  });
});

describe('resolveSecretRefs', () => {
  const store: SecretStore = new EnvSecretStore({
    env: { AOS_SECRET_TOKEN: VALUE, AOS_SECRET_TRICKY: '${secret:TOKEN}' },
  });

  it('replaces every reference', async () => {
    expect(await resolveSecretRefs('Bearer ${secret:token}; again ${secret:token}', store)).toBe(
      `Bearer ${VALUE}; again ${VALUE}`,
    );
    expect(await resolveSecretRefs('no refs', store)).toBe('no refs');
    expect(secretRefNames('${secret:a}-${secret:b}-${secret:a}')).toEqual(['a', 'b']);
  });

  it('does not resolve references inside secret values', async () => {
    expect(await resolveSecretRefs('${secret:tricky}', store)).toBe('${secret:TOKEN}');
  });

  it('names an unknown secret in a user error', async () => {
    const error = await caught(
      resolveSecretRefs('x ${secret:nope} ${secret:token}', store, { field: 'headers.X' }),
    );
    expect(error).toBeInstanceOf(UserError);
    expect((error as UserError).code).toBe('unknown_secret');
    expect((error as UserError).field).toBe('headers.X');
    expect(error.message).toContain("'nope'");
    expect(describeError(error)).not.toContain(VALUE);
  });
});
