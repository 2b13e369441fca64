/**
 * @autonomy-os/server — the HTTP front (REST, and in later issues MCP, SSE, metrics). Anything exported here is
 * public API.
 */
export { buildServer } from './server.js';
export type { AosServer, ServerOptions } from './server.js';
export { toHttpError } from './errors.js';
export type { ErrorBody } from './errors.js';
