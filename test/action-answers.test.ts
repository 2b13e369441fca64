/**
 * `POST /v1/actions` answers its published `Action` schema (wire-schemas.ts) for each way a submission can go:
 * allowed and executed, denied by a policy, held for approval (with the approval requirement in the stored decision),
 * and an idempotent replay (200, `replayed: true`). The authorization matrix meets only an allowed read, so the other
 * shapes of the answer are checked here, on the support-desk example.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Engine } from '@autonomy-os/core';
import { buildServer, openApiDocument } from '@autonomy-os/server';
import type { AosServer } from '@autonomy-os/server';
import { RESPONSES, actionSchema } from '../packages/server/src/wire-schemas.js';
import { backends } from './helpers/backends.js';
import type { TestStore } from './helpers/backends.js';
import {
  seedSupportDesk,
  startPayments,
  supportDeskConfig,
  supportDeskEngine,
} from './helpers/support-desk.js';
import type { Payments } from './helpers/support-desk.js';

describe.each(backends)('the Action answer on $name', (backend) => {
  let t: TestStore;
  let payments: Payments;
  let engine: Engine;
  let server: AosServer;
  let token: string;

  beforeEach(async (ctx) => {
    if (!backend.enabled) return ctx.skip();
    t = await backend.create();
    payments = await startPayments();
    await seedSupportDesk(t);
    engine = await supportDeskEngine(t, supportDeskConfig(payments.url));
    server = buildServer({ engine, version: 'test' });
    ({ token } = await t.store.tokens.issue(
      { subjectType: 'agent', subjectId: 'refund-bot' },
      'operator:test',
    ));
  });
  afterEach(async () => {
    await server?.close();
    await engine?.close();
    await payments?.close();
    await t?.cleanup();
  });

  /** Submits as refund-bot and parses the answer with the published schema (a drift throws here). */
  async function act(body: Record<string, unknown>, status: number) {
    const res = await server.app.inject({
      method: 'POST',
      url: '/v1/actions',
      headers: { authorization: `Bearer ${token}` },
      payload: body,
    });
    expect(res.statusCode, res.body).toBe(status);
    return actionSchema.parse(JSON.parse(res.body));
  }

  it('describes allowed, denied, pending and replayed answers exactly', async () => {
    expect(RESPONSES['POST /v1/actions']).toMatchObject({ status: '201', component: 'Action' });

    const allowed = await act({ tool: 'payments.get_order', input: { orderId: 'o-1' } }, 201);
    expect(allowed).toMatchObject({
      outcome: 'allowed',
      status: 'succeeded',
      decision: { outcome: 'allow' },
    });
    expect(allowed.result?.isError).toBe(false);
    expect(allowed.decision.checks.length).toBeGreaterThan(0);
    expect(allowed.finishedAt).not.toBeNull();

    const denied = await act({ tool: 'payments.delete_customer', input: { customerId: 'c-42' } }, 201);
    expect(denied).toMatchObject({
      outcome: 'denied',
      status: 'denied',
      result: null,
      decision: { outcome: 'deny', policies: ['no-customer-deletion'] },
    });

    const pending = await act(
      {
        tool: 'payments.refund',
        input: { orderId: 'o-2', amount: 300 },
        reason: 'parcel lost',
        confidence: 0.8,
        idempotencyKey: 'refund-o-2',
      },
      201,
    );
    expect(pending).toMatchObject({
      outcome: 'pending_approval',
      status: 'pending_approval',
      reason: 'parcel lost',
      confidence: 0.8,
      idempotencyKey: 'refund-o-2',
      decision: { outcome: 'approval', approval: { group: 'approvers:finance', barOwner: true } },
    });
    expect(pending.approvalId).not.toBeNull();
    expect(pending.replayed).toBeUndefined();

    // The same key and request again: the first action, answered 200 and marked as a replay.
    const replayed = await act(
      {
        tool: 'payments.refund',
        input: { orderId: 'o-2', amount: 300 },
        reason: 'parcel lost',
        confidence: 0.8,
        idempotencyKey: 'refund-o-2',
      },
      200,
    );
    expect(replayed).toEqual({ ...pending, replayed: true });

    // The document publishes both statuses with the same component.
    const op = (
      openApiDocument('test') as {
        paths: Record<string, { post: { responses: Record<string, { content: unknown }> } }>;
      }
    ).paths['/v1/actions']!.post.responses;
    for (const status of ['201', '200'])
      expect(op[status]!.content).toEqual({
        'application/json': { schema: { $ref: '#/components/schemas/Action' } },
      });
  });
});
