import crypto from 'node:crypto';
import {
  Client as ModernClient,
  StreamableHTTPClientTransport as ModernTransport,
} from '@modelcontextprotocol/client';
import { Tracing, emitActionSpan, parseConfig } from '@autonomy-os/core';
import type { ActionView } from '@autonomy-os/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { backends } from '../../../test/helpers/backends.js';
import type { TestStore } from '../../../test/helpers/backends.js';
import { startGateway } from '../../../test/helpers/mcp-gateway.js';
import type { Gateway } from '../../../test/helpers/mcp-gateway.js';
import { startOtlpReceiver } from '../../../test/helpers/otlp-receiver.js';
import type { OtlpReceiver, ReceivedSpan } from '../../../test/helpers/otlp-receiver.js';

const sqlite = backends.find((b) => b.name === 'sqlite');
if (!sqlite) throw new Error('no sqlite backend');

/** A caller's own trace: a fresh trace id and the span id it calls from. */
const callerTrace = () => {
  const traceId = crypto.randomBytes(16).toString('hex');
  const spanId = crypto.randomBytes(8).toString('hex');
  return { traceId, spanId, traceparent: `00-${traceId}-${spanId}-01` };
};

// A credential-shaped value under an innocent key: the audit redaction must catch it on spans too.
const PLANTED = 'sk_test_plantedSecretValue0123456789';

/**
 * Trace context through the gateway's fronts (MCP 2026-07-28, REST) to an HTTP connector, and opt-in content on
 * action spans, all exported to an OTLP receiver on 127.0.0.1. One gateway for the file, with content recorded.
 */
describe('traces through the gateway', () => {
  let t: TestStore;
  let gw: Gateway;
  let receiver: OtlpReceiver;
  let token: string;

  beforeAll(async () => {
    receiver = await startOtlpReceiver();
    t = await sqlite.create();
    gw = await startGateway(t, {
      approvalWaitMs: 600,
      telemetry: { traces: { endpoint: receiver.url, recordContent: true } },
    });
    token = await gw.token('agent', 'refund-bot');
  }, 60_000);
  afterAll(async () => {
    await gw?.close();
    await t?.cleanup();
    await receiver?.close();
  });

  const spansOf = async (traceId: string): Promise<ReceivedSpan[]> => {
    await gw.node.engine.tracing.flush();
    return receiver.spans.filter((s) => s.traceId === traceId);
  };

  it('gives a 2026-07-28 tools/call a server span in the caller trace, parent of the execute_tool span', async () => {
    const c = new ModernClient(
      { name: 'aos-test-2026', version: '1.0.0' },
      { versionNegotiation: { mode: { pin: '2026-07-28' } } },
    );
    await c.connect(
      new ModernTransport(new URL(`${gw.node.base}/mcp`), {
        requestInit: { headers: { authorization: `Bearer ${token}` } },
      }),
    );
    const caller = callerTrace();
    const tool = 'payments.get_order';
    try {
      const ok = await c.callTool({
        name: tool,
        arguments: { orderId: 'o-7' },
        _meta: { traceparent: caller.traceparent },
      });
      expect(ok.isError).toBeFalsy();
    } finally {
      await c.close();
    }
    const spans = await spansOf(caller.traceId);
    const server = spans.find((s) => s.name === `tools/call ${tool}`);
    expect(server).toMatchObject({ parentSpanId: caller.spanId, kind: 2 });
    expect(server?.attributes).toMatchObject({
      'mcp.method.name': 'tools/call',
      'mcp.protocol.version': '2026-07-28',
      'gen_ai.tool.name': tool,
    });
    expect(typeof server?.attributes['jsonrpc.request.id']).toBe('string');
    expect(server?.attributes['error.type']).toBeUndefined();
    const action = spans.find((s) => s.name === `execute_tool ${tool}`);
    expect(action?.parentSpanId).toBe(server?.spanId);
  });

  it('marks a 2026-07-28 call whose result isError with error.type=tool_error', async () => {
    const c = new ModernClient(
      { name: 'aos-test-2026', version: '1.0.0' },
      { versionNegotiation: { mode: { pin: '2026-07-28' } } },
    );
    await c.connect(
      new ModernTransport(new URL(`${gw.node.base}/mcp`), {
        requestInit: { headers: { authorization: `Bearer ${token}` } },
      }),
    );
    const caller = callerTrace();
    try {
      // The pinned schema refuses this input: a tool error the model can fix.
      const bad = await c.callTool({
        name: 'payments.get_order',
        arguments: { orderId: 'no spaces allowed' },
        _meta: { traceparent: caller.traceparent },
      });
      expect(bad.isError).toBe(true);
    } finally {
      await c.close();
    }
    const server = (await spansOf(caller.traceId)).find((s) => s.name === 'tools/call payments.get_order');
    expect(server?.attributes['error.type']).toBe('tool_error');
  });

  it('joins POST /v1/actions to an incoming traceparent and sends the trace on to the HTTP upstream', async () => {
    const caller = callerTrace();
    const before = gw.payments.state.log.length;
    const res = await fetch(`${gw.node.base}/v1/actions`, {
      method: 'POST',
      headers: {
        authorization: `Bearer ${token}`,
        'content-type': 'application/json',
        traceparent: caller.traceparent,
      },
      body: JSON.stringify({ tool: 'payments.get_order', input: { orderId: 'o-8' } }),
    });
    expect(res.status).toBe(201);
    const { id } = (await res.json()) as { id: string };
    const action = (await gw.node.engine.actions.get(id)) as ActionView;
    expect(action.traceId).toBe(caller.traceId);
    expect(action.parentSpanId).toBe(caller.spanId);
    // The upstream saw the context of the connector's call span, in the caller's trace.
    const seen = gw.payments.state.log.slice(before) as { traceparent?: string | null }[];
    expect(seen).toHaveLength(1);
    const [, traceId, spanId] = (seen[0]?.traceparent ?? '').split('-');
    expect(traceId).toBe(caller.traceId);
    const upstream = (await spansOf(caller.traceId)).find((s) => s.spanId === spanId);
    expect(upstream?.name).toBe('aos.upstream_call payments.get_order');
    expect(upstream?.parentSpanId).toBe(action.spanId);
  });

  it('records redacted arguments and result on the action span when recordContent is on, and none by default', async () => {
    const caller = callerTrace();
    const res = await fetch(`${gw.node.base}/v1/actions`, {
      method: 'POST',
      headers: {
        authorization: `Bearer ${token}`,
        'content-type': 'application/json',
        traceparent: caller.traceparent,
      },
      body: JSON.stringify({
        tool: 'payments.refund',
        input: { orderId: 'o-9', amount: 20, note: `customer pasted ${PLANTED}` },
      }),
    });
    const { id } = (await res.json()) as { id: string };
    const action = (await gw.node.engine.actions.get(id)) as ActionView;
    expect(action.status).toBe('succeeded');
    const span = (await spansOf(caller.traceId)).find((s) => s.spanId === action.spanId);
    const args = span?.attributes['gen_ai.tool.call.arguments'];
    expect(JSON.parse(args as string)).toEqual({
      amount: 20,
      note: 'customer pasted [REDACTED]',
      orderId: 'o-9',
    });
    const result = span?.attributes['gen_ai.tool.call.result'] as string;
    expect(typeof result).toBe('string');
    expect(JSON.parse(result)).toMatchObject({ structuredContent: action.result?.structuredContent });
    expect(JSON.stringify(receiver.spans)).not.toContain(PLANTED);

    // The default configuration puts neither on the span.
    const config = parseConfig({ telemetry: { traces: { endpoint: receiver.url } } });
    expect(config.telemetry.traces.recordContent).toBe(false);
    const plain = Tracing.create({ config: config.telemetry.traces });
    const again = { ...action, spanId: crypto.randomBytes(8).toString('hex') };
    emitActionSpan(plain, again);
    await plain.shutdown();
    const off = receiver.spans.find((s) => s.spanId === again.spanId);
    expect(off?.name).toBe('execute_tool payments.refund');
    expect(off?.attributes['gen_ai.tool.call.arguments']).toBeUndefined();
    expect(off?.attributes['gen_ai.tool.call.result']).toBeUndefined();
  });
});
