/**
 * An error is never a reason to allow (issue 9, "policy errors fail open"): a forbid whose condition errors denies,
 * an approval rule whose condition errors asks for approval, a permit whose condition errors does not permit, and each
 * is recorded with its error. These bundles are built without the load-time type check on purpose: it is the last
 * line of defence for policies that error anyway (a tool re-defined after the set loaded, a Long overflow).
 */
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { metadataFromAnnotations } from '../connectors/index.js';
import { decide } from './decide.js';
import type { DecisionInput } from './decide.js';
import { policyBundleFromTexts, readCedarFiles } from './policy-bundle.js';
import { defaultDecisionOptions } from './simulate.js';

const EXAMPLE = fileURLToPath(new URL('../../../../examples/support-desk/policies/', import.meta.url));
const options = defaultDecisionOptions();

/** The issue's reproduction, with the example's rules as the issue found them (Long comparisons). */
const ISSUE_SUPPORT = `
@id("support-read")
permit (principal in Role::"support", action in Action::"read", resource);
@id("support-refunds")
permit (principal in Role::"support", action == Action::"payments.refund", resource)
when { context.input.amount <= 500 };
@id("no-payments-after-untrusted-input")
forbid (principal, action in Action::"write", resource in Connector::"payments")
when { context.session.readUntrusted };
`;
const ISSUE_APPROVALS = `
@id("large-refund") @approvers("finance")
permit (principal, action == Action::"payments.refund", resource)
when { context.input.amount > 100 };
`;
const PERMIT_AND_CAP = `
@id("refund-bot-refunds")
permit (principal == Agent::"refund-bot", action == Action::"payments.refund", resource);
@id("refund-cap")
forbid (principal, action == Action::"payments.refund", resource) when { context.input.amount > 10000 };
`;

function refund(amount: number, inputSchema?: Record<string, unknown>): DecisionInput {
  return {
    agent: { id: 'refund-bot', role: 'support', tier: 2, owner: 'fiona', environments: ['dev'] },
    tool: {
      name: 'payments.refund',
      connector: 'payments',
      metadata: metadataFromAnnotations({ readOnlyHint: false, destructiveHint: false }, { risk: 'high' }),
      ...(inputSchema ? { inputSchema } : {}),
    },
    input: { orderId: 'o-1', amount },
    environment: 'dev',
    session: { tools: [], readUntrusted: false, calls: 0 },
  };
}

const issueBundle = policyBundleFromTexts(
  [
    { file: 'support.cedar', text: ISSUE_SUPPORT },
    { file: 'caps.cedar', text: PERMIT_AND_CAP },
  ],
  [{ file: 'refunds.cedar', text: ISSUE_APPROVALS }],
);

describe('decide when a policy condition errors', () => {
  it('denies a refund of 50000.5 whose cap compares a decimal with a Long, and records the error', () => {
    const d = decide(refund(50000.5), issueBundle, options);
    expect(d.outcome).toBe('deny');
    expect(d.policies).toContain('refund-cap');
    expect(d.reasons.join('\n')).toMatch(/refund-cap.*could not be evaluated.*fail closed/);
    expect(d.errors.map((e) => e.policyId)).toContain('refund-cap');
  });

  it('asks for approval for 300.5 when the approval rule `amount > 100` errors', () => {
    const cap = policyBundleFromTexts(
      [
        { file: 'support.cedar', text: ISSUE_SUPPORT },
        { file: 'permit.cedar', text: PERMIT_AND_CAP.split('@id("refund-cap")')[0] as string },
      ],
      [{ file: 'refunds.cedar', text: ISSUE_APPROVALS }],
    );
    const d = decide(refund(300.5), cap, options);
    expect(d.outcome).toBe('approval');
    expect(d.approval).toMatchObject({ group: 'approvers:finance', policies: ['large-refund'] });
    expect(d.reasons.join('\n')).toMatch(/large-refund.*could not be evaluated.*fail closed/);
    expect(d.errors.map((e) => e.policyId)).toEqual(
      expect.arrayContaining(['support-refunds', 'large-refund']),
    );
  });

  it('does not permit through a permit whose condition errors (default deny), recording why', () => {
    const only = policyBundleFromTexts([{ file: 'support.cedar', text: ISSUE_SUPPORT }]);
    const d = decide(refund(50.5), only, options);
    expect(d.outcome).toBe('deny');
    expect(d.policies).toEqual(['builtin:default-deny']);
    expect(d.errors).toMatchObject([{ policyId: 'support-refunds' }]);
    expect(d.checks.find((c) => c.name === 'policy')?.detail).toMatch(/support-refunds.*errored/);
  });

  it('keeps an exemption that evaluates, but an exemption that errors does not exempt', () => {
    const exemptions = (cond: string) =>
      policyBundleFromTexts(
        [{ file: 'permit.cedar', text: 'permit (principal, action, resource);' }],
        [
          {
            file: 'rules.cedar',
            text: `@id("always") permit (principal, action, resource);
                   @id("exempt") forbid (principal, action, resource) when { ${cond} };`,
          },
        ],
      );
    expect(decide(refund(5), exemptions('true'), options).outcome).toBe('allow');
    const d = decide(refund(5), exemptions('context.input.orderId > 1'), options);
    expect(d.outcome).toBe('approval');
    expect(d.errors).toMatchObject([{ policyId: 'exempt' }]);
  });

  it('agrees with the example policies for inputs that do not error', () => {
    const example = policyBundleFromTexts(
      readCedarFiles(EXAMPLE),
      readCedarFiles(path.join(EXAMPLE, 'approvals')),
    );
    expect(fs.existsSync(EXAMPLE)).toBe(true);
    const schema = {
      type: 'object',
      properties: { orderId: { type: 'string' }, amount: { type: 'number' } },
      required: ['orderId', 'amount'],
    };
    expect(decide(refund(50, schema), example, options)).toMatchObject({
      outcome: 'allow',
      errors: [],
    });
    expect(decide(refund(300.5, schema), example, options)).toMatchObject({
      outcome: 'approval',
      errors: [],
    });
    expect(decide(refund(900, schema), example, options)).toMatchObject({
      outcome: 'deny',
      policies: ['builtin:default-deny'],
      errors: [],
    });
  });
});

describe('decide converts numbers by the tool’s declared type', () => {
  const schema = {
    type: 'object',
    properties: { orderId: { type: 'string' }, amount: { type: 'number' }, count: { type: 'integer' } },
  };
  const exact = policyBundleFromTexts([
    {
      file: 'p.cedar',
      text: '@id("fifty") permit (principal, action, resource) when { context.input.amount == decimal("50.0") };',
    },
  ]);

  it.each([50, 50.0, 50.0001 - 0.0001])('gives %s on a `number` field as decimal("50.0")', (amount) => {
    expect(decide(refund(amount, schema), exact, options)).toMatchObject({ outcome: 'allow', errors: [] });
  });

  it('gives an `integer` field as a Long', () => {
    const longs = policyBundleFromTexts([
      {
        file: 'p.cedar',
        text: '@id("count") permit (principal, action, resource) when { context.input.count > 2 };',
      },
    ]);
    const d = decide(
      { ...refund(1, schema), input: { orderId: 'o-1', amount: 1, count: 3 } },
      longs,
      options,
    );
    expect(d).toMatchObject({ outcome: 'allow', errors: [] });
  });

  it('denies, recording why, a number Cedar cannot hold as a decimal', () => {
    const d = decide(refund(10.12345, schema), exact, options);
    expect(d.outcome).toBe('deny');
    expect(d.policies).toEqual(['builtin:policy-error']);
    expect(d.reasons[0]).toMatch(/input\.amount/);
  });
});
