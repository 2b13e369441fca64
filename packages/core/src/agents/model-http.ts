import type { SecretRedactor } from '../connectors/secret-redactor.js';
import { ModelApiError } from './model-client.js';

/** Options for {@link modelFetch}. */
export interface ModelFetchOptions {
  method?: 'GET' | 'POST';
  headers: Record<string, string>;
  body?: unknown;
  timeoutMs: number;
  signal?: AbortSignal | undefined;
  /** Values scrubbed from any message (the API key). */
  redactor: SecretRedactor;
}

/** The error message an OpenAI- or Anthropic-style error body carries, if any. */
function apiMessage(body: unknown): string | undefined {
  const err = (body as { error?: { message?: unknown } } | null)?.error;
  return typeof err?.message === 'string' ? err.message : undefined;
}

/**
 * Calls a model API and answers its JSON body. Every failure becomes a {@link ModelApiError} saying whether a retry
 * may help: a network error, a timeout, 408/409/429 and 5xx are retryable; 401/403 is a rejected key; another 4xx is
 * not retryable. Nothing in a message can carry the key.
 */
export async function modelFetch(url: string, options: ModelFetchOptions): Promise<unknown> {
  const timeout = AbortSignal.timeout(options.timeoutMs);
  const signal = options.signal ? AbortSignal.any([options.signal, timeout]) : timeout;
  const clean = (t: string) => options.redactor.redact(t).slice(0, 500);
  const where = new URL(url).origin;
  let res: Response;
  try {
    res = await fetch(url, {
      method: options.method ?? 'POST',
      headers: {
        accept: 'application/json',
        ...(options.body === undefined ? {} : { 'content-type': 'application/json' }),
        ...options.headers,
      },
      ...(options.body === undefined ? {} : { body: JSON.stringify(options.body) }),
      signal,
    });
  } catch (err) {
    if (timeout.aborted)
      throw new ModelApiError(
        'model_timeout',
        `the model API at ${where} did not answer within ${options.timeoutMs} ms`,
        {
          retryable: true,
        },
      );
    if (options.signal?.aborted)
      throw new ModelApiError('model_error', 'the model call was cancelled', { retryable: false });
    const cause = (err as { cause?: { code?: string } }).cause?.code ?? (err as Error).message;
    throw new ModelApiError(
      'model_unreachable',
      `cannot reach the model API at ${where} (${clean(String(cause))})`,
      {
        retryable: true,
      },
    );
  }
  let text: string;
  try {
    text = await res.text();
  } catch {
    throw new ModelApiError(
      timeout.aborted ? 'model_timeout' : 'model_unreachable',
      `the model API at ${where} broke off its answer`,
      { retryable: true, status: res.status },
    );
  }
  let body: unknown;
  try {
    body = text ? JSON.parse(text) : undefined;
  } catch {
    body = undefined;
  }
  if (!res.ok) {
    const detail = clean(apiMessage(body) ?? text.slice(0, 200));
    if (res.status === 401 || res.status === 403) {
      // Only the error's kind: OpenAI's message quotes part of the key it refused.
      const err = (body as { error?: { code?: unknown; type?: unknown } } | undefined)?.error;
      const kind = [err?.type, err?.code].filter((x) => typeof x === 'string').join('/') || 'unauthorized';
      throw new ModelApiError(
        'model_rejected_key',
        `the model API at ${where} rejected the key (${res.status} ${kind})`,
        {
          retryable: false,
          status: res.status,
        },
      );
    }
    const retryable = res.status === 408 || res.status === 409 || res.status === 429 || res.status >= 500;
    throw new ModelApiError('model_error', `the model API at ${where} answered ${res.status}: ${detail}`, {
      retryable,
      status: res.status,
    });
  }
  if (body === undefined)
    throw new ModelApiError(
      'model_bad_reply',
      `the model API at ${where} answered something that is not JSON`,
      {
        retryable: true,
        status: res.status,
      },
    );
  return body;
}
