import fc from 'fast-check';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { backends } from '../../../../test/helpers/backends.js';
import type { TestStore } from '../../../../test/helpers/backends.js';
import { startGateway } from '../../../../test/helpers/mcp-gateway.js';
import type { Gateway } from '../../../../test/helpers/mcp-gateway.js';

const RUNS = 10_000;
const CONCURRENCY = 8;
/** No request may take longer than this: a hang fails the test. */
const REQUEST_TIMEOUT_MS = 15_000;

/** One hostile HTTP request to /mcp. */
interface Probe {
  method: string;
  headers: Record<string, string>;
  body?: string;
}

const TOOLS = [
  'payments.get_order',
  'payments.refund',
  'payments.delete_customer',
  'payments.reverse_refund',
  'aos_whoami',
  'aos_approval_status',
  'aos_request_approval',
  'aos_escalate',
];
const METHODS = [
  'tools/call',
  'tools/list',
  'initialize',
  'ping',
  'resources/list',
  'prompts/get',
  'notifications/initialized',
];

const id = fc.oneof(
  fc.integer(),
  fc.constant(Number.MAX_SAFE_INTEGER),
  fc.constant(1e308),
  fc.string({ maxLength: 20 }),
  fc.constant(null),
  fc.constant('9'.repeat(400)),
  fc.object({ maxDepth: 1 }),
);
const argumentsArb = fc.oneof(
  fc.record(
    {
      orderId: fc.oneof(fc.string({ maxLength: 12 }), fc.integer()),
      amount: fc.oneof(fc.double(), fc.integer()),
    },
    { requiredKeys: [] },
  ),
  fc.jsonValue({ maxDepth: 3 }),
  fc.dictionary(fc.string({ maxLength: 8 }), fc.jsonValue({ maxDepth: 2 }), { maxKeys: 5 }),
);
const rpc = fc.record(
  {
    jsonrpc: fc.oneof(fc.constant('2.0'), fc.constant('1.0'), fc.integer()),
    id,
    method: fc.oneof(fc.constantFrom(...METHODS), fc.string({ maxLength: 30 })),
    params: fc.oneof(
      fc.record(
        {
          name: fc.oneof(fc.constantFrom(...TOOLS), fc.string({ maxLength: 40 })),
          arguments: argumentsArb,
          _meta: fc.oneof(
            fc.record({ progressToken: fc.oneof(fc.string(), fc.integer()) }),
            fc.record(
              { confidence: fc.jsonValue({ maxDepth: 1 }), reason: fc.jsonValue({ maxDepth: 1 }) },
              { requiredKeys: [] },
            ),
            fc.jsonValue({ maxDepth: 1 }),
          ),
        },
        { requiredKeys: [] },
      ),
      fc.jsonValue({ maxDepth: 3 }),
    ),
  },
  { requiredKeys: [] },
);
/** Well-formed calls with plausible arguments, so hostile traffic also reaches the pipeline and the upstream. */
const plausibleCall = fc
  .record({
    id: fc.integer({ min: 1, max: 1e6 }),
    name: fc.constantFrom('payments.get_order', 'payments.refund', 'payments.delete_customer'),
    orderId: fc.constantFrom('o-1', 'o-2', 'bad id!', ''),
    amount: fc.oneof(fc.integer({ min: -5, max: 900 }), fc.constant(Number.MAX_VALUE)),
  })
  .map((c) =>
    JSON.stringify({
      jsonrpc: '2.0',
      id: c.id,
      method: 'tools/call',
      params: {
        name: c.name,
        arguments:
          c.name === 'payments.get_order'
            ? { orderId: c.orderId }
            : c.name === 'payments.refund'
              ? { orderId: c.orderId, amount: c.amount }
              : { customerId: c.orderId },
      },
    }),
  );
const JSON_HEADERS = { 'content-type': 'application/json', accept: 'application/json, text/event-stream' };
const body = fc.oneof(
  { weight: 6, arbitrary: rpc.map((m) => JSON.stringify(m)) },
  { weight: 3, arbitrary: plausibleCall },
  { weight: 2, arbitrary: fc.array(rpc, { maxLength: 150 }).map((m) => JSON.stringify(m)) },
  { weight: 1, arbitrary: fc.jsonValue().map((v) => JSON.stringify(v) ?? 'null') },
  { weight: 2, arbitrary: fc.string({ maxLength: 200 }) },
  { weight: 1, arbitrary: rpc.map((m) => JSON.stringify(m).slice(0, -3)) },
  {
    weight: 1,
    arbitrary: fc.integer({ min: 1, max: 3 }).map((mb) =>
      JSON.stringify({
        jsonrpc: '2.0',
        id: 1,
        method: 'tools/call',
        params: { name: 'payments.get_order', arguments: { orderId: 'x'.repeat(mb * 600_000) } },
      }),
    ),
  },
);
const headers = fc.oneof(
  { weight: 8, arbitrary: fc.constant(JSON_HEADERS) },
  {
    weight: 1,
    arbitrary: fc.record({
      'content-type': fc.constantFrom(
        'text/plain',
        'application/x-www-form-urlencoded',
        'multipart/form-data; boundary=x',
        'application/jsonx',
        '',
      ),
      accept: fc.constantFrom(
        'application/json',
        'text/event-stream',
        '*/*',
        'application/json, text/event-stream',
      ),
    }),
  },
  {
    weight: 1,
    arbitrary: fc
      .record({
        'mcp-protocol-version': fc.string({ maxLength: 12 }),
        'mcp-session-id': fc.string({ maxLength: 300 }),
      })
      .map((h) => ({ ...JSON_HEADERS, ...h })),
  },
);
const probe: fc.Arbitrary<Probe> = fc.oneof(
  { weight: 20, arbitrary: fc.record({ method: fc.constant('POST'), headers, body }) },
  { weight: 1, arbitrary: fc.record({ method: fc.constantFrom('GET', 'DELETE', 'PUT', 'PATCH'), headers }) },
);

describe.each(backends)('MCP gateway under hostile input on $name', (backend) => {
  let t: TestStore;
  let gw: Gateway;

  beforeEach(async (ctx) => {
    if (!backend.enabled) return ctx.skip();
    t = await backend.create();
    // No waiting for approvals: a held call answers at once.
    gw = await startGateway(t, { approvalWaitMs: 0 });
  });
  afterEach(async () => {
    await gw?.close();
    await t?.cleanup();
  });

  it(`answers ${RUNS} malformed or hostile messages without crashing, hanging or calling upstream undecided`, async () => {
    const tokens = [
      await gw.token('agent', 'refund-bot'),
      await gw.token('agent', 'reader'),
      await gw.token('human', 'frank'),
    ];
    const probes = fc.sample(fc.tuple(probe, fc.integer({ min: 0, max: 9 })), { numRuns: RUNS, seed: 4242 });
    const statuses = new Map<number, number>();
    const problems: string[] = [];
    let next = 0;
    const worker = async () => {
      while (next < probes.length) {
        const [p, who] = probes[next++] as [Probe, number];
        // Mostly authenticated (so the JSON-RPC layer is reached); some anonymous, some human.
        const auth = who < 7 ? tokens[who % 2] : who === 7 ? tokens[2] : undefined;
        const res = await fetch(`${gw.node.base}/mcp`, {
          method: p.method,
          headers: { ...p.headers, ...(auth ? { authorization: `Bearer ${auth}` } : {}) },
          ...(p.body !== undefined ? { body: p.body } : {}),
          signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
        });
        const text = await res.text();
        statuses.set(res.status, (statuses.get(res.status) ?? 0) + 1);
        if (res.status >= 500) problems.push(`${res.status} ${text.slice(0, 200)}`);
        else if (res.status >= 400 && res.status !== 405 && !/"error"/.test(text))
          problems.push(`${res.status} without an error body`);
        else if (res.status === 200 && !/"jsonrpc"/.test(text))
          problems.push(`200 without JSON-RPC: ${text.slice(0, 200)}`);
      }
    };
    await Promise.all(Array.from({ length: CONCURRENCY }, worker));
    expect(problems).toEqual([]);
    expect([...statuses.keys()].every((s) => s < 500)).toBe(true);
    // The probes reached every layer: refused at HTTP, refused as JSON-RPC, and decided by the pipeline.
    expect(statuses.get(200)).toBeGreaterThan(0);
    expect(statuses.get(400)).toBeGreaterThan(0);
    expect(statuses.get(401)).toBeGreaterThan(0);
    const decided = (await t.raw('SELECT COUNT(*) AS n FROM actions')) as { n: number | string }[];
    expect(Number(decided[0]?.n)).toBeGreaterThan(0);

    // Every upstream call has a decision record: calls made == actions that executed upstream.
    const executed = (await t.raw(
      "SELECT COUNT(*) AS n FROM actions WHERE cached = 0 AND status IN ('succeeded', 'failed', 'unknown_outcome', 'executing')",
    )) as { n: number | string }[];
    const upstreamCalls = Object.values(gw.payments.state.calls).reduce((a, b) => a + b, 0);
    expect(upstreamCalls).toBe(Number(executed[0]?.n));
    // Still serving, and the audit chain is intact.
    expect((await fetch(`${gw.node.base}/healthz`)).status).toBe(200);
    expect((await t.store.audit.verify()).ok).toBe(true);
  }, 300_000); // 10,000 requests: about a minute on an idle machine, more on a busy one
});
