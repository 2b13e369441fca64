import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { link, mkdir, open, readFile, rename, rm } from 'node:fs/promises';
import { join } from 'node:path';

import { SystemError, UserError } from '../errors.js';
import { assertSecretName } from './secret-store.js';
import type { SecretStore } from './secret-store.js';

/** One encrypted secret as stored on disk; all three parts are base64. */
interface EncryptedEntry {
  iv: string;
  tag: string;
  data: string;
}

type SecretsFile = Record<string, EncryptedEntry>;

const KEY_BYTES = 32;
const IV_BYTES = 12;
const TAG_BYTES = 16;

/** Options for {@link EncryptedFileSecretStore.open}. */
export interface EncryptedFileSecretStoreOptions {
  /** The data directory (created if absent) that holds `secrets.json` and, when no key is given, `master.key`. */
  dataDir: string;
  /** The environment to read `AOS_MASTER_KEY` from; defaults to `process.env`. */
  env?: Record<string, string | undefined>;
  /** The file name of the secrets file inside `dataDir`; defaults to `secrets.json`. */
  fileName?: string;
}

/**
 * Secrets encrypted at rest with AES-256-GCM in one JSON file, `{ "<name>": { iv, tag, data } }`, each entry with a
 * fresh random 12-byte IV and the secret's name as additional authenticated data (so an entry moved to another name
 * fails to decrypt). Writes go to a temporary file that is renamed over the old one, so a crash never leaves a torn file.
 *
 * The master key is `AOS_MASTER_KEY` (base64 of 32 bytes) when set; otherwise `master.key` in the data directory,
 * created with mode 0600 on first use. Errors name the secret, never its value.
 *
 * Writers within one process are serialised; concurrent writers in several processes are not supported (last wins).
 *
 * @example
 * const store = await EncryptedFileSecretStore.open({ dataDir: '.aos' });
 * await store.set('crm_token', 'abc');
 * await store.get('crm_token'); // 'abc'
 */
export class EncryptedFileSecretStore implements SecretStore {
  readonly #path: string;
  readonly #key: Buffer;
  #queue: Promise<unknown> = Promise.resolve();

  private constructor(path: string, key: Buffer) {
    this.#path = path;
    this.#key = key;
  }

  /** Opens (and on first use creates) the store in `options.dataDir`, loading or creating the master key. */
  static async open(options: EncryptedFileSecretStoreOptions): Promise<EncryptedFileSecretStore> {
    await mkdir(options.dataDir, { recursive: true, mode: 0o700 });
    const key = await loadMasterKey(options.dataDir, options.env ?? process.env);
    return new EncryptedFileSecretStore(join(options.dataDir, options.fileName ?? 'secrets.json'), key);
  }

  /** The path of the encrypted secrets file. */
  get path(): string {
    return this.#path;
  }

  async get(name: string): Promise<string | undefined> {
    assertSecretName(name);
    const file = await this.#read();
    const entry = Object.hasOwn(file, name) ? file[name] : undefined;
    return entry === undefined ? undefined : this.#decrypt(name, entry);
  }

  /** Stores (or replaces) the secret `name`. */
  async set(name: string, value: string): Promise<void> {
    assertSecretName(name);
    if (typeof value !== 'string') throw new UserError('must be a string', { field: 'value' });
    await this.#update((file) => {
      file[name] = this.#encrypt(name, value);
      return true;
    });
  }

  /** Removes the secret `name`; answers whether it existed. */
  async delete(name: string): Promise<boolean> {
    assertSecretName(name);
    return this.#update((file) => {
      if (!Object.hasOwn(file, name)) return false;
      delete file[name];
      return true;
    });
  }

  /** The names of all stored secrets, sorted. Values are not decrypted. */
  async listNames(): Promise<string[]> {
    return Object.keys(await this.#read()).sort();
  }

  #encrypt(name: string, value: string): EncryptedEntry {
    const iv = randomBytes(IV_BYTES);
    const cipher = createCipheriv('aes-256-gcm', this.#key, iv, { authTagLength: TAG_BYTES });
    cipher.setAAD(Buffer.from(name, 'utf8'));
    const data = Buffer.concat([cipher.update(value, 'utf8'), cipher.final()]);
    return {
      iv: iv.toString('base64'),
      tag: cipher.getAuthTag().toString('base64'),
      data: data.toString('base64'),
    };
  }

  #decrypt(name: string, entry: EncryptedEntry): string {
    try {
      const iv = Buffer.from(entry.iv, 'base64');
      const tag = Buffer.from(entry.tag, 'base64');
      if (iv.length !== IV_BYTES || tag.length !== TAG_BYTES) throw new Error('bad iv or tag length');
      const decipher = createDecipheriv('aes-256-gcm', this.#key, iv, { authTagLength: TAG_BYTES });
      decipher.setAAD(Buffer.from(name, 'utf8'));
      decipher.setAuthTag(tag);
      return Buffer.concat([decipher.update(Buffer.from(entry.data, 'base64')), decipher.final()]).toString(
        'utf8',
      );
    } catch {
      // The cause is deliberately dropped: nothing derived from the ciphertext or key goes into the error.
      throw new SystemError(
        `cannot decrypt secret '${name}': the master key is wrong or ${this.#path} was tampered with`,
        { code: 'secret_decrypt_failed' },
      );
    }
  }

  async #read(): Promise<SecretsFile> {
    let text: string;
    try {
      text = await readFile(this.#path, 'utf8');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return {};
      throw new SystemError(`cannot read the secrets file ${this.#path}`, {
        cause: error,
        code: 'secret_store_failed',
      });
    }
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch {
      parsed = undefined;
    }
    if (!isSecretsFile(parsed)) {
      throw new SystemError(`the secrets file ${this.#path} is corrupt or was tampered with`, {
        code: 'secret_store_corrupt',
      });
    }
    return parsed;
  }

  /** Read-modify-write under the in-process queue; `change` answers whether it changed anything. */
  #update(change: (file: SecretsFile) => boolean): Promise<boolean> {
    const run = this.#queue.then(async () => {
      const file = await this.#read();
      if (!change(file)) return false;
      await writeAtomically(this.#path, `${JSON.stringify(file, null, 2)}\n`);
      return true;
    });
    this.#queue = run.catch(() => undefined);
    return run;
  }
}

function isSecretsFile(value: unknown): value is SecretsFile {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return false;
  return Object.values(value as Record<string, unknown>).every(
    (entry) =>
      typeof entry === 'object' &&
      entry !== null &&
      typeof (entry as EncryptedEntry).iv === 'string' &&
      typeof (entry as EncryptedEntry).tag === 'string' &&
      typeof (entry as EncryptedEntry).data === 'string',
  );
}

/** Writes `text` to a 0600 temporary file beside `path`, flushes it, then renames it over `path`. */
async function writeAtomically(path: string, text: string): Promise<void> {
  const temp = `${path}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`;
  try {
    const handle = await open(temp, 'wx', 0o600);
    try {
      await handle.writeFile(text, 'utf8');
      await handle.sync();
    } finally {
      await handle.close();
    }
    await rename(temp, path);
  } catch (error) {
    await rm(temp, { force: true });
    throw new SystemError(`cannot write the secrets file ${path}`, {
      cause: error,
      code: 'secret_store_failed',
    });
  }
}

function decodeKey(text: string, field: string): Buffer {
  const trimmed = text.trim();
  const key = Buffer.from(trimmed, 'base64');
  if (key.length !== KEY_BYTES || !/^[A-Za-z0-9+/]+={0,2}$/.test(trimmed)) {
    throw new UserError(`must be the base64 encoding of ${KEY_BYTES} bytes`, {
      field,
      code: 'invalid_master_key',
    });
  }
  return key;
}

async function loadMasterKey(dataDir: string, env: Record<string, string | undefined>): Promise<Buffer> {
  const fromEnv = env.AOS_MASTER_KEY;
  if (fromEnv !== undefined && fromEnv !== '') return decodeKey(fromEnv, 'AOS_MASTER_KEY');
  const keyPath = join(dataDir, 'master.key');
  try {
    return decodeKey(await readFile(keyPath, 'utf8'), keyPath);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') {
      if (error instanceof UserError) throw error;
      throw new SystemError(`cannot read the master key ${keyPath}`, {
        cause: error,
        code: 'secret_store_failed',
      });
    }
  }
  const key = randomBytes(KEY_BYTES);
  const temp = `${keyPath}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`;
  try {
    const handle = await open(temp, 'wx', 0o600);
    try {
      await handle.writeFile(`${key.toString('base64')}\n`, 'utf8');
      await handle.sync();
    } finally {
      await handle.close();
    }
    // link() fails if another process created the key meanwhile (then that key wins), and never exposes a
    // half-written key file the way an exclusive create followed by a write would.
    await link(temp, keyPath);
    return key;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'EEXIST')
      return decodeKey(await readFile(keyPath, 'utf8'), keyPath);
    throw new SystemError(`cannot create the master key ${keyPath}`, {
      cause: error,
      code: 'secret_store_failed',
    });
  } finally {
    await rm(temp, { force: true });
  }
}
