import { createParser } from 'eventsource-parser';
import { AosApiError } from './errors.js';
import type { AosEvent } from './console-types.js';

/** Options for {@link streamEvents}. */
export interface EventStreamOptions {
  /** Event types or prefixes to keep (`action`, `approval.requested`); all when absent. */
  types?: string[];
  /** Ends the stream. */
  signal?: AbortSignal;
  /** Called once the server has answered and is sending events: every change from then on is delivered. */
  onOpen?: () => void;
}

/** What {@link streamEvents} needs from the client. */
export interface EventStreamSource {
  url: string;
  token: string;
  fetch: typeof fetch;
}

/**
 * Reads `GET /v1/events` (Server-Sent Events) with `fetch`, so it can send the bearer token a browser `EventSource`
 * cannot, and yields each event as it arrives. Ends when the server closes the stream or `signal` aborts; the
 * caller decides whether to reconnect.
 */
export async function* streamEvents(
  source: EventStreamSource,
  options: EventStreamOptions = {},
): AsyncGenerator<AosEvent> {
  const q = options.types?.length ? `?types=${encodeURIComponent(options.types.join(','))}` : '';
  const res = await source.fetch(`${source.url}/v1/events${q}`, {
    headers: { authorization: `Bearer ${source.token}`, accept: 'text/event-stream' },
    ...(options.signal ? { signal: options.signal } : {}),
  });
  if (!res.ok || !res.body) {
    let body: unknown;
    try {
      body = await res.json();
    } catch {
      body = undefined;
    }
    throw new AosApiError(res.status, body as never);
  }
  options.onOpen?.();
  const queue: AosEvent[] = [];
  const parser = createParser({
    onEvent(e) {
      try {
        queue.push(JSON.parse(e.data) as AosEvent);
      } catch {
        // A frame that is not JSON is not an event of ours; the stream goes on.
      }
    },
  });
  const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
  try {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return;
      parser.feed(value);
      while (queue.length) yield queue.shift() as AosEvent;
    }
  } finally {
    // Cancelling the reader cancels the piped body too, so the connection closes when the caller stops reading.
    await reader.cancel().catch(() => undefined);
  }
}
