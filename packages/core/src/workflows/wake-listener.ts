import type pg from 'pg';
import type { PostgresDb } from '../store/postgres-db.js';

/**
 * Listens on the schema's wake channel (PostgreSQL): a trigger NOTIFYs it when a run is started or an outside event
 * wakes one (migration 5), so an idle node ticks at once instead of at its next interval. Notifications are best
 * effort; the interval tick stays the backstop. Answers the stop function.
 */
export async function listenForWakes(
  db: PostgresDb,
  onWake: () => void,
  onError: (err: unknown) => void,
): Promise<() => Promise<void>> {
  const listener: pg.PoolClient = await db.pool.connect();
  // The channel the trigger computes from the same schema (NOTIFY channels are per database, not per schema).
  const { rows } = await listener.query<{ channel: string }>(
    "SELECT 'aos_wake_' || substr(md5(current_schema()), 1, 24) AS channel",
  );
  const channel = (rows[0] as { channel: string }).channel;
  await listener.query(`LISTEN ${channel}`);
  listener.on('notification', (msg) => {
    if (msg.channel === channel) onWake();
  });
  listener.on('error', onError);
  let stopped = false;
  return async () => {
    if (stopped) return;
    stopped = true;
    await listener.query(`UNLISTEN ${channel}`).catch(() => undefined);
    listener.release();
  };
}
