import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { backends } from '../../../../test/helpers/backends.js';
import type { TestStore } from '../../../../test/helpers/backends.js';
import {
  seedSupportDesk,
  startPayments,
  supportDeskConfig,
  supportDeskEngine,
} from '../../../../test/helpers/support-desk.js';
import type { Payments } from '../../../../test/helpers/support-desk.js';
import type { Engine } from '@autonomy-os/core';
import { AosClient, AosApiError } from '@autonomy-os/sdk';
import { buildServer } from '../server.js';
import type { AosServer } from '../server.js';

const [sqlite] = backends;

/** The console's read routes: paged agents and actions, audit search/checkpoint/export, policies and replay. */
describe('console list, audit and policy routes', () => {
  let t: TestStore;
  let payments: Payments;
  let engine: Engine;
  let server: AosServer;
  let ada: AosClient;
  let olivia: AosClient;
  let bot: AosClient;

  beforeAll(async () => {
    t = await (sqlite as (typeof backends)[number]).create();
    payments = await startPayments();
    await seedSupportDesk(t);
    for (let i = 0; i < 25; i++)
      await t.store.agents.create(
        { id: `bulk-${String(i).padStart(2, '0')}`, role: 'support', tier: 0, owner: 'olivia' },
        'operator:test',
      );
    engine = await supportDeskEngine(t, supportDeskConfig(payments.url));
    server = buildServer({ engine, version: 'test' });
    const url = await server.listen();
    const token = async (subjectType: 'agent' | 'human', subjectId: string) =>
      (await t.store.tokens.issue({ subjectType, subjectId }, 'operator:test')).token;
    ada = new AosClient({ url, token: await token('human', 'ada') });
    olivia = new AosClient({ url, token: await token('human', 'olivia') });
    bot = new AosClient({ url, token: await token('agent', 'refund-bot') });
    for (let i = 0; i < 5; i++) await bot.act({ tool: 'payments.get_order', input: { orderId: `o-${i}` } });
    await bot.act({ tool: 'payments.refund', input: { orderId: 'o-9', amount: 50 }, reason: 'lost parcel' });
  });
  afterAll(async () => {
    await server?.close();
    await engine?.close();
    await payments?.close();
    await t?.cleanup();
  });

  const status = (p: Promise<unknown>) =>
    p.then(
      () => 200,
      (e: unknown) => (e instanceof AosApiError ? e.status : -1),
    );

  it('lowers a tier on an admin word but refuses to raise one: a promotion must be earned', async () => {
    const up = await ada.setAgentTier('bulk-00', 2, 'no gate passed').catch((e: unknown) => e);
    expect(up).toBeInstanceOf(AosApiError);
    expect((up as AosApiError).status).toBe(409);
    expect((up as AosApiError).message).toMatch(/promote/);
    expect((await ada.getAgent('bulk-00')).tier).toBe(0);
    await t.store.agents.setTier('bulk-01', 2, 'operator:test');
    expect((await ada.setAgentTier('bulk-01', 1, 'regressed')).tier).toBe(1);
  });

  it('pages the agent registry by id with a cursor, and searches it', async () => {
    const seen: string[] = [];
    let page = await ada.listAgentsPage({ limit: 10 });
    seen.push(...page.agents.map((a) => a.id));
    while (page.nextCursor) {
      page = await ada.listAgentsPage({ limit: 10, cursor: page.nextCursor });
      seen.push(...page.agents.map((a) => a.id));
    }
    const all = (await ada.listAgents()).map((a) => a.id);
    expect(seen).toEqual(all);
    expect(all.length).toBeGreaterThan(25);
    expect((await ada.listAgentsPage({ search: 'BULK-1', limit: 100 })).agents.map((a) => a.id)).toHaveLength(
      10,
    );
    expect((await ada.listAgentsPage({ search: '%', limit: 100 })).agents).toEqual([]);
  });

  it('pages actions newest first with a cursor and filters them by tool', async () => {
    const first = await ada.listActionsPage({ limit: 4 });
    expect(first.actions).toHaveLength(4);
    const second = await ada.listActionsPage({ limit: 4, cursor: first.nextCursor as string });
    expect(second.nextCursor).toBeNull();
    const ids = [...first.actions, ...second.actions].map((a) => a.id);
    expect(ids).toEqual((await ada.listActions({ limit: 100 })).map((a) => a.id));
    const refunds = await ada.listActionsPage({ tool: 'payments.refund' });
    expect(refunds.actions.map((a) => a.tool)).toEqual(['payments.refund']);
  });

  it.each([
    ['/v1/actions?cursor=bm90LWpzb24', 'cursor'],
    ['/v1/agents?limit=0', 'limit'],
    ['/v1/audit?since=yesterday', 'since'],
    ['/v1/audit?cursor=WyJ4Il0', 'cursor'],
    ['/v1/audit?colour=red', 'colour'],
  ])('refuses %s with a 400 naming %s', async (path, field) => {
    const err = await ada.request('GET', path).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(AosApiError);
    expect((err as AosApiError).status).toBe(400);
    expect(`${(err as AosApiError).field} ${(err as AosApiError).message}`).toContain(field);
  });

  it('searches the audit log by agent, tool, type prefix and time, paged on the server', async () => {
    const byTool = await ada.searchAudit({ tool: 'payments.refund', type: 'action.' });
    expect(byTool.records.length).toBeGreaterThan(0);
    expect(byTool.records.every((r) => r.type.startsWith('action.'))).toBe(true);
    expect(byTool.records.every((r) => JSON.stringify(r.payload).includes('payments.refund'))).toBe(true);
    const decided = await ada.searchAudit({ agent: 'refund-bot', type: 'action.decided', limit: 2 });
    expect(decided.records).toHaveLength(2);
    const next = await ada.searchAudit({
      agent: 'refund-bot',
      type: 'action.decided',
      limit: 2,
      cursor: decided.nextCursor as string,
    });
    expect((next.records[0]?.seq ?? 0) < (decided.records[1]?.seq ?? 0)).toBe(true);
    expect((await ada.searchAudit({ since: '2999-01-01' })).records).toEqual([]);
    expect((await ada.searchAudit({ agent: 'nobody' })).records).toEqual([]);
  });

  it('exports a bundle signed by a new checkpoint, which the checkpoint route then shows', async () => {
    const bundle = await ada.exportAudit();
    expect(bundle.format).toBe('aos-audit-bundle/1');
    expect(bundle.records).toHaveLength(bundle.checkpoint.treeSize);
    const cp = await ada.auditCheckpoint();
    expect(cp.checkpoint?.treeSize).toBe(bundle.checkpoint.treeSize);
    expect(cp.head.seq).toBeGreaterThanOrEqual(bundle.checkpoint.treeSize);
  });

  it('shows the active policy set and replays a proposed one, naming the decisions that change', async () => {
    const active = await olivia.getPolicies();
    expect(active.hash).toBe(engine.policies().hash);
    expect(active.permits.map((p) => p.id)).toContain('support-read');
    const support = active.files.policies.find((f) => f.file === 'support.cedar');
    expect(support?.text).toContain('support-read');
    // Proposed: support agents no longer read orders.
    const proposed = (support?.text ?? '').replace(
      /@id\("support-read"\)\npermit/,
      '@id("support-read")\nforbid',
    );
    const report = await ada.replayPolicies({
      policies: [{ file: 'support.cedar', text: proposed }],
      approvals: active.files.approvals,
      days: 1,
    });
    expect(report.activeHash).toBe(active.hash);
    expect(report.policyHash).not.toBe(active.hash);
    expect(report.changed.filter((c) => c.tool === 'payments.get_order')).toHaveLength(5);
    expect(report.changed[0]).toMatchObject({ before: 'allow', after: 'deny', agent: 'refund-bot' });
    expect(report.transitions['allow->deny']).toBe(5);
  });

  it('refuses the audit and replay routes to a viewer and names a bad proposal field', async () => {
    expect(await status(olivia.searchAudit())).toBe(403);
    expect(await status(olivia.exportAudit())).toBe(403);
    expect(await status(olivia.replayPolicies({ policies: [] }))).toBe(403);
    const bad = await ada
      .replayPolicies({ policies: [{ file: '../x.cedar', text: '' }] })
      .catch((e: unknown) => e as AosApiError);
    expect(bad).toBeInstanceOf(AosApiError);
    expect((bad as AosApiError).field).toBe('policies.0.file');
    const broken = await ada
      .replayPolicies({ policies: [{ file: 'x.cedar', text: 'permit (' }] })
      .catch((e: unknown) => e as AosApiError);
    expect((broken as AosApiError).status).toBe(400);
  });
});
