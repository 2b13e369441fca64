import crypto from 'node:crypto';
import type { EventBus } from '../events/event-bus.js';
import type { SecretStore } from '../secrets/index.js';
import { resolveSecretRefs } from '../secrets/index.js';
import type { ApprovalService } from './approvals.js';

/** Where new approval requests are announced. */
export interface ApprovalWebhookOptions {
  url: string;
  /** The HMAC key, or a `${secret:NAME}` reference to it. */
  secret: string;
  secrets: SecretStore;
  /** Attempts per delivery; default 3, with 0.5 s, 1 s … between them. */
  attempts?: number;
  /** Where a failed attempt is reported with its cause (the engine logs it); default: nowhere. */
  onError?: (err: unknown, ctx: { approvalId: string; attempt: number }) => void;
}

/**
 * Signs a webhook body: `v1=` and the hex HMAC-SHA256 of `<timestamp>.<body>`. Receivers recompute it with the shared
 * key, compare in constant time, and reject stale timestamps (replays).
 */
export function signWebhook(key: string, timestamp: string, body: string): string {
  return `v1=${crypto.createHmac('sha256', key).update(`${timestamp}.${body}`).digest('hex')}`;
}

/** Checks a signature made by {@link signWebhook}, in constant time. */
export function verifyWebhookSignature(
  key: string,
  timestamp: string,
  body: string,
  signature: string,
): boolean {
  const expected = Buffer.from(signWebhook(key, timestamp, body));
  const given = Buffer.from(signature);
  return expected.length === given.length && crypto.timingSafeEqual(expected, given);
}

/**
 * Announces every new approval request to a URL with an HMAC-signed POST (headers `x-aos-timestamp`,
 * `x-aos-signature`). Delivery is best effort with retries: the approval itself is durable whatever happens here.
 * Answers the unsubscribe function.
 */
export function announceApprovals(
  events: EventBus,
  approvals: ApprovalService,
  options: ApprovalWebhookOptions,
): () => void {
  const attempts = options.attempts ?? 3;
  const deliver = async (approvalId: string) => {
    const approval = await approvals.get(approvalId);
    if (!approval) return;
    const key = await resolveSecretRefs(options.secret, options.secrets, {
      field: 'approvals.webhook.secret',
    });
    const body = JSON.stringify({ type: 'approval.requested', approval });
    for (let i = 0; i < attempts; i++) {
      const timestamp = String(Math.floor(Date.now() / 1000));
      try {
        const res = await fetch(options.url, {
          method: 'POST',
          headers: {
            'content-type': 'application/json',
            'x-aos-timestamp': timestamp,
            'x-aos-signature': signWebhook(key, timestamp, body),
          },
          body,
          redirect: 'manual',
          signal: AbortSignal.timeout(5000),
        });
        if (res.ok) return;
        options.onError?.(new Error(`the webhook answered HTTP ${res.status}`), {
          approvalId,
          attempt: i + 1,
        });
      } catch (err) {
        // Retried below; the cause is reported (fetch errors name the reason, never the signing key).
        options.onError?.(err, { approvalId, attempt: i + 1 });
      }
      await new Promise((r) => setTimeout(r, 500 * 2 ** i));
    }
  };
  return events.subscribe((e) => {
    if (e.type === 'approval.requested' && typeof e.data.approvalId === 'string')
      void deliver(e.data.approvalId).catch((err: unknown) =>
        options.onError?.(err, { approvalId: e.data.approvalId as string, attempt: 0 }),
      );
  });
}
