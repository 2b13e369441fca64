import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { UserError } from '../errors.js';
import { loadPolicyDirectory, policyBundleFromTexts } from './policy-bundle.js';
import { loadPolicyTestFile, runPolicyTests } from './policy-tests.js';
import {
  defaultDecisionOptions,
  loadToolCatalog,
  parseSessionsJsonl,
  parseToolCatalog,
  simulateSession,
} from './simulate.js';
import type { SimulatedAgent, SimulatedCall } from './simulate.js';

const EXAMPLE = fileURLToPath(new URL('../../../../examples/support-desk/', import.meta.url));
const bundle = loadPolicyDirectory(path.join(EXAMPLE, 'policies'));
const tools = loadToolCatalog(path.join(EXAMPLE, 'tools.yaml'));
const sim = { bundle, tools, options: defaultDecisionOptions(), defaultEnvironment: 'dev' };

const bot: SimulatedAgent = { id: 'refund-bot', role: 'support', tier: 2 };
const reader: SimulatedAgent = { id: 'reader', role: 'support', tier: 0 };

function run(agent: SimulatedAgent, calls: Omit<SimulatedCall, 'input'>[] & { input?: object }[]) {
  return simulateSession(
    {
      session: 's',
      agent,
      line: 1,
      calls: calls.map((c) => ({ input: {}, ...c }) as SimulatedCall),
    },
    sim,
  );
}

describe('simulateSession on the support-desk policies', () => {
  it.each([
    ['allows a read', bot, 'payments.get_order', { orderId: 'o-1' }, 'allow', ['support-read']],
    [
      'allows a refund of 50',
      bot,
      'payments.refund',
      { orderId: 'o-1', amount: 50 },
      'allow',
      ['support-refunds'],
    ],
    [
      'holds a refund of 300 for approval',
      bot,
      'payments.refund',
      { orderId: 'o-1', amount: 300 },
      'approval',
      ['support-refunds', 'large-refund'],
    ],
    [
      'denies a refund of 900 by default',
      bot,
      'payments.refund',
      { orderId: 'o-1', amount: 900 },
      'deny',
      ['builtin:default-deny'],
    ],
    [
      'denies deleting a customer',
      bot,
      'payments.delete_customer',
      { customerId: 'c-1' },
      'deny',
      ['no-customer-deletion'],
    ],
    [
      'denies a tier-0 write',
      reader,
      'payments.refund',
      { orderId: 'o-1', amount: 20 },
      'deny',
      ['builtin:tier-0-read-only'],
    ],
  ] as const)('%s', (_name, agent, tool, input, outcome, policies) => {
    const [r] = run(agent, [{ tool, input }]);
    expect(r).toMatchObject({ session: 's', index: 0, tool, outcome, policies });
  });

  it('denies a refund after an allowed read of untrusted output', () => {
    const r = run(bot, [
      { tool: 'tickets.read_ticket', input: { ticketId: 't-1' } },
      { tool: 'payments.refund', input: { orderId: 'o-1', amount: 50 } },
    ]);
    expect(r.map((x) => [x.outcome, x.policies])).toEqual([
      ['allow', ['support-read']],
      ['deny', ['no-payments-after-untrusted-input']],
    ]);
  });

  it('does not count a denied untrusted read as having run', () => {
    const r = run({ ...bot, environments: ['prod'] }, [
      { tool: 'tickets.read_ticket', input: { ticketId: 't-1' }, environment: 'dev' },
      { tool: 'payments.refund', input: { orderId: 'o-1', amount: 50 }, environment: 'prod' },
    ]);
    expect(r[0]).toMatchObject({ outcome: 'deny', policies: ['builtin:environment'] });
    // The refund is denied by the tier rule (production), not by the untrusted-input forbid.
    expect(r[1]).toMatchObject({ outcome: 'deny', policies: ['builtin:tier-2-non-production'] });
    expect(r[1]?.decision.risk).toBe(80);
  });

  it('counts every earlier call in session.calls and only allowed ones in session.tools', () => {
    const counting = policyBundleFromTexts([
      {
        file: 'p.cedar',
        text: `@id("first-reads") permit (principal, action in Action::"read", resource) when { context.session.calls < 2 };
@id("refund-after-lookup") permit (principal, action == Action::"payments.refund", resource)
  when { context.session.tools.contains("payments.get_order") };`,
      },
    ]);
    const r = simulateSession(
      {
        session: 's',
        agent: bot,
        line: 1,
        calls: ['payments.refund', 'payments.get_order', 'payments.refund', 'payments.get_order'].map(
          (tool) => ({ tool, input: { orderId: 'o-1', amount: 10 } }),
        ),
      },
      { ...sim, bundle: counting },
    );
    expect(r.map((x) => [x.outcome, x.policies])).toEqual([
      ['deny', ['builtin:default-deny']],
      ['allow', ['first-reads']],
      ['allow', ['refund-after-lookup']],
      ['deny', ['builtin:default-deny']],
    ]);
  });

  it('permits a fractional amount: a `number` argument is a decimal whatever it looks like', () => {
    const [r] = run(bot, [{ tool: 'payments.refund', input: { orderId: 'o-1', amount: 49.5 } }]);
    expect(r).toMatchObject({ outcome: 'allow', policies: ['support-refunds'] });
    expect(r?.decision.errors).toEqual([]);
  });

  it('refuses a call whose input its tool’s inputSchema rejects, naming the field', () => {
    const line = JSON.stringify({
      session: 'a',
      agent: { id: 'x', role: 'support', tier: 2 },
      calls: [{ tool: 'payments.refund', input: { orderId: 'o-1', amount: 12.34567 } }],
    });
    expect(() => parseSessionsJsonl(line, 'f.jsonl', tools)).toThrow(
      /^f\.jsonl:1: calls\.0\.input\.amount: must have at most four decimal places/,
    );
    expect(() => parseSessionsJsonl(line.replace('12.34567', '"12"'), 'f.jsonl', tools)).toThrow(
      expect.objectContaining({ field: 'f.jsonl:1: calls.0.input.amount' }),
    );
  });

  it('defaults the agent environments to the call environment and names the policy hash', () => {
    const [r] = run(bot, [{ tool: 'payments.get_order', input: { orderId: 'o-1' }, environment: 'staging' }]);
    expect(r?.outcome).toBe('allow');
    expect(r?.decision.policyHash).toBe(bundle.hash);
  });
});

describe('parseSessionsJsonl', () => {
  it('parses sessions and skips blank lines', () => {
    const text = `{"session":"a","agent":{"id":"x","role":"support","tier":2},"calls":[{"tool":"payments.get_order","input":{"orderId":"o-1"}}]}\n\n`;
    expect(parseSessionsJsonl(text, 'f.jsonl', tools)).toMatchObject([{ session: 'a', line: 1 }]);
  });

  it.each([
    ['not json', 'f.jsonl:2: not valid JSON'],
    ['{"session":"a","agent":{"id":"x","role":"r"},"calls":[]}', 'f.jsonl:2: agent.tier: '],
    [
      '{"session":"a","agent":{"id":"x","role":"r","tier":1},"calls":[{"tool":"nope","input":{}}]}',
      "f.jsonl:2: calls.0.tool: unknown tool 'nope'",
    ],
    ['{"session":"a","agent":{"id":"x","role":"r","tier":9},"calls":[]}', 'f.jsonl:2: agent.tier: '],
    [
      '{"session":"a","agent":{"id":"x","role":"r","tier":1},"calls":[{"tool":"payments.refund","input":[]}]}',
      'f.jsonl:2: calls.0.input: ',
    ],
  ])('names the file, line and field for %s', (line, message) => {
    const ok = '{"session":"a","agent":{"id":"x","role":"r","tier":1},"calls":[]}';
    const err = (() => {
      try {
        parseSessionsJsonl(`${ok}\n${line}\n`, 'f.jsonl', tools);
      } catch (e) {
        return e;
      }
      return undefined;
    })();
    expect(err).toBeInstanceOf(UserError);
    expect((err as Error).message.startsWith(message)).toBe(true);
  });
});

describe('parseToolCatalog', () => {
  it('fills the engine defaults and the connector from the name', () => {
    const c = parseToolCatalog([{ name: 'crm.update', effect: 'write' }], 't.yaml');
    expect(c.get('crm.update')).toEqual({
      name: 'crm.update',
      connector: 'crm',
      metadata: {
        effect: 'write',
        destructive: true,
        idempotent: false,
        untrustedOutput: true,
        risk: 'high',
      },
    });
  });

  it('reads an MCP tools/list result: annotations give the metadata, our fields override, names take the connector', () => {
    const c = parseToolCatalog(
      {
        connector: 'crm',
        tools: [
          {
            name: 'lookup',
            description: 'Find a contact',
            inputSchema: { type: 'object', properties: { q: { type: 'string' } } },
            outputSchema: { type: 'object' },
            annotations: { readOnlyHint: true, idempotentHint: true },
          },
          {
            name: 'wipe',
            inputSchema: { type: 'object' },
            annotations: { destructiveHint: true },
            risk: 'medium',
          },
        ],
      },
      't.yaml',
    );
    expect(c.get('crm.lookup')).toMatchObject({
      connector: 'crm',
      metadata: { effect: 'read', idempotent: true },
      inputSchema: { properties: { q: { type: 'string' } } },
    });
    expect(c.get('crm.wipe')?.metadata).toMatchObject({ effect: 'write', destructive: true, risk: 'medium' });
    expect(() => parseToolCatalog([{ name: 'a.b', inputSchema: { type: 5 } }], 't.yaml')).toThrow(
      /t\.yaml: 0\.inputSchema: not a valid JSON Schema/,
    );
  });

  it('rejects duplicates and unknown fields, naming them', () => {
    expect(() =>
      parseToolCatalog(
        {
          tools: [
            { name: 'a.b', effect: 'read' },
            { name: 'a.b', effect: 'read' },
          ],
        },
        't.yaml',
      ),
    ).toThrow("t.yaml: tools.1.name: duplicate tool 'a.b'");
    expect(() => parseToolCatalog([{ name: 'a.b', effect: 'read', risky: 1 }], 't.yaml')).toThrow(
      /t\.yaml: 0/,
    );
  });
});

describe('policy tests', () => {
  it('passes every case of the example file', () => {
    const results = runPolicyTests(loadPolicyTestFile(path.join(EXAMPLE, 'policy-tests.yaml')));
    expect(results.filter((r) => !r.pass)).toEqual([]);
    expect(results.length).toBeGreaterThanOrEqual(10);
  });
});
