/**
 * Connectors: how the control plane reaches upstream systems (MCP servers over stdio or Streamable HTTP, plain HTTP
 * operations, OpenAPI documents), with tool definitions pinned by hash, governance metadata from MCP annotations, timeouts and circuit
 * breakers. Secrets are injected here and never reach agents.
 */
export type {
  CallToolOptions,
  Connector,
  ToolAnnotations,
  ToolDefinition,
  ToolMetadata,
  ToolResult,
} from './types.js';
export { definitionHash } from './definition-hash.js';
export { metadataFromAnnotations } from './tool-metadata.js';
export type { Clock, CircuitBreakerOptions, CircuitState } from './circuit-breaker.js';
export { CircuitBreaker, systemClock } from './circuit-breaker.js';
export type { WithTimeoutOptions } from './with-timeout.js';
export { withTimeout } from './with-timeout.js';
export type {
  McpConnectorConfig,
  McpConnectorOptions,
  McpHttpConfig,
  McpStdioConfig,
} from './mcp-connector.js';
export { McpConnector } from './mcp-connector.js';
export type {
  HttpConnectorConfig,
  HttpConnectorOptions,
  HttpCredentials,
  HttpMethod,
  HttpOperation,
} from './http-connector.js';
export { HttpConnector, httpToolDefinition } from './http-connector.js';
export type { UpstreamPoolOptions } from './upstream-pool.js';
export { UpstreamPool } from './upstream-pool.js';
export type { OpenApiConnectorConfig, OpenApiConnectorOptions } from './openapi-connector.js';
export { OpenApiConnector } from './openapi-connector.js';
export type { OpenApiAuthConfig } from './openapi-auth.js';
export type { OpenApiOperationOverride, OpenApiSelection } from './openapi-operations.js';
export { INVALID_OPENAPI_DOCUMENT } from './openapi-document.js';
