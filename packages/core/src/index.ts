/**
 * @autonomy-os/core — the engine. Anything exported here is public API.
 */
export { AosError, UserError, NotFoundError, ConflictError, AuthenticationError, ForbiddenError, SystemError } from './errors.js';
export type { Db, Dialect, Executor, SqlValue } from './store/db.js';
export { SqliteDb } from './store/sqlite-db.js';
export { PostgresDb } from './store/postgres-db.js';
export type { PostgresDbOptions } from './store/postgres-db.js';
export { migrate, migrations } from './store/migrations.js';
export type { Migration } from './store/migrations.js';
export { canonicalJson, sha256Hex, hashJson } from './crypto/canonical-json.js';
