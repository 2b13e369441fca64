import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { backends } from '../../../../test/helpers/backends.js';
import type { TestStore } from '../../../../test/helpers/backends.js';
import { AOS_BIN } from '../../../../test/helpers/cli.js';
import { startGateway, textOf } from '../../../../test/helpers/mcp-gateway.js';
import type { Gateway } from '../../../../test/helpers/mcp-gateway.js';

/** Connects the SDK client to `aos mcp stdio` (the built CLI), as Claude Desktop or Claude Code would. */
async function bridge(base: string, token: string): Promise<Client> {
  const client = new Client({ name: 'aos-stdio-test', version: '1.0.0' });
  await client.connect(
    new StdioClientTransport({
      command: process.execPath,
      args: [AOS_BIN, 'mcp', 'stdio', '--url', base],
      env: { PATH: process.env.PATH ?? '', AOS_AGENT_TOKEN: token },
      stderr: 'pipe',
    }),
  );
  return client;
}

describe.each(backends)('aos mcp stdio on $name', (backend) => {
  let t: TestStore;
  let gw: Gateway;
  let clients: Client[] = [];

  beforeEach(async (ctx) => {
    if (!backend.enabled) return ctx.skip();
    t = await backend.create();
    gw = await startGateway(t, { approvalWaitMs: 400 });
  });
  afterEach(async () => {
    for (const c of clients) await c.close().catch(() => undefined);
    clients = [];
    await gw?.close();
    await t?.cleanup();
  });

  const connect = async (agent: string) => {
    const c = await bridge(gw.node.base, await gw.token('agent', agent));
    clients.push(c);
    return c;
  };

  it('lists the tools the agent may use and governs allowed, denied and held calls', async () => {
    const reader = await connect('reader');
    const readerTools = (await reader.listTools()).tools.map((x) => x.name);
    expect(readerTools).toContain('payments.get_order');
    expect(readerTools).not.toContain('payments.refund');

    const bot = await connect('refund-bot');
    const tools = (await bot.listTools()).tools.map((x) => x.name);
    expect(tools).toEqual(expect.arrayContaining(['aos_whoami', 'payments.refund', 'payments.get_order']));

    const allowed = await bot.callTool({ name: 'payments.get_order', arguments: { orderId: 'o-1' } });
    expect(allowed).toMatchObject({ isError: false, structuredContent: { orderId: 'o-1', total: 420 } });

    const denied = await bot.callTool({ name: 'payments.delete_customer', arguments: { customerId: 'c-1' } });
    expect(denied.isError).toBe(true);
    expect(textOf(denied)).toContain('no-customer-deletion');

    const held = await bot.callTool({ name: 'payments.refund', arguments: { orderId: 'o-2', amount: 300 } });
    expect(held.structuredContent).toMatchObject({ status: 'pending_approval' });
    expect(gw.payments.calls('POST /refunds')).toBe(0);
    expect(gw.payments.calls('DELETE /customers/:id')).toBe(0);
  });

  it('completes a waiting call once a human approves it over REST', async () => {
    gw.node.engine.config.mcp.approvalWaitMs = 30_000;
    const bot = await connect('refund-bot');
    const call = bot.callTool({ name: 'payments.refund', arguments: { orderId: 'o-3', amount: 200 } });
    let approvalId: string | undefined;
    for (let i = 0; i < 200 && !approvalId; i++) {
      approvalId = (await gw.node.engine.approvals.list({ status: 'pending' }))[0]?.id;
      if (!approvalId) await new Promise((r) => setTimeout(r, 50));
    }
    const res = await fetch(`${gw.node.base}/v1/approvals/${approvalId}/approve`, {
      method: 'POST',
      headers: {
        authorization: `Bearer ${await gw.token('human', 'frank')}`,
        'content-type': 'application/json',
      },
      body: '{}',
    });
    expect(res.status).toBe(200);
    expect((await call).structuredContent).toMatchObject({ orderId: 'o-3', amount: 200 });
    expect(gw.payments.calls('POST /refunds')).toBe(1);
  });

  it('answers every request with an error when the token is refused', async () => {
    const client = new Client({ name: 'aos-stdio-test', version: '1.0.0' });
    await expect(
      client.connect(
        new StdioClientTransport({
          command: process.execPath,
          args: [AOS_BIN, 'mcp', 'stdio', '--url', gw.node.base, '--token', `aos_${'B'.repeat(43)}`],
          stderr: 'pipe',
        }),
      ),
    ).rejects.toThrow(/authentication required/);
    await client.close();
  });
});
