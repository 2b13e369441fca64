/**
 * Secrets for upstream systems: stores and `${secret:NAME}` resolution. Values never reach agents, logs or errors.
 */
export type { SecretStore, EnvSecretStoreOptions, ResolveSecretRefsOptions } from './secret-store.js';
export {
  EnvSecretStore,
  ChainedSecretStore,
  resolveSecretRefs,
  secretRefNames,
  assertSecretName,
  SECRET_NAME_PATTERN,
} from './secret-store.js';
export type { EncryptedFileSecretStoreOptions } from './encrypted-file-secret-store.js';
export { EncryptedFileSecretStore } from './encrypted-file-secret-store.js';
