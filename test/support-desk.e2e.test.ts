import { spawn } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { PG_URL } from './helpers/backends.js';
import { AOS_BIN, aos } from './helpers/cli.js';
import { startServe } from './helpers/serve.js';
import type { ServeProcess } from './helpers/serve.js';
import { PAYMENTS_KEY, SUPPORT_DESK } from './helpers/support-desk.js';
import { execFileSync } from 'node:child_process';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';

function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = net.createServer();
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(port));
    });
  });
}

interface Targets {
  name: string;
  enabled: boolean;
  flags: (dir: string, schema: string) => string[];
}
const targets: Targets[] = [
  { name: 'sqlite', enabled: true, flags: (dir) => ['--data', dir] },
  {
    name: 'postgres',
    enabled: !!PG_URL,
    flags: (dir, schema) => ['--data', dir, '--database-url', `${PG_URL}?schema=${schema}`],
  },
];

describe.each(targets)('the support desk example, as a user runs it, on $name', (target) => {
  let dir: string;
  let schema: string;
  let flags: string[];
  let config: string;
  let paymentsUrl: string;
  let payments: ReturnType<typeof spawn>;
  let server: ServeProcess | undefined;
  const tokens: Record<string, string> = {};

  const run = (...args: string[]) => {
    const r = aos([...flags, ...args]);
    if (r.code !== 0) throw new Error(`aos ${args.join(' ')} exited ${r.code}: ${r.stderr}`);
    return r.stdout;
  };
  const upstreamLog = async () =>
    (
      (await (await fetch(`${paymentsUrl}/_calls`)).json()) as {
        log: { route: string; authorization: string | null }[];
      }
    ).log;
  const calls = async (route: string) =>
    ((await (await fetch(`${paymentsUrl}/_calls`)).json()) as { calls: Record<string, number> }).calls[
      route
    ] ?? 0;
  const api = async (token: string, method: string, p: string, body?: unknown) => {
    const res = await fetch(`${server?.url}${p}`, {
      method,
      headers: { authorization: `Bearer ${token}`, ...(body ? { 'content-type': 'application/json' } : {}) },
      ...(body ? { body: JSON.stringify(body) } : {}),
    });
    // eslint-disable-next-line @typescript-eslint/no-explicit-any -- response bodies are read loosely in this test
    return { status: res.status, body: (await res.json()) as Record<string, any> };
  };
  const act = (
    agent: string,
    tool: string,
    input: Record<string, unknown>,
    extra: Record<string, unknown> = {},
  ) => api(tokens[agent] as string, 'POST', '/v1/actions', { tool, input, ...extra });

  beforeEach(async (ctx) => {
    if (!target.enabled) return ctx.skip();
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'aos-e2e-'));
    schema = `aos_e2e_${crypto.randomBytes(5).toString('hex')}`;
    flags = target.flags(dir, schema);
    const port = await freePort();
    paymentsUrl = `http://127.0.0.1:${port}`;
    payments = spawn(process.execPath, [path.join(SUPPORT_DESK, 'payments-server.mjs'), String(port)], {
      env: { ...process.env, PAYMENTS_API_KEY: PAYMENTS_KEY },
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    await new Promise<void>((r) => payments.stdout?.once('data', () => r()));
    // The documented example, pointed at this run's payments port.
    config = path.join(dir, 'aos.yaml');
    fs.cpSync(path.join(SUPPORT_DESK, 'policies'), path.join(dir, 'policies'), { recursive: true });
    fs.writeFileSync(
      config,
      fs
        .readFileSync(path.join(SUPPORT_DESK, 'aos.yaml'), 'utf8')
        .replaceAll('http://127.0.0.1:7431', paymentsUrl),
    );
    run('init');
    execFileSync(process.execPath, [AOS_BIN, ...flags, 'secrets', 'set', 'payments-api-key'], {
      input: `${PAYMENTS_KEY}\n`,
    });
    run('humans', 'add', 'fiona', '--groups', 'approvers:finance');
    run('humans', 'add', 'frank', '--groups', 'approvers:finance');
    run('humans', 'add', 'olivia', '--groups', 'approvers:support-leads');
    run('agents', 'create', 'refund-bot', '--role', 'support', '--owner', 'fiona', '--tier', '2');
    run('agents', 'create', 'reader', '--role', 'support', '--owner', 'olivia', '--tier', '0');
    for (const a of ['refund-bot', 'reader']) tokens[a] = run('tokens', 'issue', '--agent', a).trim();
    for (const h of ['frank', 'fiona']) tokens[h] = run('tokens', 'issue', '--human', h).trim();
    server = await startServe([...flags, 'serve', '--config', config, '--port', '0', '--quiet']);
  });
  afterEach(async () => {
    if (!target.enabled) return;
    await server?.stop();
    payments?.kill('SIGKILL');
    if (target.name === 'postgres') {
      execFileSync('psql', [
        PG_URL as string,
        '-q',
        '-c',
        `SET client_min_messages=warning; DROP SCHEMA IF EXISTS ${schema} CASCADE`,
      ]);
    }
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('allows, approves, denies and refuses as documented, each step audited and explained', async () => {
    const read = await act('refund-bot', 'payments.get_order', { orderId: 'o-1' });
    expect(read).toMatchObject({ status: 201, body: { outcome: 'allowed', status: 'succeeded' } });

    const small = await act('refund-bot', 'payments.refund', { orderId: 'o-1', amount: 40 });
    expect(small.body).toMatchObject({ outcome: 'allowed', status: 'succeeded' });

    const large = await act(
      'refund-bot',
      'payments.refund',
      { orderId: 'o-2', amount: 300 },
      { reason: 'parcel lost', confidence: 0.8 },
    );
    expect(large.body).toMatchObject({ outcome: 'pending_approval', status: 'pending_approval' });
    expect(await calls('POST /refunds')).toBe(1);
    // Regression: `aos approvals` had a remote mode that no option could turn on.
    const remoteList = aos([
      'approvals',
      'list',
      '--json',
      '--url',
      server?.url ?? '',
      '--token',
      tokens.frank ?? '',
    ]);
    expect(remoteList.stderr).toBe('');
    expect((JSON.parse(remoteList.stdout) as { id: string }[]).map((a) => a.id)).toEqual([
      large.body.approvalId,
    ]);
    const owner = await api(
      tokens.fiona as string,
      'POST',
      `/v1/approvals/${large.body.approvalId}/approve`,
      {},
    );
    expect(owner.status).toBe(403); // the example bars the agent's owner
    const byAgent = await api(
      tokens['refund-bot'] as string,
      'POST',
      `/v1/approvals/${large.body.approvalId}/approve`,
      {},
    );
    expect(byAgent.status).toBe(403);
    const approved = await api(
      tokens.frank as string,
      'POST',
      `/v1/approvals/${large.body.approvalId}/approve`,
      { comment: 'ok' },
    );
    expect(approved.body.action).toMatchObject({ status: 'succeeded' });
    expect(await calls('POST /refunds')).toBe(2);

    const forbidden = await act('refund-bot', 'payments.delete_customer', { customerId: 'c-42' });
    expect(forbidden.body).toMatchObject({
      outcome: 'denied',
      decision: { policies: ['no-customer-deletion'] },
    });
    const tier0 = await act('reader', 'payments.refund', { orderId: 'o-1', amount: 5 });
    expect(tier0.body).toMatchObject({
      outcome: 'denied',
      decision: { policies: ['builtin:tier-0-read-only'] },
    });
    run('agents', 'pause', 'refund-bot');
    const paused = await act('refund-bot', 'payments.get_order', { orderId: 'o-1' });
    expect(paused.body).toMatchObject({
      outcome: 'denied',
      decision: { policies: ['builtin:agent-paused'] },
    });
    expect(await calls('DELETE /customers/:id')).toBe(0);

    const explained = run('explain', large.body.id as string);
    expect(explained).toMatch(/pending approval and is now succeeded/);
    expect(explained).toMatch(/support-refunds, large-refund/);
    expect(explained).toMatch(/frank approved/);
    expect(explained).toMatch(/aos undo act_/);
    expect(run('explain', forbidden.body.id as string)).toMatch(/forbidden by policy no-customer-deletion/);
    expect(JSON.parse(run('audit', 'verify', '--json'))).toMatchObject({ ok: true });
    const types = (JSON.parse(run('audit', 'list', '--json', '--limit', '1000')) as { type: string }[]).map(
      (r) => r.type,
    );
    expect(types.filter((t) => t === 'action.decided')).toHaveLength(6);
    // The agent never sees the upstream credential; it is nowhere in the log.
    expect(run('audit', 'list', '--json', '--limit', '1000')).not.toContain(PAYMENTS_KEY);
    // And the agent's own token never reaches the upstream.
    const log = await upstreamLog();
    expect(log.map((e) => e.route)).toEqual(['GET /orders/:id', 'POST /refunds', 'POST /refunds']);
    expect(log.filter((e) => e.authorization !== null)).toEqual([]);
    expect(JSON.stringify(log)).not.toContain(tokens['refund-bot'] as string);
  });

  it('rejects malformed requests with a 4xx naming the problem and executes nothing', async () => {
    const bad = await fetch(`${server?.url}/v1/actions`, {
      method: 'POST',
      headers: { authorization: `Bearer ${tokens['refund-bot']}`, 'content-type': 'application/json' },
      body: '{"tool": "payments.refund", ',
    });
    expect(bad.status).toBe(400);
    expect((await act('refund-bot', 'payments.nope', {})).status).toBe(404);
    const schemaFail = await act('refund-bot', 'payments.refund', { orderId: 'o-1', amount: 'lots' });
    expect(schemaFail).toMatchObject({ status: 400, body: { error: { field: 'input.amount' } } });
    const huge = await act('refund-bot', 'payments.refund', {
      orderId: 'o-1',
      amount: 1,
      note: 'x'.repeat(2_000_000),
    });
    expect(huge.status).toBe(413);
    const wrongType = await fetch(`${server?.url}/v1/actions`, {
      method: 'POST',
      headers: { authorization: `Bearer ${tokens['refund-bot']}`, 'content-type': 'text/plain' },
      body: 'hello',
    });
    expect(wrongType.status).toBe(415);
    expect((await api(tokens['refund-bot'] as string, 'GET', '/v1/actions')).body.actions).toEqual([]);
    expect(await calls('POST /refunds')).toBe(0);
  });

  it('survives kill -9 between decision and outcome: unknown_outcome, pending approvals kept, nothing repeated', async () => {
    const pending = await act('refund-bot', 'payments.refund', { orderId: 'o-5', amount: 200 });
    expect(pending.body.outcome).toBe('pending_approval');
    await server?.stop();
    server = await startServe([...flags, 'serve', '--config', config, '--port', '0', '--quiet'], {
      AOS_CRASH_POINT: 'action.after-upstream',
    });
    const crashed = await fetch(`${server.url}/v1/actions`, {
      method: 'POST',
      headers: { authorization: `Bearer ${tokens['refund-bot']}`, 'content-type': 'application/json' },
      body: JSON.stringify({
        tool: 'payments.refund',
        input: { orderId: 'o-6', amount: 20 },
        idempotencyKey: 'crash-1',
      }),
    }).catch((e: unknown) => e);
    expect(crashed).toBeInstanceOf(Error);
    expect(await server.exited()).toBe(null); // killed by SIGKILL
    expect(await calls('POST /refunds')).toBe(1);

    server = await startServe([...flags, 'serve', '--config', config, '--port', '0', '--quiet']);
    const list = (await api(tokens['refund-bot'] as string, 'GET', '/v1/actions')).body.actions as {
      id: string;
      status: string;
      input: { orderId: string };
    }[];
    const lost = list.find((a) => a.input.orderId === 'o-6');
    expect(lost?.status).toBe('unknown_outcome');
    // Retrying with the same idempotency key returns the recorded unknown outcome; it is never re-executed.
    const retry = await act(
      'refund-bot',
      'payments.refund',
      { orderId: 'o-6', amount: 20 },
      { idempotencyKey: 'crash-1' },
    );
    expect(retry.body).toMatchObject({ id: lost?.id, status: 'unknown_outcome', replayed: true });
    expect(await calls('POST /refunds')).toBe(1);
    // The approval requested before the crash is still pending and still works.
    const approved = await api(
      tokens.frank as string,
      'POST',
      `/v1/approvals/${pending.body.approvalId}/approve`,
      {},
    );
    expect(approved.body.action).toMatchObject({ status: 'succeeded' });
    expect(await calls('POST /refunds')).toBe(2);
    expect(run('explain', lost?.id as string)).toMatch(/action.unknown_outcome by system/);
    expect(JSON.parse(run('audit', 'verify', '--json'))).toMatchObject({ ok: true });
  });

  it('serves one MCP session from two aos serve processes behind a round-robin balancer (PostgreSQL)', async (ctx) => {
    if (target.name !== 'postgres') return ctx.skip();
    const second = await startServe([...flags, 'serve', '--config', config, '--port', '0', '--quiet']);
    try {
      const hosts = [new URL(server?.url as string).host, new URL(second.url).host];
      const served = new Set<string>();
      let n = 0;
      const balancer: typeof fetch = (input, init) => {
        const url = new URL(input instanceof Request ? input.url : String(input));
        url.host = hosts[n++ % 2] as string;
        served.add(url.host);
        return fetch(url, init);
      };
      const client = new Client({ name: 'e2e', version: '1.0.0' });
      await client.connect(
        new StreamableHTTPClientTransport(new URL(`${server?.url}/mcp`), {
          fetch: balancer,
          requestInit: { headers: { authorization: `Bearer ${tokens['refund-bot']}` } },
        }),
      );
      const names = (await client.listTools()).tools.map((t) => t.name);
      expect(names).toEqual(expect.arrayContaining(['payments.get_order', 'payments.refund', 'aos_whoami']));
      const read = await client.callTool({ name: 'payments.get_order', arguments: { orderId: 'o-1' } });
      expect(read.isError).toBeFalsy();
      // A call that needs approval waits on whichever node took it; a finance approver approves on the other one.
      const waiting = client.callTool(
        { name: 'payments.refund', arguments: { orderId: 'o-8', amount: 250 } },
        undefined,
        { timeout: 60_000 },
      );
      let approvalId: string | undefined;
      for (let i = 0; i < 100 && !approvalId; i++) {
        const res = await fetch(`${second.url}/v1/approvals?status=pending`, {
          headers: { authorization: `Bearer ${tokens.frank}` },
        });
        approvalId = ((await res.json()) as { approvals: { id: string }[] }).approvals[0]?.id;
        if (!approvalId) await new Promise((r) => setTimeout(r, 100));
      }
      const approve = await fetch(`${second.url}/v1/approvals/${approvalId}/approve`, {
        method: 'POST',
        headers: { authorization: `Bearer ${tokens.frank}`, 'content-type': 'application/json' },
        body: '{}',
      });
      expect(approve.status).toBe(200);
      const done = (await waiting) as { isError?: boolean; structuredContent?: { refundId?: string } };
      expect(done.isError).toBeFalsy();
      expect(done.structuredContent?.refundId).toMatch(/^rf_/);
      expect(served.size).toBe(2);
      expect(await calls('GET /orders/:id')).toBe(1);
      expect(await calls('POST /refunds')).toBe(1);
      // The agent's bearer token authenticated it at /mcp and went no further.
      expect((await upstreamLog()).filter((e) => e.authorization !== null)).toEqual([]);
      await client.close();
    } finally {
      await second.stop();
    }
  });
});
