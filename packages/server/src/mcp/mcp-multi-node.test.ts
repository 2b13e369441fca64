import type { Store } from '@autonomy-os/core';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { backends } from '../../../../test/helpers/backends.js';
import type { TestStore } from '../../../../test/helpers/backends.js';
import { connectClient, startGateway } from '../../../../test/helpers/mcp-gateway.js';
import type { Gateway, GatewayNode } from '../../../../test/helpers/mcp-gateway.js';

// Several stateless nodes share one PostgreSQL schema; SQLite is the single-node mode.
describe.each(backends.filter((b) => b.name === 'postgres'))(
  'MCP gateway on two nodes ($name)',
  (backend) => {
    let t: TestStore;
    let gw: Gateway;
    let storeB: Store;
    let nodeB: GatewayNode;

    beforeEach(async (ctx) => {
      if (!backend.enabled) return ctx.skip();
      t = await backend.create();
      gw = await startGateway(t, { approvalWaitMs: 30_000 });
      storeB = await t.reopen();
      nodeB = await gw.addNode(storeB);
    });
    afterEach(async () => {
      await gw?.close();
      await storeB?.close();
      await t?.cleanup();
    });

    it('serves one MCP session from both nodes, request by request', async () => {
      const hosts = [new URL(gw.node.base).host, new URL(nodeB.base).host];
      const served: string[] = [];
      let n = 0;
      const alternate: typeof fetch = (input, init) => {
        const url = new URL(input instanceof Request ? input.url : String(input));
        url.host = hosts[n++ % 2] as string;
        served.push(url.host);
        return fetch(url, init);
      };
      const client = await connectClient(gw.node.base, await gw.token('agent', 'refund-bot'), alternate);
      for (let i = 0; i < 3; i++) {
        expect((await client.listTools()).tools.map((x) => x.name)).toContain('payments.refund');
        const r = await client.callTool({
          name: 'payments.refund',
          arguments: { orderId: `o-${i}`, amount: 10 },
        });
        expect(r.isError).toBe(false);
      }
      expect(new Set(served)).toEqual(new Set(hosts));
      // One session id across both nodes: the pipeline sees one session.
      const sessions = (await t.raw('SELECT DISTINCT session_id FROM actions')) as { session_id: string }[];
      expect(sessions).toHaveLength(1);
      expect(gw.payments.calls('POST /refunds')).toBe(3);
      await client.close();
    });

    it('completes a call held on node A when a human approves it over REST on node B', async () => {
      const client = await connectClient(gw.node.base, await gw.token('agent', 'refund-bot'));
      const call = client.callTool(
        { name: 'payments.refund', arguments: { orderId: 'o-9', amount: 300 } },
        undefined,
        { timeout: 60_000 },
      );
      let approvalId: string | undefined;
      for (let i = 0; i < 200 && !approvalId; i++) {
        approvalId = (await nodeB.engine.approvals.list({ status: 'pending' }))[0]?.id;
        if (!approvalId) await new Promise((r) => setTimeout(r, 50));
      }
      const res = await fetch(`${nodeB.base}/v1/approvals/${approvalId}/approve`, {
        method: 'POST',
        headers: {
          authorization: `Bearer ${await gw.token('human', 'frank')}`,
          'content-type': 'application/json',
        },
        body: '{}',
      });
      expect(res.status).toBe(200);
      const r = await call;
      expect(r).toMatchObject({ isError: false, structuredContent: { orderId: 'o-9', amount: 300 } });
      expect(gw.payments.calls('POST /refunds')).toBe(1);
      await client.close();
    });
  },
);
