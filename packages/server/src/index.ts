/**
 * @autonomy-os/server — the HTTP front (REST API, OpenAPI; MCP, SSE and metrics in later issues). Anything exported
 * here is public API.
 */
export { buildServer } from './server.js';
export type { AosServer, ServerOptions, ServerRoute } from './server.js';
export { toHttpError } from './errors.js';
export type { ErrorBody } from './errors.js';
export { openApiDocument } from './openapi.js';
