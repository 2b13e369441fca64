/**
 * @autonomy-os/core — the engine: store, identity, audit (and, in later issues, policy, approvals, pipeline,
 * connectors, workflows). Anything exported here is public API.
 */
export {
  AosError,
  UserError,
  NotFoundError,
  ConflictError,
  AuthenticationError,
  ForbiddenError,
  SystemError,
} from './errors.js';
export { parseInput } from './validation.js';
export { canonicalJson, sha256Hex, hashJson } from './crypto/canonical-json.js';

export type { Db, Dialect, Executor, SqlValue } from './store/db.js';
export { SqliteDb } from './store/sqlite-db.js';
export { PostgresDb } from './store/postgres-db.js';
export type { PostgresDbOptions } from './store/postgres-db.js';
export { migrate, migrations } from './store/migrations.js';
export type { Migration } from './store/migrations.js';
export { openStore, SQLITE_FILE } from './store/open-store.js';
export type { Store, StoreOptions } from './store/open-store.js';

export { AgentRegistry, createAgentSchema } from './identity/agents.js';
export type { Agent, AgentStatus, Tier, CreateAgentInput } from './identity/agents.js';
export { HumanDirectory, addHumanSchema } from './identity/humans.js';
export type { Human, AddHumanInput } from './identity/humans.js';
export { TokenService, TOKEN_PATTERN, parseExpiry } from './identity/tokens.js';
export type { TokenInfo, SubjectType, IssueTokenInput } from './identity/tokens.js';
export { OidcVerifier } from './identity/oidc.js';
export type { OidcOptions, VerifiedJwt } from './identity/oidc.js';
export { Authenticator, actorOf } from './identity/authenticate.js';
export type { Principal } from './identity/authenticate.js';
export { idSchema, groupSchema } from './identity/ids.js';

export { AuditLog, verifyRecords } from './audit/audit-log.js';
export type { AuditEvent, AuditVerifyReport } from './audit/audit-log.js';
export { ChainVerifier, MerkleAccumulator, recordHash, GENESIS_HASH } from './audit/chain.js';
export type { AuditRecord, ChainProblem } from './audit/chain.js';
export {
  signCheckpoint,
  checkCheckpointSignature,
  parseCheckpoint,
  loadSigningKey,
  SIGNING_KEY_FILE,
} from './audit/checkpoint.js';
export type { Checkpoint, SigningKey } from './audit/checkpoint.js';
export { exportBundle, verifyBundle } from './audit/bundle.js';
export type { AuditBundle } from './audit/bundle.js';
export {
  leafHash,
  nodeHash,
  merkleRoot,
  rootFromLeafHashes,
  inclusionProof,
  verifyInclusion,
  consistencyProof,
  verifyConsistency,
} from './audit/merkle.js';
export { redactSecrets, REDACTED } from './audit/redact.js';
export { configSchema, configJsonSchema, parseConfig, loadConfigFile } from './config/config.js';
export type { AosConfig } from './config/config.js';

export type {
  CallToolOptions,
  Connector,
  ToolAnnotations,
  ToolDefinition,
  ToolMetadata,
  ToolResult,
  Clock,
  CircuitBreakerOptions,
  CircuitState,
  WithTimeoutOptions,
  McpConnectorConfig,
  McpConnectorOptions,
  McpHttpConfig,
  McpStdioConfig,
  HttpConnectorConfig,
  HttpConnectorOptions,
  HttpMethod,
  HttpOperation,
} from './connectors/index.js';
export {
  definitionHash,
  metadataFromAnnotations,
  CircuitBreaker,
  systemClock,
  withTimeout,
  McpConnector,
  HttpConnector,
} from './connectors/index.js';
export type {
  SecretStore,
  EnvSecretStoreOptions,
  ResolveSecretRefsOptions,
  EncryptedFileSecretStoreOptions,
} from './secrets/index.js';
export {
  EnvSecretStore,
  ChainedSecretStore,
  resolveSecretRefs,
  secretRefNames,
  assertSecretName,
  SECRET_NAME_PATTERN,
  EncryptedFileSecretStore,
} from './secrets/index.js';
