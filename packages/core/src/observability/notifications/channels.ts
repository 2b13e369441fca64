import nodemailer from 'nodemailer';
import type { NotificationChannelConfig } from '../../config/alerting-config.js';
import type { SecretStore } from '../../secrets/index.js';
import { resolveSecretRefs } from '../../secrets/index.js';
import { signedWebhookHeaders } from '../../workflows/triggers.js';
import type { NotificationMessage } from './messages.js';

/** A delivery that did not go through, with a reason safe to store (a status or error code, never a credential). */
export class DeliveryError extends Error {
  constructor(readonly reason: string) {
    super(reason);
    this.name = new.target.name;
  }
}

async function post(url: string, body: string, headers: Record<string, string>): Promise<void> {
  let res: Response;
  try {
    res = await fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...headers },
      body,
      redirect: 'manual',
      signal: AbortSignal.timeout(10_000),
    });
  } catch (err) {
    const cause = (err as { cause?: { code?: string } }).cause;
    throw new DeliveryError(cause?.code ?? (err as Error).name);
  }
  await res.body?.cancel().catch(() => undefined);
  if (!res.ok) throw new DeliveryError(`HTTP ${res.status}`);
}

/**
 * Sends one message over one channel. The generic webhook is signed exactly like workflow webhooks
 * (`X-Aos-Timestamp`, `X-Aos-Delivery`, `X-Aos-Signature` = `sha256=` HMAC over `${ts}.${delivery}.${body}`), so a
 * receiver verifies both the same way; `delivery` is the delivery's id, the same on every retry.
 */
export async function send(
  channel: NotificationChannelConfig,
  message: NotificationMessage,
  delivery: string,
  secrets: SecretStore,
): Promise<void> {
  const field = `config.notifications.channels.${channel.name}`;
  if (channel.type === 'webhook') {
    const key = await resolveSecretRefs(channel.secret, secrets, { field: `${field}.secret` });
    const body = JSON.stringify({ delivery, ...message });
    await post(channel.url, body, signedWebhookHeaders(key, { body, delivery }));
    return;
  }
  if (channel.type === 'slack') {
    const url = await resolveSecretRefs(channel.url, secrets, { field: `${field}.url` });
    const text = `*${message.title}*\n${message.text}\n<${message.link}|Open in the console>`;
    await post(url, JSON.stringify({ text }), {});
    return;
  }
  const password = channel.password
    ? await resolveSecretRefs(channel.password, secrets, { field: `${field}.password` })
    : undefined;
  const transport = nodemailer.createTransport({
    host: channel.host,
    port: channel.port,
    secure: channel.secure,
    ...(channel.user ? { auth: { user: channel.user, pass: password ?? '' } } : {}),
    connectionTimeout: 10_000,
    greetingTimeout: 10_000,
    socketTimeout: 20_000,
  });
  try {
    await transport.sendMail({
      from: channel.from,
      to: channel.to.join(', '),
      subject: `[aos] ${message.title}`,
      text: `${message.text}\n\n${message.link}\n`,
      headers: { 'X-Aos-Delivery': delivery, 'X-Aos-Event': message.type },
    });
  } catch (err) {
    const e = err as { code?: string; responseCode?: number };
    throw new DeliveryError(e.responseCode ? `SMTP ${e.responseCode}` : (e.code ?? 'smtp_error'));
  } finally {
    transport.close();
  }
}
