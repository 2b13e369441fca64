import { afterAll, beforeAll, describe, expect, it } from 'vitest';
// @ts-expect-error: the parser ships no type declarations
import parsePrometheusTextFormat from 'parse-prometheus-text-format';
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
import { LabelCap } from './routes/governance-metrics.js';
import { buildServer } from './server.js';
import type { AosServer } from './server.js';

interface Sample {
  value?: string;
  count?: string;
  labels?: Record<string, string>;
}
interface Family {
  name: string;
  type: string;
  metrics: Sample[];
}
const parse = parsePrometheusTextFormat as (text: string) => Family[];

const [sqlite] = backends;

describe('LabelCap', () => {
  it.each([
    [1, ['a', 'b', 'a'], ['a', 'other', 'a']],
    [2, ['a', 'b', 'c', 'b'], ['a', 'b', 'other', 'b']],
    [2, ['', 'x'], ['unknown', 'x']],
  ])('keeps the first %i values and counts the rest as other', (max, values, expected) => {
    const cap = new LabelCap(max);
    expect(values.map((v) => cap.of(v))).toEqual(expected);
  });
});

describe('governance metrics on /metrics', () => {
  let t: TestStore;
  let payments: Payments;
  let engine: Engine;
  let server: AosServer;
  let base: string;
  let bot: string;

  beforeAll(async () => {
    t = await (sqlite as (typeof backends)[number]).create();
    payments = await startPayments();
    await seedSupportDesk(t);
    engine = await supportDeskEngine(t, supportDeskConfig(payments.url));
    server = buildServer({ engine, version: 'test' });
    base = await server.listen();
    bot = (await t.store.tokens.issue({ subjectType: 'agent', subjectId: 'refund-bot' }, 'operator:test'))
      .token;
  });
  afterAll(async () => {
    await server.close();
    await engine.close();
    await payments.close();
    await t.cleanup();
  });

  const act = (input: Record<string, unknown>) =>
    fetch(`${base}/v1/actions`, {
      method: 'POST',
      headers: { authorization: `Bearer ${bot}`, 'content-type': 'application/json' },
      body: JSON.stringify({ tool: 'payments.refund', input }),
    });
  /**
   * Scrapes `/metrics` and answers a reader of one figure: a counter's or gauge's value summed over the series
   * matching `labels`, or a histogram's observation count. The parser checks the whole text; it merges the label
   * sets of a histogram, so histogram counts are read from their `_count` series.
   */
  const scrape = async () => {
    const text = await (await fetch(`${base}/metrics`)).text();
    const families = parse(text);
    return (name: string, labels: Record<string, string> = {}): number => {
      const f = families.find((x) => x.name === name);
      if (!f) return Number.NaN;
      const matches = (l: Record<string, string> | undefined) =>
        Object.entries(labels).every(([k, v]) => l?.[k] === v);
      if (f.type === 'HISTOGRAM') {
        let n = 0;
        for (const m of text.matchAll(new RegExp(`^${name}_count(?:\\{(.*)\\})? (\\S+)$`, 'gm'))) {
          const l = Object.fromEntries(
            [...(m[1] ?? '').matchAll(/(\w+)="([^"]*)"/g)].map((x) => [x[1], x[2]]),
          );
          if (matches(l as Record<string, string>)) n += Number(m[2]);
        }
        return n;
      }
      return f.metrics.filter((s) => matches(s.labels)).reduce((n, s) => n + Number(s.value), 0);
    };
  };

  it('parses as Prometheus text and moves as actions are decided, executed and held', async () => {
    const before = await scrape();
    const labels = { agent: 'refund-bot', tool: 'payments.refund', connector: 'payments' };
    expect(before('aos_actions_total', { ...labels, outcome: 'allowed' })).toBe(0);

    expect((await act({ orderId: 'o-1', amount: 30 })).status).toBe(201);
    expect((await act({ orderId: 'o-2', amount: 300 })).status).toBe(201);
    const after = await scrape();
    expect(after('aos_actions_total', { ...labels, outcome: 'allowed' })).toBe(1);
    expect(after('aos_actions_total', { ...labels, outcome: 'pending_approval' })).toBe(1);
    expect(after('aos_action_results_total', { ...labels, status: 'succeeded' })).toBe(1);
    expect(after('aos_decision_duration_seconds')).toBe(2);
    expect(after('aos_execution_duration_seconds', { connector: 'payments', status: 'succeeded' })).toBe(1);
    expect(after('aos_approvals_pending')).toBe(1);
    expect(after('aos_approvals_oldest_pending_age_seconds')).toBeGreaterThanOrEqual(0);
    expect(after('aos_connector_breaker_state', { connector: 'payments' })).toBe(0);
    expect(after('aos_killswitch_engaged', { kind: 'global' })).toBe(0);

    await engine.killSwitches.set({ scope: 'global', active: true, reason: 'test' }, 'operator:test');
    expect((await scrape())('aos_killswitch_engaged', { kind: 'global' })).toBe(1);
    await engine.killSwitches.set({ scope: 'global', active: false }, 'operator:test');
  });

  it('counts failed upstream calls as connector errors', async () => {
    await payments.close();
    await act({ orderId: 'o-3', amount: 20 });
    const m = await scrape();
    expect(m('aos_connector_errors_total', { connector: 'payments' })).toBeGreaterThanOrEqual(1);
    expect(
      m('aos_action_results_total', { tool: 'payments.refund', status: 'failed' }),
    ).toBeGreaterThanOrEqual(1);
  });
});
