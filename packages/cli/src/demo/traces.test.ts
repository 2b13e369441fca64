import crypto from 'node:crypto';
import fs from 'node:fs';
import { Writable } from 'node:stream';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type Database from 'better-sqlite3';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { buildReceipt } from '@autonomy-os/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startOtlpReceiver } from '../../../../test/helpers/otlp-receiver.js';
import type { OtlpReceiver, ReceivedSpan } from '../../../../test/helpers/otlp-receiver.js';
import { runScenario, startDemo } from './demo.js';
import type { RunningDemo } from './demo.js';

const demoDir = fileURLToPath(new URL('../../../../examples/demo', import.meta.url));

// One demo scenario for the file, exported to a receiver this test starts; the assertions read what arrived.
describe('OpenTelemetry traces of the demo scenario', { timeout: 180_000 }, () => {
  let receiver: OtlpReceiver;
  let demo: RunningDemo;
  let dataDir: string;
  let spans: ReceivedSpan[];
  // The engine's and the server's JSON log lines of the whole scenario.
  const logLines: string[] = [];
  const log = new Writable({
    write(chunk: Buffer, _enc, done) {
      logLines.push(...chunk.toString('utf8').split('\n').filter(Boolean));
      done();
    },
  });

  beforeAll(async () => {
    receiver = await startOtlpReceiver();
    process.env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT = receiver.url;
    dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'aos-traces-'));
    try {
      demo = await startDemo({ demoDir, dataDir, port: 0, seed: 42, log });
    } finally {
      delete process.env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT;
    }
    const summary = await runScenario(demo, { timeoutMs: 120_000 });
    expect(summary.ok).toBe(true);
    await demo.engine.tracing.flush();
    spans = receiver.spans;
  });

  afterAll(async () => {
    await demo?.stop();
    await receiver?.close();
    fs.rmSync(dataDir, { recursive: true, force: true });
  });

  const byId = () => new Map(spans.map((s) => [s.spanId, s]));

  it('exports one trace per workflow run, with step spans under the run and action spans under the steps', async () => {
    const runs = await demo.engine.workflows.list({ limit: 100 });
    expect(runs.length).toBeGreaterThan(0);
    const ids = byId();
    for (const run of runs) {
      const roots = spans.filter(
        (s) => s.attributes['aos.run.id'] === run.id && s.name.startsWith('invoke_workflow'),
      );
      expect(roots, `run ${run.id}`).toHaveLength(1);
      const root = roots[0] as ReceivedSpan;
      expect(root.parentSpanId).toBeUndefined();
      expect(root.attributes).toMatchObject({
        'gen_ai.operation.name': 'invoke_workflow',
        'aos.workflow': run.workflow,
      });
      const steps = spans.filter((s) => s.traceId === root.traceId && s.name.startsWith('aos.step '));
      expect(steps.length).toBeGreaterThan(0);
      for (const s of steps) expect(s.parentSpanId).toBe(root.spanId);
      // Every action of the run is an execute_tool span in the run's trace, whose parent is one of its steps.
      const actions = (await demo.engine.actions.list({ limit: 1000 })).filter(
        (a) => a.sessionId === `wf:${run.id}`,
      );
      expect(actions.length).toBeGreaterThan(0);
      for (const a of actions) {
        expect(a.traceId).toBe(root.traceId);
        const span = ids.get(a.spanId as string);
        expect(span, `action ${a.id}`).toBeDefined();
        expect(span?.name).toBe(`execute_tool ${a.tool}`);
        expect(ids.get(span?.parentSpanId as string)?.name).toMatch(/^aos\.step /);
        expect(span?.attributes).toMatchObject({
          'gen_ai.operation.name': 'execute_tool',
          'gen_ai.tool.name': a.tool,
          'gen_ai.tool.call.id': a.id,
          'gen_ai.agent.id': a.agentId,
          'aos.decision': a.outcome,
          'aos.policy.hash': a.policyHash,
        });
      }
    }
  });

  it('nests the decision, the approval wait and the upstream call under the action span', async () => {
    const ids = byId();
    const approved = (await demo.engine.actions.list({ limit: 1000 })).find(
      (a) => a.approvalId && a.status === 'succeeded',
    );
    expect(approved).toBeDefined();
    const children = spans.filter((s) => s.parentSpanId === approved?.spanId).map((s) => s.name);
    expect(children).toEqual(
      expect.arrayContaining(['aos.decision', 'aos.approval_wait', `aos.upstream_call ${approved?.tool}`]),
    );
    expect(ids.get(approved?.spanId as string)?.attributes['aos.approval.id']).toBe(approved?.approvalId);
  });

  it('shows the trace id in the receipt', async () => {
    const [a] = await demo.engine.actions.list({ limit: 1 });
    const receipt = await buildReceipt(
      {
        actions: demo.engine.actions,
        approvals: demo.engine.approvals,
        tools: demo.engine.tools,
        audit: demo.engine.store.audit,
      },
      a?.id as string,
    );
    expect(receipt.action.traceId).toMatch(/^[0-9a-f]{32}$/);
    expect(receipt.action.traceId).toBe(a?.traceId);
  });

  it('passes the trace on to the upstream MCP server in params._meta', () => {
    const db = (demo.upstreams.tickets as unknown as { db: Database.Database }).db;
    const calls = (db.prepare('SELECT body FROM requests').all() as { body: string | null }[])
      .map((r) =>
        r.body
          ? (JSON.parse(r.body) as { method?: string; params?: { _meta?: { traceparent?: string } } })
          : {},
      )
      .filter((m) => m.method === 'tools/call');
    expect(calls.length).toBeGreaterThan(0);
    const ids = byId();
    for (const c of calls) {
      const [, traceId, spanId] = (c.params?._meta?.traceparent ?? '').split('-');
      const upstream = ids.get(spanId as string);
      expect(upstream?.name).toMatch(/^aos\.upstream_call tickets\./);
      expect(upstream?.traceId).toBe(traceId);
    }
  });

  it('joins the trace an agent passes in params._meta: agent, gateway and upstream in one trace', async () => {
    const traceId = crypto.randomBytes(16).toString('hex');
    const agentSpanId = crypto.randomBytes(8).toString('hex');
    const client = new Client({ name: 'traced-agent', version: '1.0.0' });
    await client.connect(
      new StreamableHTTPClientTransport(new URL(demo.mcpUrl), {
        requestInit: { headers: { authorization: `Bearer ${demo.agentTokens['support-bot'] as string}` } },
      }),
    );
    try {
      const result = await client.callTool({
        name: 'tickets.get_ticket',
        arguments: { ticketId: 't-1001' },
        _meta: { traceparent: `00-${traceId}-${agentSpanId}-01` },
      });
      expect(result.isError).toBeFalsy();
    } finally {
      await client.close();
    }
    await demo.engine.tracing.flush();
    const inTrace = receiver.spans.filter((s) => s.traceId === traceId);
    const server = inTrace.find((s) => s.name === 'tools/call tickets.get_ticket');
    expect(server).toMatchObject({ parentSpanId: agentSpanId, kind: 2 });
    expect(server?.attributes).toMatchObject({
      'mcp.method.name': 'tools/call',
      'gen_ai.tool.name': 'tickets.get_ticket',
      'gen_ai.operation.name': 'execute_tool',
    });
    expect(typeof server?.attributes['jsonrpc.request.id']).toBe('string');
    const action = inTrace.find((s) => s.name === 'execute_tool tickets.get_ticket');
    expect(action?.parentSpanId).toBe(server?.spanId);
    // The upstream MCP server got the same trace in its request's _meta.
    const db = (demo.upstreams.tickets as unknown as { db: Database.Database }).db;
    const bodies = (db.prepare('SELECT body FROM requests').all() as { body: string | null }[]).map(
      (r) => r.body ?? '',
    );
    expect(bodies.some((b) => b.includes(`"traceparent":"00-${traceId}-`))).toBe(true);
  });

  it('logs every action with the ids traces use, and no secret', async () => {
    const entries = logLines.map((l) => JSON.parse(l) as Record<string, unknown>);
    const actions = await demo.engine.actions.list({ limit: 1000 });
    const logged = new Map(entries.filter((e) => e.actionId).map((e) => [e.actionId, e]));
    for (const a of actions.filter((x) => !['pending_approval', 'executing'].includes(x.status))) {
      expect(logged.get(a.id), `action ${a.id}`).toMatchObject({ agentId: a.agentId, traceId: a.traceId });
    }
    expect(entries.some((e) => typeof e.runId === 'string' && e.actionId)).toBe(true);
    // Planted secrets: the upstreams' API keys in the secret store, and every sign-in token the demo issued.
    const planted = [
      ...(await Promise.all(
        ['demo-erp-key', 'demo-flags-key', 'demo-tickets-key'].map((n) => demo.engine.secrets.get(n)),
      )),
      ...Object.values(demo.agentTokens),
      ...Object.values(demo.people),
    ].filter((v): v is string => typeof v === 'string' && v.length > 8);
    expect(planted.length).toBeGreaterThanOrEqual(6);
    const text = logLines.join('\n');
    for (const secret of planted) expect(text.includes(secret), 'a secret in the logs').toBe(false);
  });
});
