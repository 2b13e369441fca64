import { UserError } from '../errors.js';

/**
 * Where connectors get the credentials for upstream systems. Agents never see these values: a connector resolves
 * `${secret:NAME}` references in its own configuration at connect or call time.
 *
 * Implementations return `undefined` for a name they do not hold and throw only when the store itself fails.
 */
export interface SecretStore {
  /** The value of the secret `name`, or `undefined` when this store does not hold it. */
  get(name: string): Promise<string | undefined>;
}

/** A secret name: a letter or underscore, then letters, digits, `_`, `.` or `-` (at most 128 characters). */
export const SECRET_NAME_PATTERN = /^[A-Za-z_][A-Za-z0-9_.-]{0,127}$/;

/** Throws a {@link UserError} naming `field` unless `name` is a valid secret name. */
export function assertSecretName(name: string, field = 'name'): void {
  if (typeof name !== 'string' || !SECRET_NAME_PATTERN.test(name)) {
    throw new UserError('must be a secret name: a letter or _, then letters, digits, _, . or - (max 128)', {
      field,
    });
  }
}

/** Options for {@link EnvSecretStore}. */
export interface EnvSecretStoreOptions {
  /** The environment to read; defaults to `process.env`. */
  env?: Record<string, string | undefined>;
  /** Variable name prefix; defaults to `AOS_SECRET_`. */
  prefix?: string;
}

/**
 * Reads secrets from environment variables: secret `stripe-key` is `AOS_SECRET_STRIPE_KEY` (upper-cased, with every
 * character other than a letter or digit turned into `_`).
 *
 * @example new EnvSecretStore().get('crm_token') // process.env.AOS_SECRET_CRM_TOKEN
 */
export class EnvSecretStore implements SecretStore {
  readonly #env: Record<string, string | undefined>;
  readonly #prefix: string;

  constructor(options: EnvSecretStoreOptions = {}) {
    this.#env = options.env ?? process.env;
    this.#prefix = options.prefix ?? 'AOS_SECRET_';
  }

  /** The environment variable that holds the secret `name`. */
  variableName(name: string): string {
    return this.#prefix + name.toUpperCase().replace(/[^A-Z0-9]/g, '_');
  }

  get(name: string): Promise<string | undefined> {
    assertSecretName(name);
    return Promise.resolve(this.#env[this.variableName(name)]);
  }
}

/** Asks several stores in order; the first store that holds the secret wins. */
export class ChainedSecretStore implements SecretStore {
  readonly #stores: readonly SecretStore[];

  constructor(stores: readonly SecretStore[]) {
    this.#stores = [...stores];
  }

  async get(name: string): Promise<string | undefined> {
    for (const store of this.#stores) {
      const value = await store.get(name);
      if (value !== undefined) return value;
    }
    return undefined;
  }
}

/** Matches a `${secret:NAME}` reference. */
const SECRET_REF = /\$\{secret:([^}]*)\}/g;

/** The names of the secrets a template refers to, in order of first appearance. */
export function secretRefNames(template: string): string[] {
  const names = new Set<string>();
  for (const match of template.matchAll(SECRET_REF)) names.add(match[1] ?? '');
  return [...names];
}

/** Options for {@link resolveSecretRefs}. */
export interface ResolveSecretRefsOptions {
  /** The config path of the template, named in errors (for example `connectors.crm.headers.Authorization`). */
  field?: string;
}

/**
 * Replaces every `${secret:NAME}` in `template` with the secret's value from `store`. The replacement is a single
 * pass, so text inside a secret value is never itself resolved.
 *
 * @throws UserError (code `unknown_secret`) naming the secret, never a value, when the store does not hold it.
 * @example await resolveSecretRefs('Bearer ${secret:crm_token}', store) // 'Bearer abc…'
 */
export async function resolveSecretRefs(
  template: string,
  store: SecretStore,
  options: ResolveSecretRefsOptions = {},
): Promise<string> {
  const names = secretRefNames(template);
  if (names.length === 0) return template;
  const values = new Map<string, string>();
  for (const name of names) {
    assertSecretName(name, options.field ?? 'secret');
    const value = await store.get(name);
    if (value === undefined) {
      throw new UserError(`unknown secret '${name}'`, {
        code: 'unknown_secret',
        ...(options.field === undefined ? {} : { field: options.field }),
      });
    }
    values.set(name, value);
  }
  return template.replace(SECRET_REF, (_ref, name: string) => values.get(name) ?? '');
}
