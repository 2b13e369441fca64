/**
 * Errors that say who is at fault. Every error the engine throws on purpose extends {@link AosError} and carries a
 * stable string `code`; fronts (HTTP, CLI, MCP) map them to their wire form in one place each.
 */
export class AosError extends Error {
  /** Stable machine-readable code, e.g. `invalid_input`. */
  readonly code: string;
  /** The input field or config path at fault, when there is one. */
  readonly field: string | undefined;

  constructor(code: string, message: string, options?: { field?: string; cause?: unknown }) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    this.code = code;
    this.field = options?.field;
  }
}

/** Bad input or configuration from the caller. */
export class UserError extends AosError {
  constructor(message: string, options?: { field?: string; code?: string; cause?: unknown }) {
    super(
      options?.code ?? 'invalid_input',
      options?.field ? `${options.field}: ${message}` : message,
      options,
    );
  }
}

/** The thing named does not exist. */
export class NotFoundError extends UserError {
  constructor(what: string, id: string, field?: string) {
    super(`unknown ${what} '${id}'`, { code: 'not_found', field: field ?? what });
  }
}

/** The request conflicts with current state (duplicate id, in-flight idempotency key, terminal status). */
export class ConflictError extends UserError {
  constructor(message: string, options?: { field?: string }) {
    super(message, { code: 'conflict', ...options });
  }
}

/** The caller could not be authenticated. Messages never echo the credential. */
export class AuthenticationError extends AosError {
  /** `field`: the credential that was missing or wrong when it is not a bearer token (`X-Aos-Signature`). */
  constructor(message: string, options?: { field?: string }) {
    super('unauthenticated', message, options);
  }
}

/** The caller is authenticated but not allowed to do this. */
export class ForbiddenError extends AosError {
  constructor(message: string) {
    super('forbidden', message);
  }
}

/** Something inside the system failed (store, disk, upstream); the operation did not happen. */
export class SystemError extends AosError {
  constructor(message: string, options?: { cause?: unknown; code?: string }) {
    super(options?.code ?? 'system_error', message, options);
  }
}
