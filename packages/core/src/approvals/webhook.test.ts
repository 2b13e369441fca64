import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { backends } from '../../../../test/helpers/backends.js';
import type { TestStore } from '../../../../test/helpers/backends.js';
import {
  PAYMENTS_KEY,
  seedSupportDesk,
  startPayments,
  supportDeskConfig,
} from '../../../../test/helpers/support-desk.js';
import type { Payments } from '../../../../test/helpers/support-desk.js';
import { createEngine } from '../engine.js';
import type { Engine } from '../engine.js';
import { EnvSecretStore } from '../secrets/index.js';
import { verifyWebhookSignature } from './webhook.js';

const [sqlite] = backends;

describe('approval webhook', () => {
  let t: TestStore;
  let payments: Payments;
  let engine: Engine;
  let receiver: http.Server;
  const received: { headers: http.IncomingHttpHeaders; body: string }[] = [];

  beforeEach(async () => {
    t = await (sqlite as (typeof backends)[number]).create();
    payments = await startPayments();
    await seedSupportDesk(t);
    receiver = http.createServer((req, res) => {
      let body = '';
      req.on('data', (c: Buffer) => (body += c.toString()));
      req.on('end', () => {
        received.push({ headers: req.headers, body });
        res.end('ok');
      });
    });
    await new Promise<void>((r) => receiver.listen(0, '127.0.0.1', r));
    const url = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/hook`;
    const config = supportDeskConfig(payments.url, (raw) => {
      (raw.approvals as Record<string, unknown>).webhook = { url, secret: '${secret:webhook-key}' };
    });
    engine = await createEngine({
      store: t.store,
      config,
      secrets: new EnvSecretStore({
        env: { AOS_SECRET_PAYMENTS_API_KEY: PAYMENTS_KEY, AOS_SECRET_WEBHOOK_KEY: 'whsec-test-0123456789' },
      }),
    });
    await engine.start({ background: false });
  });
  afterEach(async () => {
    await engine.close();
    await payments.close();
    await new Promise<void>((r) => receiver.close(() => r()));
    await t.cleanup();
  });

  it('announces a new approval request with a valid HMAC signature', async () => {
    const bot = await t.store.agents.require('refund-bot');
    const a = await engine.actions.submit(bot, {
      tool: 'payments.refund',
      input: { orderId: 'o-1', amount: 300 },
    });
    for (let i = 0; i < 100 && received.length === 0; i++) await new Promise((r) => setTimeout(r, 20));
    expect(received).toHaveLength(1);
    const [{ headers, body }] = received as [{ headers: http.IncomingHttpHeaders; body: string }];
    const ts = headers['x-aos-timestamp'] as string;
    expect(
      verifyWebhookSignature('whsec-test-0123456789', ts, body, headers['x-aos-signature'] as string),
    ).toBe(true);
    expect(verifyWebhookSignature('wrong-key', ts, body, headers['x-aos-signature'] as string)).toBe(false);
    expect(
      verifyWebhookSignature(
        'whsec-test-0123456789',
        ts,
        body.replace('300', '3000'),
        headers['x-aos-signature'] as string,
      ),
    ).toBe(false);
    expect(JSON.parse(body)).toMatchObject({
      type: 'approval.requested',
      approval: { id: a.approvalId, group: 'approvers:finance' },
    });
    expect(body).not.toContain('whsec-test');
  });
});
