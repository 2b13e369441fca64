import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AosClient } from '@autonomy-os/sdk';
import { EvalRunStore } from '@autonomy-os/core';
import { backends } from '../../../../test/helpers/backends.js';
import type { TestStore } from '../../../../test/helpers/backends.js';
import {
  seedSupportDesk,
  startPayments,
  supportDeskConfig,
  supportDeskEngine,
} from '../../../../test/helpers/support-desk.js';
import type { Payments } from '../../../../test/helpers/support-desk.js';
import type { Agent, Engine } from '@autonomy-os/core';
import { buildServer } from '../server.js';
import { RESPONSES, reportSummarySchema } from '../wire-schemas.js';
import type { AosServer } from '../server.js';

const [sqlite] = backends;

describe('GET /v1/reports/summary', () => {
  let t: TestStore;
  let payments: Payments;
  let engine: Engine;
  let server: AosServer;
  let base: string;
  let ada: string;
  let bot: string;

  beforeAll(async () => {
    t = await (sqlite as (typeof backends)[number]).create();
    payments = await startPayments();
    await seedSupportDesk(t);
    engine = await supportDeskEngine(t, supportDeskConfig(payments.url));
    server = buildServer({ engine, version: 'test' });
    base = await server.listen();
    ada = (await t.store.tokens.issue({ subjectType: 'human', subjectId: 'ada' }, 'operator:test')).token;
    bot = (await t.store.tokens.issue({ subjectType: 'agent', subjectId: 'refund-bot' }, 'operator:test'))
      .token;
    const agent = (await t.store.agents.require('refund-bot')) as Agent;
    await engine.actions.submit(agent, { tool: 'payments.refund', input: { orderId: 'o-1', amount: 20 } });
    const held = await engine.actions.submit(agent, {
      tool: 'payments.refund',
      input: { orderId: 'o-2', amount: 300 },
    });
    const frank = await t.store.humans.get('frank');
    await engine.actions.vote({ approvalId: held.approvalId as string, human: frank!, vote: 'approve' });
    await engine.actions.submit(agent, { tool: 'payments.delete_customer', input: { customerId: 'c-1' } });
  });
  afterAll(async () => {
    await server?.close();
    await engine?.close();
    await payments?.close();
    await t?.cleanup();
  });

  it('answers the leader metrics per agent through the SDK, with evaluation coverage from the eval runs', async () => {
    // A passing case covers refund-bot's allowed refund (1 of its 3 actions); the deny and the approval are not.
    const now = new Date().toISOString();
    await new EvalRunStore(t.store.db, t.store.audit).record(
      {
        id: 'evr_report',
        suite: 'support_unit',
        suiteHash: 'h',
        agentId: 'refund-bot',
        agentKind: 'rule',
        trigger: 'manual',
        cases: 1,
        passed: 1,
        failed: 0,
        passRate: 100,
        threshold: 97,
        result: 'pass',
        failedByCategory: [],
        caseSummaries: [
          { id: 'c1', category: 'reads', pass: true, calls: [{ tool: 'payments.refund', outcome: 'allow' }] },
        ],
        startedAt: now,
        finishedAt: now,
      },
      'operator:test',
    );
    const report = await new AosClient({ url: base, token: ada }).getReportSummary({ since: '1d' });
    // The published answer schema describes this real answer exactly (a field added or retyped fails here).
    expect(reportSummarySchema.parse(report)).toEqual(report);
    const runs = await fetch(`${base}/v1/evals/runs`, { headers: { authorization: `Bearer ${ada}` } });
    const listed = RESPONSES['GET /v1/evals/runs']!.schema.parse(await runs.json()) as { runs: unknown[] };
    expect(listed.runs).toHaveLength(1);
    const row = report.agents.find((a) => a.name === 'refund-bot');
    expect(row).toMatchObject({
      actions: { total: 3, allowed: 1, approval: 1, denied: 1 },
      escalationRate: 0.333,
      evalCoverage: 1 / 3,
      auditability: 1,
    });
    expect(row?.approvalLatency.p50Sec).toEqual(expect.any(Number));
    expect(row?.costPerChange).toBe(5);
    expect(report.totals.actions.total).toBe(3);
  });

  it('refuses agents and a bad period, naming the field', async () => {
    const asBot = await fetch(`${base}/v1/reports/summary`, { headers: { authorization: `Bearer ${bot}` } });
    expect(asBot.status).toBe(403);
    const bad = await fetch(`${base}/v1/reports/summary?since=yesterday-ish`, {
      headers: { authorization: `Bearer ${ada}` },
    });
    expect(bad.status).toBe(400);
    expect(JSON.stringify(await bad.json())).toContain('since');
  });
});
