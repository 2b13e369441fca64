#!/usr/bin/env node
// The demo's feature-flag service: a stand-in for a remote flag SaaS (outside the product), with its own SQLite
// database: flags per environment and every change in `changes`. Every request is logged in `requests`.
//   node flags.mjs [port] [db-file]     (FLAGS_API_KEY, default "sk_demo_flags_00000000000000000")
//   sqlite3 .aos-demo/upstreams/flags.db 'SELECT * FROM changes'
import { fileURLToPath } from 'node:url';
import { openApiDocument, openUpstreamDb, operation, serveUpstream } from './http-upstream.mjs';

const SCHEMA = `
CREATE TABLE IF NOT EXISTS flags (
  environment TEXT NOT NULL, flag TEXT NOT NULL, enabled INTEGER NOT NULL, rollout INTEGER NOT NULL,
  updated_at TEXT NOT NULL, PRIMARY KEY (environment, flag)
);
CREATE TABLE IF NOT EXISTS changes (
  id INTEGER PRIMARY KEY AUTOINCREMENT, environment TEXT NOT NULL, flag TEXT NOT NULL, enabled INTEGER NOT NULL,
  rollout INTEGER NOT NULL, previous_enabled INTEGER, previous_rollout INTEGER, at TEXT NOT NULL
);`;

const ENVIRONMENTS = new Set(['dev', 'staging', 'production']);

/** The OpenAPI document the service serves at /openapi.json. */
export const FLAGS_OPENAPI = openApiDocument('Demo feature flags', {
  '/environments/{environment}/flags/{flag}': {
    get: operation('get_flag', 'Read a flag in an environment', { params: ['environment', 'flag'] }),
    put: operation('set_flag', 'Change a flag in an environment', {
      params: ['environment', 'flag'],
      body: {
        type: 'object',
        properties: { enabled: { type: 'boolean' }, rollout: { type: 'integer', minimum: 0, maximum: 100 } },
        required: ['enabled'],
      },
    }),
  },
});

/**
 * Starts the flag service on 127.0.0.1 (`port` 0 picks a free one) with its database in `dbFile`.
 * @returns {Promise<{ url: string, db: import('better-sqlite3').Database, close: () => Promise<void> }>}
 */
export async function startFlags({ dbFile, apiKey, port = 0 }) {
  const db = openUpstreamDb(dbFile, SCHEMA);
  const q = {
    get: db.prepare('SELECT * FROM flags WHERE environment = ? AND flag = ?'),
    set: db.prepare(
      `INSERT INTO flags (environment, flag, enabled, rollout, updated_at) VALUES (?, ?, ?, ?, ?)
       ON CONFLICT (environment, flag) DO UPDATE SET enabled = excluded.enabled, rollout = excluded.rollout,
       updated_at = excluded.updated_at`,
    ),
    change: db.prepare(
      `INSERT INTO changes (environment, flag, enabled, rollout, previous_enabled, previous_rollout, at)
       VALUES (?, ?, ?, ?, ?, ?, ?)`,
    ),
  };
  const view = (row, environment, flag) =>
    row
      ? { environment, flag, enabled: !!row.enabled, rollout: row.rollout }
      : { environment, flag, enabled: false, rollout: 0 };
  const route = (req, url, body) => {
    const m = /^\/environments\/([^/]+)\/flags\/([^/]+)$/.exec(url.pathname);
    if (!m) return undefined;
    const environment = decodeURIComponent(m[1]);
    const flag = decodeURIComponent(m[2]);
    if (!ENVIRONMENTS.has(environment)) return [404, { error: `no environment ${environment}` }];
    const row = q.get.get(environment, flag);
    if (req.method === 'GET') return [200, view(row, environment, flag)];
    if (req.method !== 'PUT') return undefined;
    if (typeof body.enabled !== 'boolean') return [400, { error: 'enabled must be a boolean' }];
    const rollout = body.rollout ?? 100;
    if (!Number.isInteger(rollout) || rollout < 0 || rollout > 100)
      return [400, { error: 'rollout must be 0-100' }];
    const at = new Date().toISOString();
    q.set.run(environment, flag, body.enabled ? 1 : 0, rollout, at);
    q.change.run(
      environment,
      flag,
      body.enabled ? 1 : 0,
      rollout,
      row?.enabled ?? null,
      row?.rollout ?? null,
      at,
    );
    return [
      200,
      { ...view(q.get.get(environment, flag), environment, flag), previous: view(row, environment, flag) },
    ];
  };
  const served = await serveUpstream({ db, apiKey, openapi: FLAGS_OPENAPI, route, port });
  return {
    url: served.url,
    db,
    async close() {
      await served.close();
      db.close();
    },
  };
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const flags = await startFlags({
    port: Number(process.argv[2] ?? 7442),
    dbFile: process.argv[3] ?? 'flags.db',
    apiKey: process.env.FLAGS_API_KEY ?? 'sk_demo_flags_00000000000000000',
  });
  process.stdout.write(`feature-flag upstream on ${flags.url} (OpenAPI: ${flags.url}/openapi.json)\n`);
}
