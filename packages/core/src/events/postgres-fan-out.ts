import crypto from 'node:crypto';
import type pg from 'pg';
import type { PostgresDb } from '../store/postgres-db.js';
import type { AosEvent, EventBus } from './event-bus.js';

/** The PostgreSQL channel events travel on (a deployment in the database's default schema). */
export const EVENT_CHANNEL = 'aos_events';

/**
 * The channel of the deployment in `schema`: NOTIFY channels are per database, not per schema, so each schema gets
 * its own (a hash keeps the name a valid identifier of at most 63 bytes). Without a schema: {@link EVENT_CHANNEL}.
 */
export function eventChannel(schema: string | undefined): string {
  if (!schema) return EVENT_CHANNEL;
  return `${EVENT_CHANNEL}_${crypto.createHash('sha256').update(schema).digest('hex').slice(0, 24)}`;
}

/** NOTIFY payloads must stay under 8,000 bytes; larger events travel without their data. */
const MAX_PAYLOAD = 7500;

/**
 * How long an event waits for others before its NOTIFY leaves: the events of that window go in one round trip. A
 * governed call publishes two events a few milliseconds apart (decided, then its outcome), and each NOTIFY costs a
 * round trip and wakes every listening node, this one too; other nodes' live views see events this much later.
 */
export const NOTIFY_WINDOW_MS = 10;

/**
 * Carries events between nodes that share one PostgreSQL database: this node's events are sent with NOTIFY, and
 * other nodes' events arrive by LISTEN on a dedicated connection and are delivered locally. Best effort: the audit
 * log is the record; this is the live view. Answers the stop function.
 */
export async function fanOutOverPostgres(
  db: PostgresDb,
  bus: EventBus,
  nodeId: string,
  onError: (err: unknown) => void = () => undefined,
): Promise<() => Promise<void>> {
  const channel = eventChannel(db.schema);
  const listener: pg.PoolClient = await db.pool.connect();
  await listener.query(`LISTEN ${channel}`);
  listener.on('notification', (msg) => {
    if (msg.channel !== channel || !msg.payload) return;
    try {
      const { node, event } = JSON.parse(msg.payload) as { node: string; event: AosEvent };
      if (node !== nodeId) bus.deliver(event);
    } catch (err) {
      // Someone else's payload on our channel, or a truncated one: dropped from the live view, and said so.
      onError(err);
    }
  });
  // One NOTIFY round trip after the other: sent concurrently on pooled connections they could commit, hence arrive,
  // out of order, and a run's events must reach other nodes' streams in the order they happened. Events published
  // while one is in flight go together in the next, in order (one transaction delivers its notifications in the
  // order they were sent), as do those published within NOTIFY_WINDOW_MS of the first; each carries its number, as
  // PostgreSQL folds identical payloads of one transaction.
  let sending = false;
  let queued: string[] = [];
  let sent = 0;
  let waiting: NodeJS.Timeout | undefined;
  const flush = (): void => {
    waiting = undefined;
    if (sending || !queued.length) return;
    sending = true;
    const batch = queued;
    queued = [];
    db.pool
      .query('SELECT pg_notify($1, p) FROM unnest($2::text[]) WITH ORDINALITY AS b (p, n) ORDER BY n', [
        channel,
        batch,
      ])
      .catch(onError)
      .finally(() => {
        sending = false;
        flush();
      });
  };
  const stopForwarding = bus.forward((event) => {
    const n = ++sent;
    let payload = JSON.stringify({ node: nodeId, n, event });
    if (payload.length > MAX_PAYLOAD)
      payload = JSON.stringify({ node: nodeId, n, event: { ...event, data: { truncated: true } } });
    queued.push(payload);
    // The first event of a window starts its wait; while a NOTIFY is in flight, its end sends what queued.
    if (!waiting && !sending) {
      waiting = setTimeout(flush, NOTIFY_WINDOW_MS);
      waiting.unref();
    }
  });
  let stopped = false;
  return async () => {
    // Idempotent: an engine may be closed more than once (crash simulations in tests, shutdown races).
    if (stopped) return;
    stopped = true;
    stopForwarding();
    // What waits for its window leaves now.
    if (waiting) {
      clearTimeout(waiting);
      flush();
    }
    await listener.query(`UNLISTEN ${channel}`).catch(() => undefined);
    listener.release();
  };
}
