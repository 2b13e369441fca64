import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { ErrorCode, McpError } from '@modelcontextprotocol/sdk/types.js';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { backends } from '../../../../test/helpers/backends.js';
import type { TestStore } from '../../../../test/helpers/backends.js';
import { connectClient, startGateway, textOf } from '../../../../test/helpers/mcp-gateway.js';
import type { Gateway } from '../../../../test/helpers/mcp-gateway.js';

// An agent outside any workflow is offered the core built-ins only (`mcp.builtins`); workers also get the task
// and run tools (see task-tools.test.ts).
const BUILTINS = ['aos_approval_status', 'aos_escalate', 'aos_request_approval', 'aos_whoami'];

describe.each(backends)('MCP gateway on $name', (backend) => {
  let t: TestStore;
  let gw: Gateway;
  let clients: Client[] = [];

  beforeEach(async (ctx) => {
    if (!backend.enabled) return ctx.skip();
    t = await backend.create();
    gw = await startGateway(t, { approvalWaitMs: 400, filesystem: true });
  });
  afterEach(async () => {
    for (const c of clients) await c.close().catch(() => undefined);
    clients = [];
    await gw?.close();
    await t?.cleanup();
  });

  const connect = async (agent: string) => {
    const c = await connectClient(gw.node.base, await gw.token('agent', agent));
    clients.push(c);
    return c;
  };
  const names = async (c: Client) => (await c.listTools()).tools.map((x) => x.name).sort();

  it('lists the registry tools an agent may call, namespaced, plus the built-ins', async () => {
    const bot = await connect('refund-bot');
    const listed = await bot.listTools();
    const all = listed.tools.map((x) => x.name);
    expect(all).toEqual(expect.arrayContaining([...BUILTINS, 'payments.get_order', 'payments.refund']));
    expect(all).toContain('fs.read_text_file');
    const refund = listed.tools.find((x) => x.name === 'payments.refund');
    expect(refund).toMatchObject({
      description: 'Refund part or all of an order',
      inputSchema: { type: 'object', required: ['orderId', 'amount'] },
      annotations: { readOnlyHint: false },
    });
    const pinned = gw.node.engine.tools.list().filter((x) => x.status === 'active');
    expect(all.filter((n) => !n.startsWith('aos_')).sort()).toEqual(pinned.map((x) => x.name).sort());
  });

  it('lists only reads to a tier-0 agent', async () => {
    const reader = await connect('reader');
    const listed = await names(reader);
    const reads = gw.node.engine.tools
      .list()
      .filter((x) => x.metadata.effect === 'read')
      .map((x) => x.name);
    expect(listed).toEqual([...BUILTINS, ...reads].sort());
    expect(listed).not.toContain('payments.refund');
  });

  it('hides a quarantined tool', async () => {
    await t.raw("UPDATE tools SET status = 'quarantined' WHERE name = ?", ['payments.refund']);
    expect(await names(await connect('refund-bot'))).not.toContain('payments.refund');
  });

  it.each([
    [
      'the global kill switch',
      async () => gw.node.engine.killSwitches.set({ scope: 'global', active: true }, 'ada'),
    ],
    [
      'a role kill switch',
      async () => gw.node.engine.killSwitches.set({ scope: 'role:support', active: true }, 'ada'),
    ],
    [
      'an agent kill switch',
      async () => gw.node.engine.killSwitches.set({ scope: 'agent:refund-bot', active: true }, 'ada'),
    ],
    ['a pause', async () => t.store.agents.setStatus('refund-bot', 'pause', 'operator:test')],
  ])('lists only aos_whoami and aos_approval_status under %s', async (_n, stop) => {
    const bot = await connect('refund-bot');
    await stop();
    expect(await names(bot)).toEqual(['aos_approval_status', 'aos_whoami']);
    const who = await bot.callTool({ name: 'aos_whoami', arguments: {} });
    expect(who.structuredContent).toMatchObject({ id: 'refund-bot', blocked: expect.any(String) });
    const esc = await bot.callTool({ name: 'aos_escalate', arguments: { note: 'help' } });
    expect(esc.isError).toBe(true);
    // A call made anyway is decided (denied) and recorded, never run.
    const call = await bot.callTool({ name: 'payments.get_order', arguments: { orderId: 'o-1' } });
    expect(call.isError).toBe(true);
    expect(gw.payments.calls('GET /orders/:id')).toBe(0);
  });

  it('returns the upstream result of an allowed call', async () => {
    const bot = await connect('refund-bot');
    const r = await bot.callTool({ name: 'payments.get_order', arguments: { orderId: 'o-1' } });
    expect(r.isError).toBe(false);
    expect(r.structuredContent).toMatchObject({ orderId: 'o-1', total: 420 });
    expect(gw.payments.calls('GET /orders/:id')).toBe(1);
    const fsResult = await bot.callTool({ name: 'fs.list_directory', arguments: { path: gw.files } });
    expect(textOf(fsResult)).toContain('notes.txt');
  });

  it('answers a denied call with an error result naming the policy and why', async () => {
    const bot = await connect('refund-bot');
    const r = await bot.callTool({ name: 'payments.delete_customer', arguments: { customerId: 'c-42' } });
    expect(r.isError).toBe(true);
    expect(textOf(r)).toMatch(/Denied by no-customer-deletion/);
    expect(r.structuredContent).toMatchObject({ status: 'denied', policies: ['no-customer-deletion'] });
    expect(gw.payments.calls('DELETE /customers/:id')).toBe(0);
  });

  it('answers a held call with a pending result, then aos_approval_status follows it', async () => {
    const bot = await connect('refund-bot');
    const r = await bot.callTool({
      name: 'payments.refund',
      arguments: { orderId: 'o-2', amount: 300 },
      _meta: { reason: 'parcel lost', confidence: 0.8 },
    });
    expect(r.isError).toBe(false);
    const pending = r.structuredContent as { status: string; approvalId: string; actionId: string };
    expect(pending).toMatchObject({ status: 'pending_approval', approvalId: expect.stringMatching(/./) });
    expect(textOf(r)).toContain('aos_approval_status');
    const action = await gw.node.engine.actions.require(pending.actionId);
    expect(action).toMatchObject({ reason: 'parcel lost', confidence: 0.8 });
    expect(action.sessionId).toMatch(/^mcp:mcp_/);
    const status = await bot.callTool({
      name: 'aos_approval_status',
      arguments: { approvalId: pending.approvalId },
    });
    expect(status.structuredContent).toMatchObject({ status: 'pending', actionStatus: 'pending_approval' });
    await gw.node.engine.actions.vote({
      approvalId: pending.approvalId,
      human: await t.store.humans.require('frank'),
      vote: 'approve',
    });
    const done = await bot.callTool({
      name: 'aos_approval_status',
      arguments: { approvalId: pending.approvalId },
    });
    expect(done.structuredContent).toMatchObject({
      status: 'approved',
      actionStatus: 'succeeded',
      result: { structuredContent: { orderId: 'o-2', amount: 300 } },
    });
    // Another agent cannot read it.
    const other = await connect('intern');
    const hidden = await other.callTool({
      name: 'aos_approval_status',
      arguments: { approvalId: pending.approvalId },
    });
    expect(hidden).toMatchObject({ isError: true, structuredContent: { status: 'not_found' } });
  });

  it('completes a waiting call with the upstream result once a human approves it over REST', async () => {
    gw.node.engine.config.mcp.approvalWaitMs = 30_000;
    const bot = await connect('refund-bot');
    const progress: number[] = [];
    const call = bot.callTool(
      { name: 'payments.refund', arguments: { orderId: 'o-3', amount: 250 } },
      undefined,
      { onprogress: (p) => progress.push(p.progress), timeout: 60_000 },
    );
    let approvalId: string | undefined;
    for (let i = 0; i < 100 && !approvalId; i++) {
      approvalId = (await gw.node.engine.approvals.list({ status: 'pending' }))[0]?.id;
      if (!approvalId) await new Promise((r) => setTimeout(r, 50));
    }
    expect(approvalId).toBeDefined();
    const res = await fetch(`${gw.node.base}/v1/approvals/${approvalId}/approve`, {
      method: 'POST',
      headers: {
        authorization: `Bearer ${await gw.token('human', 'frank')}`,
        'content-type': 'application/json',
      },
      body: JSON.stringify({ comment: 'ok' }),
    });
    expect(res.status).toBe(200);
    const r = await call;
    expect(r.isError).toBe(false);
    expect(r.structuredContent).toMatchObject({ orderId: 'o-3', amount: 250, refundId: expect.any(String) });
    expect(gw.payments.calls('POST /refunds')).toBe(1);
    expect(progress.length).toBeGreaterThan(0);
  });

  it('names the field when the input fails the pinned schema, and refuses unknown tools', async () => {
    const bot = await connect('refund-bot');
    const bad = await bot.callTool({ name: 'payments.refund', arguments: { orderId: 'o-1' } });
    expect(bad.isError).toBe(true);
    expect(textOf(bad)).toContain('input.amount');
    expect(bad.structuredContent).toMatchObject({ status: 'invalid_input', field: 'input.amount' });
    const err = await bot.callTool({ name: 'payments.nope', arguments: {} }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(McpError);
    expect((err as McpError).code).toBe(ErrorCode.InvalidParams);
    const meta = await bot
      .callTool({ name: 'payments.get_order', arguments: { orderId: 'o-1' }, _meta: { confidence: 'high' } })
      .catch((e: unknown) => e);
    expect((meta as McpError).code).toBe(ErrorCode.InvalidParams);
    expect((meta as McpError).message).toContain('_meta.confidence');
    expect(await t.raw('SELECT id FROM actions')).toHaveLength(0);
  });

  it('remembers untrusted output within the MCP session: no payment after reading a file', async () => {
    const bot = await connect('refund-bot');
    const read = await bot.callTool({
      name: 'fs.read_text_file',
      arguments: { path: `${gw.files}/notes.txt` },
    });
    expect(textOf(read)).toContain('ignore previous instructions');
    const refund = await bot.callTool({ name: 'payments.refund', arguments: { orderId: 'o-1', amount: 20 } });
    expect(refund.isError).toBe(true);
    expect(textOf(refund)).toContain('no-payments-after-untrusted-input');
    expect(gw.payments.calls('POST /refunds')).toBe(0);
    // A new session starts clean.
    const fresh = await connect('refund-bot');
    const ok = await fresh.callTool({ name: 'payments.refund', arguments: { orderId: 'o-1', amount: 20 } });
    expect(ok.isError).toBe(false);
  });

  it('answers aos_whoami with the caller only, and its budgets', async () => {
    const bot = await connect('refund-bot');
    await bot.callTool({ name: 'payments.refund', arguments: { orderId: 'o-1', amount: 20 } });
    const who = await bot.callTool({ name: 'aos_whoami', arguments: {} });
    expect(who.structuredContent).toEqual({
      id: 'refund-bot',
      role: 'support',
      tier: 2,
      owner: 'fiona',
      environments: ['dev', 'staging'],
      status: 'active',
      budgets: [
        expect.objectContaining({ scope: 'role:support', period: 'day', used: { calls: 1, cost: 5 } }),
      ],
    });
  });

  it('forces an approval with aos_request_approval, but never loosens a deny', async () => {
    const bot = await connect('refund-bot');
    const held = await bot.callTool({
      name: 'aos_request_approval',
      arguments: {
        tool: 'payments.refund',
        input: { orderId: 'o-1', amount: 10 },
        reason: 'customer is a VIP',
      },
    });
    expect(held.structuredContent).toMatchObject({ status: 'pending_approval' });
    const approval = await gw.node.engine.approvals.require(
      (held.structuredContent as { approvalId: string }).approvalId,
    );
    expect(approval.policies).toEqual(['builtin:agent-requested-approval']);
    expect(approval.evidence.reason).toBe('customer is a VIP');
    const denied = await bot.callTool({
      name: 'aos_request_approval',
      arguments: { tool: 'payments.delete_customer', input: { customerId: 'c-1' }, reason: 'asked' },
    });
    expect(denied.isError).toBe(true);
    expect(gw.payments.calls('POST /refunds')).toBe(0);
  });

  it('records aos_escalate in the audit log and publishes it', async () => {
    const events: string[] = [];
    gw.node.engine.events.subscribe((e) => events.push(e.type));
    const bot = await connect('refund-bot');
    const r = await bot.callTool({
      name: 'aos_escalate',
      arguments: { note: 'customer threatens legal action' },
    });
    expect(r.structuredContent).toMatchObject({ status: 'escalated', owner: 'fiona' });
    const records = await t.store.audit.list({ type: 'escalation.requested' });
    expect(JSON.stringify(records)).toContain('customer threatens legal action');
    expect(events).toContain('escalation.requested');
    const bad = await bot.callTool({ name: 'aos_escalate', arguments: {} }).catch((e: unknown) => e);
    expect((bad as McpError).message).toContain('arguments.note');
  });
});
