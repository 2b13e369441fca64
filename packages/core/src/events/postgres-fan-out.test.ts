import crypto from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import { PG_URL } from '../../../../test/helpers/backends.js';
import { PostgresDb } from '../store/postgres-db.js';
import { EventBus } from './event-bus.js';
import type { AosEvent } from './event-bus.js';
import { eventChannel, fanOutOverPostgres } from './postgres-fan-out.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe.skipIf(!PG_URL)('event fan-out over PostgreSQL', () => {
  const cleanups: (() => Promise<void>)[] = [];
  afterEach(async () => {
    for (const c of cleanups.splice(0).reverse()) await c();
  });

  /** A node: its own pool on `schema`, its own bus, LISTENing; answers the events it received from others. */
  const node = async (schema: string, id: string) => {
    const db = await PostgresDb.connect({ url: PG_URL as string, schema, poolSize: 2 });
    const notifies: number[] = [];
    const query = db.pool.query.bind(db.pool) as (...args: unknown[]) => Promise<unknown>;
    (db.pool as unknown as { query: unknown }).query = (...args: unknown[]) => {
      if (typeof args[0] === 'string' && args[0].includes('pg_notify'))
        notifies.push((args[1] as unknown[][])[1]?.length ?? 0);
      return query(...args);
    };
    const bus = new EventBus();
    const stop = await fanOutOverPostgres(db, bus, id);
    const received: AosEvent[] = [];
    bus.subscribe((e) => received.push(e));
    cleanups.push(async () => {
      await stop();
      await db.pool.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`).catch(() => undefined);
      await db.close();
    });
    return { bus, received, notifies };
  };

  // Regression: every schema shared one channel, so two deployments (or test suites) on one database saw each
  // other's live events.
  it("carries events to the nodes of the same schema only, never to another schema's", async () => {
    const tag = crypto.randomBytes(4).toString('hex');
    const a1 = await node(`fan_a_${tag}`, 'a1');
    const a2 = await node(`fan_a_${tag}`, 'a2');
    const b1 = await node(`fan_b_${tag}`, 'b1');
    a1.bus.publish('run.started', { runId: `run_${tag}` });
    for (let i = 0; i < 100 && !a2.received.length; i++) await sleep(20);
    await sleep(200); // a stray NOTIFY to the other schema would have arrived by now
    expect(a2.received.map((e) => e.type)).toEqual(['run.started']);
    expect(b1.received).toEqual([]);
    expect(eventChannel(`fan_a_${tag}`)).not.toBe(eventChannel(`fan_b_${tag}`));
    expect(eventChannel(undefined)).toBe('aos_events');
  });

  it('sends the events published within a few milliseconds of one another in one NOTIFY, in order', async () => {
    const tag = crypto.randomBytes(4).toString('hex');
    const a1 = await node(`fan_w_${tag}`, 'a1');
    const a2 = await node(`fan_w_${tag}`, 'a2');
    // As a governed call does: decided, then its outcome a few milliseconds later; the same payload twice too.
    a1.bus.publish('action.executing', { actionId: 'act_1' });
    await sleep(2);
    a1.bus.publish('action.succeeded', { actionId: 'act_1' });
    a1.bus.publish('action.succeeded', { actionId: 'act_1' });
    for (let i = 0; i < 100 && a2.received.length < 3; i++) await sleep(20);
    expect(a2.received.map((e) => e.type)).toEqual([
      'action.executing',
      'action.succeeded',
      'action.succeeded',
    ]);
    expect(a1.notifies).toEqual([3]);
    // A later event: a NOTIFY of its own.
    a1.bus.publish('run.started', { runId: 'run_1' });
    for (let i = 0; i < 100 && a2.received.length < 4; i++) await sleep(20);
    expect(a2.received.at(-1)?.type).toBe('run.started');
    expect(a1.notifies).toEqual([3, 1]);
  });
});
