import {
  AosError,
  AuthenticationError,
  ConflictError,
  ForbiddenError,
  NotFoundError,
  UserError,
} from '@autonomy-os/core';

/**
 * A source address failed authentication too often in the current window: refused (429) before its credentials are
 * looked at, until the window ends.
 */
export class TooManyFailuresError extends AosError {
  constructor(readonly retryAfterSec: number) {
    super(
      'too_many_failures',
      `too many failed authentications from this address; retry in ${retryAfterSec}s`,
    );
  }
}

/** The JSON body of every error answer. */
export interface ErrorBody {
  error: { code: string; message: string; field?: string };
}

/**
 * The one place engine errors become HTTP answers. Authentication failures all look alike to the caller (401 with
 * a generic message) so the answer does not help probe which tokens exist; the reason goes to the server log.
 */
export function toHttpError(err: unknown): {
  status: number;
  body: ErrorBody;
  headers?: Record<string, string>;
} {
  if (err instanceof TooManyFailuresError) {
    return {
      status: 429,
      body: { error: { code: err.code, message: err.message } },
      headers: { 'retry-after': String(err.retryAfterSec) },
    };
  }
  if (err instanceof AuthenticationError && err.field === 'X-Aos-Signature') {
    // A webhook proves itself with a signature, not a bearer token: say so, and offer no Bearer challenge.
    return {
      status: 401,
      body: {
        error: {
          code: err.code,
          message:
            'authentication required: a valid X-Aos-Signature over X-Aos-Timestamp, X-Aos-Delivery and the body, within the tolerance',
          field: 'X-Aos-Signature',
        },
      },
    };
  }
  if (err instanceof AuthenticationError) {
    return {
      status: 401,
      body: { error: { code: err.code, message: 'authentication required: a valid bearer token' } },
      headers: { 'www-authenticate': 'Bearer realm="aos"' },
    };
  }
  if (err instanceof ForbiddenError) return { status: 403, body: wire(err) };
  if (err instanceof NotFoundError) return { status: 404, body: wire(err) };
  if (err instanceof ConflictError) return { status: 409, body: wire(err) };
  if (err instanceof UserError) return { status: 400, body: wire(err) };
  if (err instanceof AosError) return { status: 503, body: wire(err) };
  // Fastify's own errors (bad JSON, body too large, unsupported media type) carry a statusCode.
  const fe = err as { statusCode?: number; code?: string; message?: string };
  if (typeof fe.statusCode === 'number' && fe.statusCode >= 400 && fe.statusCode < 500) {
    return {
      status: fe.statusCode,
      body: {
        error: { code: String(fe.code ?? 'bad_request').toLowerCase(), message: fe.message ?? 'bad request' },
      },
    };
  }
  return { status: 500, body: { error: { code: 'internal_error', message: 'internal error' } } };
}

function wire(err: AosError): ErrorBody {
  return { error: { code: err.code, message: err.message, ...(err.field ? { field: err.field } : {}) } };
}
