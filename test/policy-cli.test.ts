import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Agent, Engine } from '@autonomy-os/core';
import { PG_URL, backends } from './helpers/backends.js';
import type { TestStore } from './helpers/backends.js';
import { aos } from './helpers/cli.js';
import {
  SUPPORT_DESK,
  seedSupportDesk,
  startPayments,
  supportDeskConfig,
  supportDeskEngine,
} from './helpers/support-desk.js';
import type { Payments } from './helpers/support-desk.js';

const POLICIES = path.join(SUPPORT_DESK, 'policies');
const TOOLS = path.join(SUPPORT_DESK, 'tools.yaml');
const SESSIONS = path.join(SUPPORT_DESK, 'sessions.jsonl');

let tmp: string;
beforeEach(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'aos-policy-'));
});
afterEach(() => fs.rmSync(tmp, { recursive: true, force: true }));

/** A copy of the example policies with a change, as a reviewer would propose it. */
function proposePolicies(edit: (text: string) => string): string {
  const dir = path.join(tmp, 'proposed');
  fs.cpSync(POLICIES, dir, { recursive: true });
  const file = path.join(dir, 'support.cedar');
  fs.writeFileSync(file, edit(fs.readFileSync(file, 'utf8')));
  return dir;
}

describe('aos policy check', () => {
  it('prints one JSON line per call of the example sessions, and nothing else', () => {
    const r = aos(['policy', 'check', '--policies', POLICIES, '--tools', TOOLS, '--sessions', SESSIONS]);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toBe(
      [
        '{"session":"s-refund-small","index":0,"tool":"payments.get_order","outcome":"allow","policies":["support-read"]}',
        '{"session":"s-refund-small","index":1,"tool":"payments.refund","outcome":"allow","policies":["support-refunds"]}',
        '{"session":"s-refund-large","index":0,"tool":"payments.refund","outcome":"approval","policies":["support-refunds","large-refund"]}',
        '{"session":"s-refund-large","index":1,"tool":"payments.refund","outcome":"deny","policies":["builtin:default-deny"]}',
        '{"session":"s-refund-large","index":2,"tool":"payments.delete_customer","outcome":"deny","policies":["no-customer-deletion"]}',
        '{"session":"s-injection","index":0,"tool":"tickets.read_ticket","outcome":"allow","policies":["support-read"]}',
        '{"session":"s-injection","index":1,"tool":"payments.refund","outcome":"deny","policies":["no-payments-after-untrusted-input"]}',
        '{"session":"s-reader","index":0,"tool":"payments.get_order","outcome":"allow","policies":["support-read"]}',
        '{"session":"s-reader","index":1,"tool":"payments.refund","outcome":"deny","policies":["builtin:tier-0-read-only"]}',
        '{"session":"s-prod","index":0,"tool":"payments.get_order","outcome":"allow","policies":["support-read"]}',
        '{"session":"s-prod","index":1,"tool":"payments.refund","outcome":"deny","policies":["builtin:tier-2-non-production"]}',
        '',
      ].join('\n'),
    );
  });

  it('reads JSON tools files and honours --production-environments and --environment', () => {
    const tools = path.join(tmp, 'tools.json');
    fs.writeFileSync(
      tools,
      JSON.stringify([
        {
          name: 'payments.refund',
          effect: 'write',
          risk: 'high',
          inputSchema: { type: 'object', properties: { amount: { type: 'number' } }, required: ['amount'] },
        },
      ]),
    );
    const sessions = path.join(tmp, 's.jsonl');
    fs.writeFileSync(
      sessions,
      `${JSON.stringify({
        session: 'x',
        agent: { id: 'bot', role: 'support', tier: 2 },
        calls: [{ tool: 'payments.refund', input: { amount: 10 } }],
      })}\n`,
    );
    const base = ['policy', 'check', '--policies', POLICIES, '--tools', tools, '--sessions', sessions];
    expect(aos([...base, '--environment', 'live']).stdout).toContain('"outcome":"allow"');
    expect(aos([...base, '--environment', 'live', '--production-environments', 'live']).stdout).toContain(
      '"policies":["builtin:tier-2-non-production"]',
    );
  });

  it('reads MCP tools/list entries (inputSchema, outputSchema, annotations) and checks inputs against them', () => {
    const tools = path.join(tmp, 'tools.json');
    fs.writeFileSync(
      tools,
      JSON.stringify({
        connector: 'payments',
        tools: [
          {
            name: 'refund',
            title: 'Refund',
            description: 'Refund part or all of an order',
            inputSchema: {
              type: 'object',
              properties: { orderId: { type: 'string' }, amount: { type: 'number' } },
              required: ['orderId', 'amount'],
            },
            outputSchema: { type: 'object', properties: { refundId: { type: 'string' } } },
            annotations: { readOnlyHint: false, destructiveHint: false, idempotentHint: false },
          },
        ],
      }),
    );
    const sessions = path.join(tmp, 's.jsonl');
    const line = (amount: unknown) =>
      `${JSON.stringify({
        session: 'x',
        agent: { id: 'bot', role: 'support', tier: 2 },
        calls: [{ tool: 'payments.refund', input: { orderId: 'o-1', amount } }],
      })}\n`;
    fs.writeFileSync(sessions, line(300.5));
    const r = aos(['policy', 'check', '--policies', POLICIES, '--tools', tools, '--sessions', sessions]);
    expect(r.stderr).toBe('');
    expect(r.stdout).toBe(
      '{"session":"x","index":0,"tool":"payments.refund","outcome":"approval","policies":["support-refunds","large-refund"]}\n',
    );
    fs.writeFileSync(sessions, line('lots'));
    const bad = aos(['policy', 'check', '--policies', POLICIES, '--tools', tools, '--sessions', sessions]);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('s.jsonl:1: calls.0.input.amount: must be number');
  });

  it.each([
    [
      'an unknown tool',
      '{"session":"a","agent":{"id":"x","role":"r","tier":1},"calls":[{"tool":"crm.nope","input":{}}]}',
      "s.jsonl:2: calls.0.tool: unknown tool 'crm.nope'",
    ],
    ['a missing tier', '{"session":"a","agent":{"id":"x","role":"r"},"calls":[]}', 's.jsonl:2: agent.tier: '],
    ['bad JSON', '{"session":', 's.jsonl:2: not valid JSON'],
  ])('exits 2 naming file, line and field for %s, printing nothing on stdout', (_what, line, message) => {
    const sessions = path.join(tmp, 's.jsonl');
    fs.writeFileSync(
      sessions,
      `{"session":"ok","agent":{"id":"x","role":"support","tier":2},"calls":[{"tool":"payments.get_order","input":{"orderId":"o-1"}}]}\n${line}\n`,
    );
    const r = aos(['policy', 'check', '--policies', POLICIES, '--tools', TOOLS, '--sessions', sessions]);
    expect(r.code).toBe(2);
    expect(r.stdout).toBe('');
    expect(r.stderr).toContain(`aos: error: ${sessions.slice(0, -'s.jsonl'.length)}${message}`);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
  });
});

describe('aos policy test', () => {
  it('passes the example policy tests', () => {
    const r = aos(['policy', 'test', path.join(SUPPORT_DESK, 'policy-tests.yaml')]);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain(
      'PASS  refunds over 100 wait for finance: approval (support-refunds, large-refund)\n',
    );
    expect(r.stdout.trimEnd().split('\n').at(-1)).toMatch(/^\d+ passed, 0 failed$/);
  });

  it('prints FAIL with the actual outcome and exits 1 when a case fails', () => {
    const file = path.join(tmp, 'tests.yaml');
    fs.writeFileSync(
      file,
      [
        `policies: ${JSON.stringify(path.relative(tmp, POLICIES))}`,
        'tools:',
        '  - name: payments.refund',
        '    effect: write',
        '    risk: high',
        '    untrustedOutput: false',
        '    inputSchema: { type: object, properties: { amount: { type: number } }, required: [amount] }',
        'cases:',
        '  - name: small refund',
        '    agent: { id: bot, role: support, tier: 2 }',
        '    tool: payments.refund',
        '    input: { amount: 50 }',
        '    expect: allow',
        '  - name: wrong expectation',
        '    agent: { id: bot, role: support, tier: 2 }',
        '    tool: payments.refund',
        '    input: { amount: 300 }',
        '    expect: allow',
        '  - name: wrong policy',
        '    agent: { id: bot, role: support, tier: 2 }',
        '    tool: payments.refund',
        '    input: { amount: 50 }',
        '    expect: allow',
        '    policies: [large-refund]',
      ].join('\n'),
    );
    const r = aos(['policy', 'test', file]);
    expect(r.code).toBe(1);
    expect(r.stdout).toBe(
      [
        'PASS  small refund: allow (support-refunds)',
        'FAIL  wrong expectation: expected allow, got approval (support-refunds, large-refund)',
        'FAIL  wrong policy: got allow (support-refunds), missing large-refund',
        '1 passed, 2 failed',
        '',
      ].join('\n'),
    );
  });

  it('exits 2 naming the field of a bad case', () => {
    const file = path.join(tmp, 'tests.yaml');
    fs.writeFileSync(
      file,
      `policies: ${JSON.stringify(POLICIES)}\ntools: []\ncases:\n  - { name: x, agent: { id: a, role: r, tier: 1 }, tool: t.x, expect: maybe }\n`,
    );
    const r = aos(['policy', 'test', file]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/^aos: error: .*tests\.yaml: cases\.0\.expect: /);
  });
});

describe('aos policy validate', () => {
  it('prints the counts and the policy hash', () => {
    const r = aos(['policy', 'validate', '--policies', POLICIES]);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(
      /permit\/forbid: 5 \(3 permit, 2 forbid\) in 1 file\napproval rules: 1 \(1 permit, 0 forbid exemptions\) in 1 file\ntypes: not checked \(give --tools or --config to check policies against the tools\)\nhash: [0-9a-f]{64}\n$/,
    );
  });

  it('reports every problem by file and policy and exits 1', () => {
    const dir = proposePolicies(
      (t) => `${t}\n@id("broken") permit (principal, action, resource) when { context. };\n`,
    );
    fs.writeFileSync(
      path.join(dir, 'approvals', 'bad.cedar'),
      '@id("slow") @expires("soon") @quorum("two") permit (principal, action, resource);',
    );
    fs.writeFileSync(
      path.join(dir, 'extra.cedar'),
      '@id("x") @quorum("2") permit (principal, action, resource);',
    );
    const r = aos(['policy', 'validate', '--policies', dir]);
    expect(r.code).toBe(1);
    expect(r.stdout).toContain('error: support.cedar: cannot parse');
    expect(r.stdout).toContain(
      'error: approvals/bad.cedar: policy slow: @quorum("two") is not a whole number',
    );
    expect(r.stdout).toContain("error: approvals/bad.cedar: policy slow: @expires: 'soon' is not a duration");
    expect(r.stdout).toContain('warning: extra.cedar: policy x: @quorum only take effect on approval rules');
    expect(r.stdout).toContain('invalid: 3 error(s)');
  });

  it('refuses the issue-9 cap `amount > 10000` on a decimal amount, naming file, policy and fix', () => {
    const dir = proposePolicies((t) => t);
    fs.writeFileSync(
      path.join(dir, 'caps.cedar'),
      '@id("refund-bot-refunds")\npermit (principal == Agent::"refund-bot", action == Action::"payments.refund", resource);\n' +
        '@id("refund-cap")\nforbid (principal, action == Action::"payments.refund", resource) when { context.input.amount > 10000 };\n',
    );
    const r = aos(['policy', 'validate', '--policies', dir, '--tools', TOOLS]);
    expect(r.code).toBe(1);
    expect(r.stdout).toContain(
      'error: caps.cedar: policy refund-cap: unexpected type: expected Long but saw decimal; ' +
        '`context.input.amount` is a decimal here: compare with `decimal("10000.0")` or `.greaterThan(…)`, ' +
        'e.g. `context.input.amount.greaterThan(decimal("10000.0"))`',
    );
    expect(r.stdout).toContain('invalid: 1 error(s)');
    // The same set is refused by aos config validate (against aos.yaml's HTTP operations) …
    const config = path.join(tmp, 'aos.yaml');
    fs.writeFileSync(
      config,
      fs
        .readFileSync(path.join(SUPPORT_DESK, 'aos.yaml'), 'utf8')
        .replace('policies: ./policies', `policies: ${dir}`),
    );
    const c = aos(['config', 'validate', config]);
    expect(c.code).toBe(2);
    expect(c.stderr).toContain('caps.cedar: policy refund-cap:');
    expect(c.stderr).toContain('`context.input.amount` is a decimal here');
    // … and by aos policy check, which takes the schemas from the tools file.
    const check = aos(['policy', 'check', '--policies', dir, '--tools', TOOLS, '--sessions', SESSIONS]);
    expect(check.code).toBe(2);
    expect(check.stdout).toBe('');
    expect(check.stderr).toContain('policy refund-cap:');
  });

  it('type-checks the example set against the tools file and against aos.yaml', () => {
    const r = aos(['policy', 'validate', '--policies', POLICIES, '--tools', TOOLS]);
    expect(r.stdout).toContain('types: checked against 5 tools');
    expect(r.code).toBe(0);
    const c = aos([
      'policy',
      'validate',
      '--policies',
      POLICIES,
      '--config',
      path.join(SUPPORT_DESK, 'aos.yaml'),
    ]);
    expect(c.stdout).toContain('types: checked against 4 tools');
    expect(c.code).toBe(0);
  });

  it('flags a comparison on an attribute one of the tools lacks, and accepts it scoped or guarded', () => {
    const dir = proposePolicies((t) => t);
    const write = (text: string) => fs.writeFileSync(path.join(dir, 'extra.cedar'), text);
    write(
      '@id("any-big") forbid (principal, action, resource) when { context.input.amount.greaterThan(decimal("1.0")) };',
    );
    const r = aos(['policy', 'validate', '--policies', dir, '--tools', TOOLS]);
    expect(r.code).toBe(1);
    expect(r.stdout).toMatch(
      /error: extra\.cedar: policy any-big: attribute `input\.amount` in context for Action::"payments\.get_order" not found: declare `amount` in the inputSchema of payments\.get_order/,
    );
    write(
      '@id("any-big") forbid (principal, action, resource) when { context.input has amount && context.input.amount.greaterThan(decimal("1.0")) };',
    );
    expect(aos(['policy', 'validate', '--policies', dir, '--tools', TOOLS]).code).toBe(0);
  });

  it('exits 2 for a missing directory', () => {
    const r = aos(['policy', 'validate', '--policies', path.join(tmp, 'nope')]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/^aos: error: policies: policy directory .* does not exist\n$/);
  });
});

describe.each(backends)('aos policy replay on $name', (backend) => {
  let t: TestStore;
  let payments: Payments;
  let engine: Engine;
  let ids: Record<string, string>;

  beforeEach(async (ctx) => {
    if (!backend.enabled) return ctx.skip();
    t = await backend.create();
    payments = await startPayments();
    await seedSupportDesk(t);
    engine = await supportDeskEngine(t, supportDeskConfig(payments.url));
    const bot = (await t.store.agents.require('refund-bot')) as Agent;
    const submit = async (tool: string, input: Record<string, unknown>) =>
      (await engine.actions.submit((await t.store.agents.require('refund-bot')) as Agent, { tool, input }))
        .id;
    ids = {
      read: (await engine.actions.submit(bot, { tool: 'payments.get_order', input: { orderId: 'o-1' } })).id,
      small: await submit('payments.refund', { orderId: 'o-1', amount: 50 }),
      mid: await submit('payments.refund', { orderId: 'o-2', amount: 150 }),
      large: await submit('payments.refund', { orderId: 'o-3', amount: 300 }),
    };
    await engine.killSwitches.set({ scope: 'global', active: true }, 'human:ada');
    ids.killed = await submit('payments.refund', { orderId: 'o-4', amount: 10 });
    await engine.close();
  });
  afterEach(async () => {
    await payments?.close();
    await t?.cleanup();
  });

  const flags = () =>
    t.schema
      ? ['--database-url', `${PG_URL}?schema=${t.schema}`, '--data', t.dataDir]
      : ['--data', t.dataDir];

  it('prints each changed action and a summary', () => {
    const dir = proposePolicies((x) => x.replace('decimal("500.0")', 'decimal("200.0")'));
    const r = aos([...flags(), 'policy', 'replay', '--since', '1h', '--policies', dir]);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const lines = r.stdout.trimEnd().split('\n');
    expect(lines.slice(0, -1)).toEqual([
      `${ids.large} payments.refund refund-bot: approval -> deny (builtin:default-deny)`,
      `${ids.killed} payments.refund refund-bot: skipped (kill switch global engaged)`,
    ]);
    expect(lines.at(-1)).toMatch(
      /^4 decisions replayed under policy [0-9a-f]{12}: 1 changed \(approval->deny 1\), 3 unchanged, 1 skipped \(not policy decisions\)$/,
    );
  });

  it('prints JSON lines with --json', () => {
    const dir = proposePolicies((x) =>
      x.replace(
        'action in Action::"read", resource);',
        'action in Action::"read", resource) when { false };',
      ),
    );
    const r = aos([...flags(), 'policy', 'replay', '--since', '2000-01-01', '--policies', dir, '--json']);
    expect(r.code).toBe(0);
    const lines = r.stdout
      .trimEnd()
      .split('\n')
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(lines).toHaveLength(2);
    expect(lines[0]).toMatchObject({
      actionId: ids.read,
      tool: 'payments.get_order',
      agent: 'refund-bot',
      before: 'allow',
      after: 'deny',
      beforePolicies: ['support-read'],
      policies: ['builtin:default-deny'],
    });
    expect(lines[1]).toMatchObject({
      summary: {
        replayed: 4,
        changed: 1,
        unchanged: 3,
        skipped: 1,
        transitions: { 'allow->deny': 1 },
        skippedActions: [{ actionId: ids.killed, reason: 'kill switch global engaged' }],
      },
    });
  });

  it('replays nothing from before --since and rejects a bad date', () => {
    const future = new Date(Date.now() + 3_600_000).toISOString();
    const r = aos([...flags(), 'policy', 'replay', '--since', future, '--policies', POLICIES]);
    expect(r.stdout).toMatch(/^0 decisions replayed .*: 0 changed, 0 unchanged, 0 skipped/);
    const bad = aos([...flags(), 'policy', 'replay', '--since', 'last week', '--policies', POLICIES]);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/^aos: error: since: 'last week' is not a date/);
  });
});
