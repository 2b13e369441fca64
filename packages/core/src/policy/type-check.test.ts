import { describe, expect, it } from 'vitest';
import { metadataFromAnnotations } from '../connectors/index.js';
import { UserError } from '../errors.js';
import { inputTypeOf, toCedarInput } from './input-types.js';
import { policyBundleFromTexts } from './policy-bundle.js';
import { assertPoliciesTypeCheck, typeCheckPolicies } from './type-check.js';
import type { PolicyTool } from './type-check.js';

const refund: PolicyTool = {
  name: 'payments.refund',
  connector: 'payments',
  metadata: metadataFromAnnotations({ readOnlyHint: false }),
  inputSchema: {
    type: 'object',
    properties: {
      orderId: { type: 'string' },
      amount: { type: 'number' },
      count: { type: 'integer' },
      note: { type: 'string' },
    },
    required: ['orderId', 'amount'],
  },
};
const lookup: PolicyTool = {
  name: 'payments.get_order',
  connector: 'payments',
  metadata: metadataFromAnnotations({ readOnlyHint: true }),
  inputSchema: { type: 'object', properties: { orderId: { type: 'string' } }, required: ['orderId'] },
};
const bare: PolicyTool = {
  name: 'legacy.tool',
  connector: 'legacy',
  metadata: metadataFromAnnotations(undefined),
};
const TOOLS = [refund, lookup, bare];

function check(text: string, tools = TOOLS) {
  return typeCheckPolicies(policyBundleFromTexts([{ file: 'p.cedar', text: `@id("p") ${text}` }]), tools);
}

describe('typeCheckPolicies', () => {
  it.each([
    [
      'a decimal compared with a Decimal method',
      'permit (principal, action == Action::"payments.refund", resource) when { context.input.amount.greaterThan(decimal("1.5")) };',
    ],
    [
      'an integer compared as a Long',
      'permit (principal, action == Action::"payments.refund", resource) when { context.input has count && context.input.count > 3 };',
    ],
    [
      'an optional argument behind `has`',
      'forbid (principal, action == Action::"payments.refund", resource) when { context.input has note && context.input.note like "*x*" };',
    ],
    [
      'an unscoped read guarded by `has`',
      'forbid (principal, action, resource) when { context.input has amount && context.input.amount.greaterThan(decimal("1.0")) };',
    ],
    [
      'the entity model and the context',
      'forbid (principal in Role::"support", action in Action::"write", resource in Connector::"payments") when { principal.tier < 2 && resource.destructive && context.session.readUntrusted && context.risk > 50 && context.session.tools.contains("x") && principal.environments.contains(context.environment) };',
    ],
  ])('accepts %s', (_what, text) => {
    expect(check(text).errors).toEqual([]);
  });

  it.each([
    [
      'a Long compared with a decimal',
      'forbid (principal, action == Action::"payments.refund", resource) when { 10000 < context.input.amount };',
      '`context.input.amount` is a decimal here: compare with `decimal("10000.0")` or `.greaterThan(…)`, e.g. `context.input.amount.greaterThan(decimal("10000.0"))`',
    ],
    [
      '== between a decimal and a Long',
      'forbid (principal, action == Action::"payments.refund", resource) when { context.input.amount == 50 };',
      'e.g. `context.input.amount == decimal("50.0")`',
    ],
    [
      'an optional argument read without `has`',
      'forbid (principal, action == Action::"payments.refund", resource) when { context.input.note == "x" };',
      'context.input has note',
    ],
    [
      'an attribute one of the tools lacks',
      'forbid (principal, action in Action::"read", resource) when { context.input.amount.greaterThan(decimal("1.0")) };',
      'declare `amount` in the inputSchema of payments.get_order',
    ],
    [
      'any input of a tool with no inputSchema',
      'forbid (principal, action == Action::"legacy.tool", resource) when { context.input.x == "y" };',
      'declare `x` in the inputSchema of legacy.tool',
    ],
    [
      'an attribute the entity model does not have',
      'forbid (principal, action, resource) when { principal.department == "x" };',
      'department',
    ],
  ])('refuses %s, saying how to fix it', (_what, text, fix) => {
    const { errors } = check(text);
    expect(errors.length).toBeGreaterThan(0);
    expect(errors[0]).toMatchObject({ file: 'p.cedar', policy: 'p' });
    expect(errors.map((e) => e.message).join('\n')).toContain(fix);
  });

  it('warns, without refusing, about a policy naming a tool nobody offers', () => {
    const r = check('forbid (principal, action == Action::"github.push", resource);');
    expect(r.errors).toEqual([]);
    expect(r.warnings[0]?.message).toMatch(/unrecognized action .*never applies/);
  });

  it('checks the approval rules too, and assertPoliciesTypeCheck lists every problem', () => {
    const bundle = policyBundleFromTexts(
      [{ file: 'ok.cedar', text: 'permit (principal, action, resource);' }],
      [
        {
          file: 'r.cedar',
          text: '@id("big") permit (principal, action == Action::"payments.refund", resource) when { context.input.amount > 100 };',
        },
      ],
      'policies/',
    );
    expect(() => assertPoliciesTypeCheck(bundle, TOOLS)).toThrow(UserError);
    expect(() => assertPoliciesTypeCheck(bundle, TOOLS)).toThrow(
      /policy set policies\/ can fail to evaluate on valid input \(1 problem\):\napprovals\/r\.cedar: policy big: /,
    );
  });
});

describe('toCedarInput', () => {
  const type = inputTypeOf({
    type: 'object',
    properties: {
      amount: { type: 'number' },
      count: { type: 'integer' },
      tags: { type: 'array', items: { type: 'string' } },
      meta: { type: 'object', properties: { level: { type: ['integer', 'null'] } } },
      any: {},
      __entity: { type: 'string' },
    },
    required: ['amount'],
  });

  it('converts by the declared type and keeps only declared, typed arguments', () => {
    expect(
      toCedarInput(
        { amount: 50, count: 3, tags: ['a'], meta: { level: null }, any: 5, extra: 'x', __entity: 'e' },
        type!,
      ),
    ).toEqual({
      amount: { __extn: { fn: 'decimal', arg: '50.0' } },
      count: 3,
      tags: ['a'],
      meta: {},
      _x__entity: 'e',
    });
  });

  it('refuses what Cedar cannot hold exactly, naming the argument', () => {
    expect(() => toCedarInput({ amount: 0.12345 }, type!)).toThrow(/^input\.amount: must have at most four/);
    expect(() => toCedarInput({ amount: 1e15 }, type!)).toThrow(/^input\.amount: /);
    expect(() => toCedarInput({ amount: 1, count: 2 ** 60 }, type!)).toThrow(/^input\.count: /);
    expect(() => toCedarInput({ amount: null }, type!)).toThrow(/^input\.amount: is required/);
  });
});
