import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { openStore } from '@autonomy-os/core';
import type { Store, StoreOptions } from '@autonomy-os/core';

/** The PostgreSQL URL tests use, when configured. */
export const PG_URL = process.env.AOS_TEST_DATABASE_URL;

/** A store under test plus what a test needs to reach its database directly. */
export interface TestStore {
  store: Store;
  dataDir: string;
  /** PostgreSQL schema, when on PostgreSQL. */
  schema?: string;
  /** Opens another store on the same database (a second node or process view). */
  reopen(): Promise<Store>;
  /** Runs raw SQL as an attacker with direct database access would. */
  raw(sql: string, params?: unknown[]): Promise<unknown[]>;
  cleanup(): Promise<void>;
}

/** One storage backend the conformance suites run against. */
export interface Backend {
  name: 'sqlite' | 'postgres';
  enabled: boolean;
  create(): Promise<TestStore>;
}

function tempDir(): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), 'aos-test-'));
}

/** SQLite in a temporary data directory; `options` go to every openStore. */
export function sqliteBackend(options: Omit<StoreOptions, 'dataDir'> = {}): Backend {
  return {
    name: 'sqlite',
    enabled: true,
    async create() {
      const dataDir = tempDir();
      const store = await openStore({ ...options, dataDir });
      const { default: Database } = await import('better-sqlite3');
      return {
        store,
        dataDir,
        reopen: () => openStore({ ...options, dataDir }),
        async raw(sql, params = []) {
          const db = new Database(path.join(dataDir, 'aos.db'));
          try {
            const stmt = db.prepare(sql);
            return stmt.reader ? stmt.all(...params) : [stmt.run(...params)];
          } finally {
            db.close();
          }
        },
        async cleanup() {
          await store.close();
          fs.rmSync(dataDir, { recursive: true, force: true });
        },
      };
    },
  };
}

const sqlite = sqliteBackend();

/** PostgreSQL in a schema of its own; `options` go to every openStore. */
export function postgresBackend(
  options: Omit<StoreOptions, 'dataDir' | 'databaseUrl' | 'schema'> = {},
): Backend {
  return {
    name: 'postgres',
    enabled: !!PG_URL,
    async create() {
      const dataDir = tempDir();
      const schema = `aos_t_${crypto.randomBytes(6).toString('hex')}`;
      const store = await openStore({ ...options, dataDir, databaseUrl: PG_URL, schema });
      const client = new pg.Client({ connectionString: PG_URL, options: `-c search_path=${schema}` });
      await client.connect();
      return {
        store,
        dataDir,
        schema,
        reopen: () => openStore({ ...options, dataDir, databaseUrl: PG_URL, schema }),
        async raw(sql, params = []) {
          let n = 0;
          const res = await client.query(
            sql.replace(/\?/g, () => `$${++n}`),
            params,
          );
          return res.rows;
        },
        async cleanup() {
          await store.close();
          await client.query(`DROP SCHEMA ${schema} CASCADE`);
          await client.end();
          fs.rmSync(dataDir, { recursive: true, force: true });
        },
      };
    },
  };
}

const postgres = postgresBackend();

/** Both backends; the PostgreSQL one is skipped (and said so by the global setup) without AOS_TEST_DATABASE_URL. */
export const backends: Backend[] = [sqlite, postgres];

/** Removes the append-only triggers, as an attacker with raw database access would before editing the log. */
export async function dropAuditTriggers(t: TestStore): Promise<void> {
  if (t.schema) {
    await t.raw('DROP TRIGGER audit_log_no_update ON audit_log');
  } else {
    await t.raw('DROP TRIGGER audit_log_no_update');
    await t.raw('DROP TRIGGER audit_log_no_delete');
  }
}
