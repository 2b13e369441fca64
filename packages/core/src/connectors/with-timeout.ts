import { SystemError } from '../errors.js';

/** Options for {@link withTimeout}. */
export interface WithTimeoutOptions {
  /** Milliseconds to wait before giving up; no limit when undefined. */
  timeoutMs?: number | undefined;
  /** The caller's cancellation signal. */
  signal?: AbortSignal | undefined;
  /** What is being waited for, used in error messages (for example `tool crm.refund`). */
  what?: string;
}

/**
 * Runs `run` with a signal that aborts when the timeout passes or the caller's signal aborts, and stops waiting at
 * that moment even if `run` ignores the signal.
 *
 * @throws SystemError code `timeout` after `timeoutMs`, code `aborted` when the caller's signal aborts.
 * @example await withTimeout((signal) => fetch(url, { signal }), { timeoutMs: 5000, what: 'refund API' })
 */
export function withTimeout<T>(
  run: (signal: AbortSignal) => Promise<T>,
  options: WithTimeoutOptions,
): Promise<T> {
  const what = options.what ?? 'operation';
  const { timeoutMs, signal } = options;
  if (timeoutMs !== undefined && (!Number.isFinite(timeoutMs) || timeoutMs <= 0)) {
    return Promise.reject(new SystemError(`${what}: timeout must be a positive number of milliseconds`));
  }
  if (signal?.aborted) return Promise.reject(abortedError(what, signal));
  const controller = new AbortController();
  return new Promise<T>((resolve, reject) => {
    let timer: ReturnType<typeof setTimeout> | undefined;
    const finish = (): void => {
      if (timer !== undefined) clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
    };
    const onAbort = (): void => {
      finish();
      const error = abortedError(what, signal);
      controller.abort(error);
      reject(error);
    };
    signal?.addEventListener('abort', onAbort, { once: true });
    if (timeoutMs !== undefined) {
      timer = setTimeout(() => {
        finish();
        const error = new SystemError(`${what} timed out after ${timeoutMs} ms`, { code: 'timeout' });
        controller.abort(error);
        reject(error);
      }, timeoutMs);
    }
    let started: Promise<T>;
    try {
      started = run(controller.signal);
    } catch (error) {
      finish();
      reject(error as Error);
      return;
    }
    started.then(
      (value) => {
        finish();
        resolve(value);
      },
      (error: unknown) => {
        finish();
        // Once aborted, the promise has already settled with the timeout or abort error; this is a no-op then.
        reject(error as Error);
      },
    );
  });
}

function abortedError(what: string, signal: AbortSignal | undefined): SystemError {
  return new SystemError(`${what} was cancelled`, { code: 'aborted', cause: signal?.reason });
}
