import crypto from 'node:crypto';
import type { NotificationsConfig } from '../../config/alerting-config.js';
import type { AosEvent, EventBus } from '../../events/event-bus.js';
import type { SecretStore } from '../../secrets/index.js';
import type { Db } from '../../store/db.js';
import type { BackgroundErrors } from '../background-errors.js';
import { DeliveryError, send } from './channels.js';
import { buildMessage } from './messages.js';
import type { NotificationMessage } from './messages.js';

/** What the notifier is built from. */
export interface NotifierOptions {
  db: Db;
  events: EventBus;
  config: NotificationsConfig;
  secrets: SecretStore;
  errors: BackgroundErrors;
  /** First retry delay in ms; it doubles each attempt. Default 2000. */
  backoffMs?: number;
}

/** One queued delivery, as `GET`-style views show it. */
export interface NotificationDelivery {
  id: string;
  channel: string;
  eventType: string;
  subject: string | null;
  message: NotificationMessage;
  status: 'pending' | 'delivered' | 'failed';
  attempts: number;
  lastError: string | null;
  createdAt: string;
  deliveredAt: string | null;
}

/** How long a node holds a claimed delivery before another node may try it (it crashed mid-send). */
const CLAIM_MS = 60_000;

/**
 * Tells people about pending approvals, escalations, anomalies, demotions and unknown outcomes. Each event is queued
 * durably as one delivery per routed channel (`notification_deliveries`; a unique key per channel and event, so an
 * event every node sees is queued once), then sent by whichever node claims it, retried with doubling backoff until
 * `maxAttempts`, and recorded either way. Queuing happens off the pipeline's path: a failure here is logged and
 * counted (`notifications.*` loops), never raised into an action.
 */
export class Notifier {
  private readonly backoffMs: number;
  private running: Promise<void> | undefined;
  private again = false;
  private stopped = false;
  private readonly pending = new Set<Promise<unknown>>();

  constructor(private readonly o: NotifierOptions) {
    this.backoffMs = o.backoffMs ?? 2000;
  }

  /** Subscribes to the event bus; answers the unsubscribe function. */
  start(): () => void {
    return this.o.events.subscribe((e) => {
      if (!this.channelsFor(e.type).length) return;
      const p = this.enqueue(e)
        .then((queued) => {
          if (queued) this.kick();
        })
        .catch((err: unknown) => this.o.errors.record('notifications.enqueue', err));
      this.pending.add(p);
      void p.finally(() => this.pending.delete(p));
    });
  }

  private channelsFor(type: string): string[] {
    const routes = this.o.config.routes;
    if (!routes) return this.o.config.channels.map((c) => c.name);
    return [
      ...new Set(routes.filter((r) => (r.events as string[]).includes(type)).flatMap((r) => r.channels)),
    ];
  }

  /** Queues an event for its channels; answers how many deliveries were new. */
  async enqueue(event: AosEvent): Promise<number> {
    const channels = this.channelsFor(event.type);
    if (!channels.length) return 0;
    const built = await buildMessage(this.o.db, event, this.o.config.publicUrl);
    if (!built) return 0;
    let queued = 0;
    const now = new Date();
    for (const channel of channels) {
      const res = await this.o.db.run(
        `INSERT INTO notification_deliveries (id, dedupe_key, channel, event_type, subject, message_json, status, attempts,
           next_attempt_ms, created_at) VALUES (?, ?, ?, ?, ?, ?, 'pending', 0, ?, ?) ON CONFLICT (dedupe_key) DO NOTHING`,
        [
          `ntf_${crypto.randomBytes(10).toString('hex')}`,
          `${channel}:${built.key}`,
          channel,
          event.type,
          event.subject ?? null,
          JSON.stringify(built.message),
          now.getTime(),
          now.toISOString(),
        ],
      );
      queued += res.changes;
    }
    return queued;
  }

  /** Starts a delivery round now (or right after the one running). */
  kick(): void {
    if (this.stopped) return;
    if (this.running) {
      this.again = true;
      return;
    }
    this.running = this.deliverDue()
      .then(() => undefined)
      .catch((err: unknown) => this.o.errors.record('notifications.deliver', err))
      .finally(() => {
        this.running = undefined;
        if (this.again) {
          this.again = false;
          this.kick();
        }
      });
  }

  /** Sends every delivery that is due; answers how many were sent. */
  async deliverDue(): Promise<number> {
    let sent = 0;
    for (;;) {
      const batch = await this.claim();
      if (!batch.length) return sent;
      for (const d of batch) if (await this.attempt(d)) sent++;
    }
  }

  private async claim(): Promise<{ id: string; channel: string; message_json: string; attempts: number }[]> {
    const now = Date.now();
    return this.o.db.tx(async (tx) => {
      const rows = await tx.all<{ id: string; channel: string; message_json: string; attempts: number }>(
        `SELECT id, channel, message_json, attempts FROM notification_deliveries
         WHERE status = 'pending' AND next_attempt_ms <= ? AND claimed_until_ms <= ? ORDER BY next_attempt_ms, id
         LIMIT 20${this.o.db.skipLocked}`,
        [now, now],
      );
      for (const r of rows)
        await tx.run('UPDATE notification_deliveries SET claimed_until_ms = ? WHERE id = ?', [
          now + CLAIM_MS,
          r.id,
        ]);
      return rows;
    });
  }

  private async attempt(d: {
    id: string;
    channel: string;
    message_json: string;
    attempts: number;
  }): Promise<boolean> {
    const channel = this.o.config.channels.find((c) => c.name === d.channel);
    const attempts = Number(d.attempts) + 1;
    let error: string | undefined;
    if (!channel) error = 'channel no longer configured';
    else {
      try {
        await send(channel, JSON.parse(d.message_json) as NotificationMessage, d.id, this.o.secrets);
      } catch (err) {
        error = err instanceof DeliveryError ? err.reason : (err as Error).name;
      }
    }
    const now = Date.now();
    if (!error) {
      await this.o.db.run(
        `UPDATE notification_deliveries SET status = 'delivered', attempts = ?, delivered_at = ?, last_error = NULL,
           claimed_until_ms = 0 WHERE id = ?`,
        [attempts, new Date(now).toISOString(), d.id],
      );
      return true;
    }
    const final = !channel || attempts >= this.o.config.maxAttempts;
    await this.o.db.run(
      `UPDATE notification_deliveries SET status = ?, attempts = ?, last_error = ?, next_attempt_ms = ?, claimed_until_ms = 0
       WHERE id = ?`,
      [final ? 'failed' : 'pending', attempts, error, now + this.backoffMs * 2 ** (attempts - 1), d.id],
    );
    this.o.errors.record('notifications.deliver', new DeliveryError(`${d.channel}: ${error}`), {
      level: 'warn',
    });
    return false;
  }

  /** Recent deliveries, newest first. */
  async list(limit = 100): Promise<NotificationDelivery[]> {
    const rows = await this.o.db.all<Record<string, unknown>>(
      'SELECT * FROM notification_deliveries ORDER BY created_at DESC, id DESC LIMIT ?',
      [Math.min(Math.max(limit, 1), 1000)],
    );
    return rows.map((r) => ({
      id: String(r.id),
      channel: String(r.channel),
      eventType: String(r.event_type),
      subject: (r.subject as string | null) ?? null,
      message: JSON.parse(String(r.message_json)) as NotificationMessage,
      status: r.status as NotificationDelivery['status'],
      attempts: Number(r.attempts),
      lastError: (r.last_error as string | null) ?? null,
      createdAt: String(r.created_at),
      deliveredAt: (r.delivered_at as string | null) ?? null,
    }));
  }

  /** Waits for queued work and the running round, then stops kicking new rounds. */
  async close(): Promise<void> {
    await Promise.allSettled([...this.pending]);
    this.stopped = true;
    await this.running;
  }
}
