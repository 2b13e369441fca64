import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { SMTPServer } from 'smtp-server';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { backends } from '../../../../../test/helpers/backends.js';
import type { TestStore } from '../../../../../test/helpers/backends.js';
import {
  PAYMENTS_KEY,
  seedSupportDesk,
  startPayments,
  supportDeskConfig,
} from '../../../../../test/helpers/support-desk.js';
import type { Payments } from '../../../../../test/helpers/support-desk.js';
import { createEngine } from '../../engine.js';
import type { Engine } from '../../engine.js';
import type { Agent } from '../../identity/agents.js';
import { EnvSecretStore } from '../../secrets/index.js';
import { checkWorkflowHookSignature } from '../../workflows/triggers.js';
import { BackgroundErrors } from '../background-errors.js';
import { Notifier } from './notifier.js';

const HOOK_KEY = 'whsec_test_notifications_0000000';

interface Received {
  path: string;
  headers: http.IncomingHttpHeaders;
  body: string;
}

/** A receiver on 127.0.0.1 that answers `status()` (200 unless told otherwise) and keeps what it got. */
async function startReceiver() {
  const got: Received[] = [];
  let status = 200;
  const server = http.createServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString()));
    req.on('end', () => {
      got.push({ path: req.url ?? '', headers: req.headers, body });
      res.writeHead(status).end();
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    got,
    answer: (s: number) => (status = s),
    close: () => new Promise<void>((r) => server.close(() => r())),
  };
}

/** An SMTP server on 127.0.0.1 that keeps every message. */
async function startSmtp() {
  const mails: { to: string[]; data: string }[] = [];
  const server = new SMTPServer({
    authOptional: true,
    disabledCommands: ['STARTTLS'],
    onData(stream, session, done) {
      let data = '';
      stream.on('data', (c: Buffer) => (data += c.toString()));
      stream.on('end', () => {
        mails.push({ to: session.envelope.rcptTo.map((r) => r.address), data });
        done();
      });
    },
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    port: (server.server.address() as AddressInfo).port,
    mails,
    close: () => new Promise<void>((r) => server.close(() => r())),
  };
}

async function until(check: () => boolean | Promise<boolean>): Promise<void> {
  for (let i = 0; i < 500; i++) {
    if (await check()) return;
    await new Promise((r) => setTimeout(r, 20));
  }
  throw new Error('condition never held');
}

describe.each(backends)('notifications on $name', (backend) => {
  let t: TestStore;
  let payments: Payments;
  let hook: Awaited<ReturnType<typeof startReceiver>>;
  let slack: Awaited<ReturnType<typeof startReceiver>>;
  let smtp: Awaited<ReturnType<typeof startSmtp>>;
  let engine: Engine;
  const secrets = new EnvSecretStore({
    env: { AOS_SECRET_PAYMENTS_API_KEY: PAYMENTS_KEY, AOS_SECRET_HOOK_KEY: HOOK_KEY },
  });

  beforeAll(async () => {
    if (!backend.enabled) return;
    [payments, hook, slack, smtp] = await Promise.all([
      startPayments(),
      startReceiver(),
      startReceiver(),
      startSmtp(),
    ]);
  });
  afterAll(async () => {
    await Promise.all([payments?.close(), hook?.close(), slack?.close(), smtp?.close()]);
  });
  beforeEach(async (ctx) => {
    if (!backend.enabled) return ctx.skip();
    hook.got.length = 0;
    slack.got.length = 0;
    smtp.mails.length = 0;
    hook.answer(200);
    t = await backend.create();
    await seedSupportDesk(t);
    const config = supportDeskConfig(payments.url, (raw) => {
      raw.notifications = {
        publicUrl: 'https://aos.example.com/console/',
        channels: [
          { name: 'ops-hook', type: 'webhook', url: `${hook.url}/aos`, secret: '$' + '{secret:hook-key}' },
          { name: 'slack', type: 'slack', url: `${slack.url}/services/T0/B0/x` },
          {
            name: 'finance-mail',
            type: 'email',
            host: '127.0.0.1',
            port: smtp.port,
            from: 'aos@example.com',
            to: ['finance@example.com'],
          },
        ],
        routes: [
          { events: ['approval.requested'], channels: ['ops-hook', 'slack', 'finance-mail'] },
          { events: ['anomaly.detected'], channels: ['slack'] },
        ],
      };
    });
    engine = await createEngine({ store: t.store, config, secrets });
    await engine.start({ background: false });
  });
  afterEach(async () => {
    await engine?.close();
    await t?.cleanup();
  });

  const bigRefund = async () =>
    engine.actions.submit((await t.store.agents.require('refund-bot')) as Agent, {
      tool: 'payments.refund',
      input: { orderId: 'o-1', amount: 250, note: 'card 4111 1111 1111 1111' },
    });

  it('brings an approval request to the webhook, Slack and e-mail, each with a link to it in the console', async () => {
    const action = await bigRefund();
    expect(action.status).toBe('pending_approval');
    const link = `https://aos.example.com/console/approvals/${action.approvalId}`;
    await until(() => hook.got.length === 1 && slack.got.length === 1 && smtp.mails.length === 1);

    const [h] = hook.got;
    const body = JSON.parse(h!.body) as Record<string, unknown>;
    expect(body).toMatchObject({ type: 'approval.requested', link, item: { approvalId: action.approvalId } });
    const signed = {
      body: h!.body,
      delivery: String(h!.headers['x-aos-delivery']),
      timestamp: String(h!.headers['x-aos-timestamp']),
    };
    expect(signed.delivery).toBe(body.delivery);
    expect(checkWorkflowHookSignature(HOOK_KEY, signed, String(h!.headers['x-aos-signature']))).toBe(true);
    expect(checkWorkflowHookSignature('another key', signed, String(h!.headers['x-aos-signature']))).toBe(
      false,
    );

    expect((JSON.parse(slack.got[0]!.body) as { text: string }).text).toContain(`<${link}|`);
    expect(smtp.mails[0]!.to).toEqual(['finance@example.com']);
    expect(smtp.mails[0]!.data).toContain(link);

    // No arguments, so nothing an agent put in them (a card number here), and no key.
    for (const text of [h!.body, slack.got[0]!.body, smtp.mails[0]!.data]) {
      expect(text).not.toContain('4111');
      expect(text).not.toContain(HOOK_KEY);
    }
    await until(async () => (await engine.notifications!.list()).every((d) => d.status === 'delivered'));
    expect((await engine.notifications!.list()).map((d) => d.channel).sort()).toEqual([
      'finance-mail',
      'ops-hook',
      'slack',
    ]);
  });

  it('retries a failed delivery with backoff, records it, and delivers it after a restart', async () => {
    hook.answer(503);
    const action = await bigRefund();
    // The pipeline is not held up by the receiver: the action is recorded and waiting.
    expect(action.status).toBe('pending_approval');
    await until(async () => {
      const d = (await engine.notifications!.list()).find((x) => x.channel === 'ops-hook');
      return d?.attempts === 1;
    });
    const failed = (await engine.notifications!.list()).find((x) => x.channel === 'ops-hook');
    expect(failed).toMatchObject({ status: 'pending', attempts: 1, lastError: 'HTTP 503' });
    const { events, config } = engine;
    await engine.close();
    engine = undefined as unknown as Engine;

    // Another node (or this one restarted) picks the delivery up from the store once it is due.
    hook.answer(200);
    const store = await t.reopen();
    try {
      const notifier = new Notifier({
        db: store.db,
        events,
        config: config.notifications!,
        secrets,
        errors: new BackgroundErrors(),
        backoffMs: 0,
      });
      await store.db.run("UPDATE notification_deliveries SET next_attempt_ms = 0 WHERE channel = 'ops-hook'");
      expect(await notifier.deliverDue()).toBe(1);
      const d = (await notifier.list()).find((x) => x.channel === 'ops-hook');
      expect(d).toMatchObject({ status: 'delivered', attempts: 2, lastError: null });
      expect(hook.got.filter((g) => g.headers['x-aos-delivery'] === d!.id)).toHaveLength(2);
    } finally {
      await store.close();
    }
  });

  it('queues an event once however many times it is seen (every node sees fanned-out events)', async () => {
    const action = await bigRefund();
    await until(() => slack.got.length === 1);
    const again = await engine.notifications!.enqueue({
      type: 'approval.requested',
      at: new Date().toISOString(),
      data: { approvalId: action.approvalId },
    });
    expect(again).toBe(0);
  });
});
