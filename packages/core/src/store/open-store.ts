import fs from 'node:fs';
import path from 'node:path';
import { AuditLog } from '../audit/audit-log.js';
import { loadSigningKey } from '../audit/checkpoint.js';
import type { SigningKey } from '../audit/checkpoint.js';
import type { ParallelVerifyOptions } from '../audit/parallel-verify.js';
import { UserError } from '../errors.js';
import { AgentRegistry } from '../identity/agents.js';
import { HumanDirectory } from '../identity/humans.js';
import { TokenService } from '../identity/tokens.js';
import type { Db } from './db.js';
import { migrate } from './migrations.js';
import { PostgresDb } from './postgres-db.js';
import { SqliteDb } from './sqlite-db.js';

/** Where state lives. */
export interface StoreOptions {
  /** Data directory: the SQLite file and the audit signing key. Default `./.aos`. */
  dataDir: string;
  /** `postgres://…` to use PostgreSQL instead of the embedded SQLite file. */
  databaseUrl?: string | undefined;
  /** PostgreSQL schema (tests and tenants). */
  schema?: string | undefined;
  /** PostgreSQL pool size. */
  poolSize?: number | undefined;
  /** PostgreSQL group commit (see `PostgresDbOptions.groupCommit`). Default `true`. */
  groupCommit?: boolean | undefined;
  /** How audit verification spreads over worker threads (see `ParallelVerifyOptions`; PostgreSQL: opt-in). */
  auditVerify?: ParallelVerifyOptions | undefined;
}

/** The opened store: the database and the repositories built on it. */
export interface Store {
  readonly db: Db;
  readonly dataDir: string;
  readonly audit: AuditLog;
  readonly humans: HumanDirectory;
  readonly agents: AgentRegistry;
  readonly tokens: TokenService;
  /** The audit signing key, created in the data directory on first use. */
  signingKey(): SigningKey;
  close(): Promise<void>;
}

/** File name of the embedded database inside the data directory. */
export const SQLITE_FILE = 'aos.db';

function checkDataDir(dataDir: string): void {
  try {
    fs.mkdirSync(dataDir, { recursive: true });
    fs.accessSync(dataDir, fs.constants.R_OK | fs.constants.W_OK | fs.constants.X_OK);
    if (!fs.statSync(dataDir).isDirectory())
      throw Object.assign(new Error('not a directory'), { code: 'ENOTDIR' });
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? 'error';
    throw new UserError(`cannot use data directory ${dataDir} (${code})`, { field: 'data' });
  }
}

/**
 * Opens the store — SQLite in the data directory, or PostgreSQL when a URL is given — and applies pending
 * migrations. Nothing else is written until a caller changes something.
 */
export async function openStore(options: StoreOptions): Promise<Store> {
  const dataDir = path.resolve(options.dataDir);
  checkDataDir(dataDir);
  const db: Db = options.databaseUrl
    ? await PostgresDb.connect({
        url: options.databaseUrl,
        ...(options.schema ? { schema: options.schema } : {}),
        ...(options.poolSize ? { poolSize: options.poolSize } : {}),
        ...(options.groupCommit !== undefined ? { groupCommit: options.groupCommit } : {}),
      })
    : new SqliteDb(path.join(dataDir, SQLITE_FILE));
  try {
    await migrate(db);
  } catch (err) {
    await db.close();
    throw err;
  }
  const audit = new AuditLog(db, options.auditVerify ? { verify: options.auditVerify } : {});
  const humans = new HumanDirectory(db, audit);
  const agents = new AgentRegistry(db, audit, humans);
  const tokens = new TokenService(db, audit, agents, humans);
  let key: SigningKey | undefined;
  return {
    db,
    dataDir,
    audit,
    humans,
    agents,
    tokens,
    signingKey() {
      key ??= loadSigningKey(dataDir, { create: true });
      return key as SigningKey;
    },
    close: () => db.close(),
  };
}
