import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { backends } from '../../../test/helpers/backends.js';
import type { TestStore } from '../../../test/helpers/backends.js';
import {
  seedSupportDesk,
  startPayments,
  supportDeskConfig,
  supportDeskEngine,
} from '../../../test/helpers/support-desk.js';
import type { Payments } from '../../../test/helpers/support-desk.js';
import type { Engine } from '@autonomy-os/core';
import { buildServer } from './server.js';
import type { AosServer } from './server.js';

const [sqlite] = backends;

describe('live events and metrics', () => {
  let t: TestStore;
  let payments: Payments;
  let engine: Engine;
  let server: AosServer;
  let base: string;
  const tokens: Record<string, string> = {};

  beforeEach(async () => {
    t = await (sqlite as (typeof backends)[number]).create();
    payments = await startPayments();
    await seedSupportDesk(t);
    engine = await supportDeskEngine(t, supportDeskConfig(payments.url));
    server = buildServer({ engine, version: 'test' });
    base = await server.listen();
    tokens.bot = (
      await t.store.tokens.issue({ subjectType: 'agent', subjectId: 'refund-bot' }, 'operator:test')
    ).token;
    tokens.ada = (
      await t.store.tokens.issue({ subjectType: 'human', subjectId: 'ada' }, 'operator:test')
    ).token;
  });
  afterEach(async () => {
    await server.close();
    await engine.close();
    await payments.close();
    await t.cleanup();
  });

  const act = (input: Record<string, unknown>) =>
    fetch(`${base}/v1/actions`, {
      method: 'POST',
      headers: { authorization: `Bearer ${tokens.bot}`, 'content-type': 'application/json' },
      body: JSON.stringify({ tool: 'payments.refund', input }),
    });

  it('streams pipeline events to a human over SSE, and refuses agents', async () => {
    expect(
      (await fetch(`${base}/v1/events`, { headers: { authorization: `Bearer ${tokens.bot}` } })).status,
    ).toBe(403);
    const controller = new AbortController();
    const res = await fetch(`${base}/v1/events?types=action,approval`, {
      headers: { authorization: `Bearer ${tokens.ada}` },
      signal: controller.signal,
    });
    expect(res.headers.get('content-type')).toBe('text/event-stream');
    const reader = (res.body as ReadableStream<Uint8Array>).getReader();
    await act({ orderId: 'o-1', amount: 300 });
    let text = '';
    for (let i = 0; i < 50 && !text.includes('event: approval.requested'); i++) {
      const { value } = await reader.read();
      text += new TextDecoder().decode(value);
    }
    controller.abort();
    expect(text).toMatch(/event: action\.pending_approval\ndata: \{.*"tool":"payments\.refund"/);
    expect(text).toMatch(/event: approval\.requested/);
  });

  it('exposes Prometheus metrics counting events and pending approvals', async () => {
    await act({ orderId: 'o-1', amount: 30 });
    await act({ orderId: 'o-2', amount: 300 });
    const res = await fetch(`${base}/metrics`);
    const text = await res.text();
    expect(res.headers.get('content-type')).toMatch(/text\/plain/);
    expect(text).toMatch(/aos_events_total\{type="action\.succeeded"\} 1/);
    expect(text).toMatch(/aos_approvals_pending 1/);
    expect(text).toMatch(/aos_process_/);
  });

  it('counts the errors background loops survive in /metrics, by loop', async () => {
    const before = await (await fetch(`${base}/metrics`)).text();
    expect(before).not.toMatch(/aos_background_errors_total\{loop="engine.tick"\}/);
    // The node table gone under the engine's tick: logged and counted, never thrown out of the loop.
    await t.raw('ALTER TABLE nodes RENAME TO nodes_gone');
    await engine.tick();
    await engine.tick();
    await t.raw('ALTER TABLE nodes_gone RENAME TO nodes');
    const text = await (await fetch(`${base}/metrics`)).text();
    expect(text).toMatch(/aos_background_errors_total\{loop="engine.tick"\} 2/);
  });
});
