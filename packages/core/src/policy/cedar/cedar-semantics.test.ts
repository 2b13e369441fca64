import * as cedar from '@cedar-policy/cedar-wasm/nodejs';
import { describe, expect, it } from 'vitest';
import { UserError } from '../../errors.js';
import { isAuthorized } from './authorize.js';
import { createCedarEntityStore } from './entity-store.js';
import { loadCedarPolicies } from './load.js';
import type { CedarEntity, CedarRequest, CedarResponse } from './types.js';

const alice = { type: 'User', id: 'alice' };
const bob = { type: 'User', id: 'bob' };
const read = { type: 'Action', id: 'read' };
const doc = { type: 'Doc', id: 'd1' };

const entities: CedarEntity[] = [
  {
    uid: alice,
    attrs: {
      age: 30,
      name: 'alice',
      tags: ['a', 'b'],
      boss: { __entity: bob },
      address: { city: 'Oslo' },
      score: { __extn: { fn: 'decimal', arg: '1.5' } },
      addr: { __extn: { fn: 'ip', arg: '10.0.0.7' } },
    },
    parents: [{ type: 'Group', id: 'staff' }],
    tags: { level: 3 },
  },
  { uid: { type: 'Group', id: 'staff' }, attrs: {}, parents: [{ type: 'Group', id: 'all' }] },
  { uid: doc, attrs: { owner: { __entity: alice } }, parents: [] },
];

const request: CedarRequest = {
  principal: alice,
  action: read,
  resource: doc,
  context: { n: 2, big: 9007199254740991 },
};

/** Decides `permit(principal, action, resource) when { <cond> };` for alice reading d1. */
function when(cond: string): CedarResponse {
  const set = loadCedarPolicies([
    { file: 't.cedar', text: `permit(principal, action, resource) when { ${cond} };` },
  ]);
  return isAuthorized(set, request, entities);
}

/** The same question put to cedar-wasm, so every row below is checked against the reference too. */
function referenceWhen(cond: string): 'true' | 'false' | 'error' {
  const answer = cedar.isAuthorized({
    ...request,
    policies: { staticPolicies: { p: `permit(principal, action, resource) when { ${cond} };` } },
    entities,
  } as cedar.AuthorizationCall);
  if (answer.type === 'failure') throw new Error(answer.errors.map((e) => e.message).join('; '));
  const r = answer.response;
  return r.diagnostics.errors.length > 0 ? 'error' : r.decision === 'allow' ? 'true' : 'false';
}

const outcome = (r: CedarResponse): 'true' | 'false' | 'error' =>
  r.errors.length > 0 ? 'error' : r.decision === 'allow' ? 'true' : 'false';

describe('Cedar expression semantics', () => {
  it.each([
    // equality never errors; different types are unequal
    ['1 == 1', 'true'],
    ['1 == "1"', 'false'],
    ['principal == User::"alice"', 'true'],
    ['[1, 2] == [2, 1, 1]', 'true'],
    ['{a: 1, b: [User::"x"]} == {b: [User::"x"], a: 1}', 'true'],
    ['decimal("1.50") == decimal("1.5")', 'true'],
    ['ip("10.0.0.1/24") == ip("10.0.0.0/24")', 'false'],
    ['ip("10.0.0.1") == ip("10.0.0.1/32")', 'true'],
    // regression: an older cedar parsed "-0.5" as +0.5; cedar 4.13 (and we) keep the sign
    ['decimal("-0.5") == decimal("0.5")', 'false'],
    ['decimal("-0.5").lessThan(decimal("0.0"))', 'true'],
    ['principal.missing == 1', 'error'],
    // comparison and arithmetic on Long, with 64-bit overflow
    ['1 < 2 && 2 <= 2 && 3 > 2 && 3 >= 3', 'true'],
    ['"a" < "b"', 'error'],
    ['decimal("1.0") < decimal("2.0")', 'error'],
    ['context.big * 1024 > 0', 'true'],
    ['context.big * 1025 > 0', 'error'],
    ['-(context.big * 1024) - 1024 < 0', 'true'],
    ['-(context.big * 1024) - 1025 < 0', 'error'],
    ['1 + true == 2', 'error'],
    // boolean operators short-circuit and type-check
    ['false && principal.missing', 'false'],
    ['true || principal.missing', 'true'],
    ['true && 1', 'error'],
    ['!1', 'error'],
    ['if principal.age > 18 then true else principal.missing', 'true'],
    ['if 1 then true else false', 'error'],
    // attributes
    ['principal.address.city == "Oslo"', 'true'],
    ['principal has address.city', 'true'],
    ['principal has address.zip', 'false'],
    ['User::"ghost" has name', 'false'],
    ['User::"ghost".name == "x"', 'error'],
    ['principal.age has x', 'error'],
    ['resource.owner.boss == User::"bob"', 'true'],
    ['resource.owner.boss.name == "bob"', 'error'],
    // hierarchy
    ['principal in Group::"all"', 'true'],
    ['principal in principal', 'true'],
    ['principal in [Group::"x", Group::"staff"]', 'true'],
    ['principal in [Group::"staff", 1]', 'error'],
    ['1 in Group::"all"', 'error'],
    ['User::"ghost" in Group::"all"', 'false'],
    ['principal is User', 'true'],
    ['principal is User in Group::"all"', 'true'],
    ['principal is Doc in 1', 'false'],
    ['1 is User', 'error'],
    // strings
    ['principal.name like "a*e"', 'true'],
    ['"a*b" like "a\\*b"', 'true'],
    ['"axb" like "a\\*b"', 'false'],
    ['"😀x" like "*x"', 'true'],
    ['1 like "*"', 'error'],
    // sets
    ['principal.tags.contains("a")', 'true'],
    ['principal.tags.containsAll(["a", "b"])', 'true'],
    ['principal.tags.containsAny(["z"])', 'false'],
    ['[].isEmpty()', 'true'],
    ['principal.name.contains("a")', 'error'],
    // tags
    ['principal.hasTag("level") && principal.getTag("level") == 3', 'true'],
    ['principal.getTag("nope") == 3', 'error'],
    ['User::"ghost".hasTag("level")', 'false'],
    // extensions
    ['principal.score.greaterThan(decimal("1.4999"))', 'true'],
    ['decimal("1.23456") == decimal("1.2")', 'error'],
    ['principal.addr.isInRange(ip("10.0.0.0/8"))', 'true'],
    ['ip("127.0.0.1").isLoopback() && ip("ff02::1").isMulticast() && ip("::1").isIpv6()', 'true'],
    ['ip("::ffff:1.2.3.4").isIpv6()', 'error'],
  ])('%s is %s', (cond, expected) => {
    expect(outcome(when(cond))).toBe(expected);
    expect(referenceWhen(cond)).toBe(expected);
  });

  it.each([
    ['principal == User::"alice"', 'allow'],
    ['principal == User::"bob"', 'deny'],
    ['principal in Group::"all"', 'allow'],
    ['principal is User in Group::"none"', 'deny'],
    ['principal is Doc', 'deny'],
  ])('scope %s gives %s', (scope, decision) => {
    const set = loadCedarPolicies([
      { file: 's.cedar', text: `permit(${scope}, action in [Action::"read"], resource);` },
    ]);
    expect(isAuthorized(set, request, entities).decision).toBe(decision);
  });
});

describe('isAuthorized', () => {
  const set = loadCedarPolicies([
    {
      file: 'p.cedar',
      text: `
        @id("staff-read") permit(principal in Group::"staff", action == Action::"read", resource);
        @id("owner") permit(principal, action, resource) when { resource.owner == principal };
        @id("no-bob") forbid(principal == User::"bob", action, resource);
        @id("broken") forbid(principal, action, resource) when { principal.missing };
      `,
    },
  ]);

  it('allows with every satisfied permit as determining, and reports erroring policies', () => {
    expect(isAuthorized(set, request, entities)).toEqual({
      decision: 'allow',
      determining: ['staff-read', 'owner'],
      errors: [{ policyId: 'broken', message: expect.stringContaining('missing') as unknown as string }],
    });
  });

  it('lets a satisfied forbid win and names it', () => {
    const r = isAuthorized(set, { ...request, principal: bob }, entities);
    expect(r.decision).toBe('deny');
    expect(r.determining).toEqual(['no-bob']);
  });

  it('denies by default with no determining policies', () => {
    const r = isAuthorized(set, { ...request, principal: { type: 'User', id: 'eve' } }, entities);
    expect(r).toMatchObject({ decision: 'deny', determining: [] });
  });

  it('accepts a prebuilt entity store', () => {
    expect(isAuthorized(set, request, createCedarEntityStore(entities)).decision).toBe('allow');
  });

  it('compiles sets that did not come from loadCedarPolicies', () => {
    const copy = JSON.parse(JSON.stringify(set)) as typeof set;
    expect(isAuthorized(copy, request, entities).determining).toEqual(['staff-read', 'owner']);
  });

  it.each([
    ['a cycle in the hierarchy', [{ uid: alice, attrs: {}, parents: [alice] }]],
    ['a fractional number', [{ uid: alice, attrs: { x: 1.5 }, parents: [] }]],
    [
      'conflicting duplicates',
      [
        { uid: alice, attrs: { x: 1 }, parents: [] },
        { uid: alice, attrs: { x: 2 }, parents: [] },
      ],
    ],
    [
      'an unknown extension',
      [{ uid: alice, attrs: { x: { __extn: { fn: 'datetime', arg: '2024-01-01' } } }, parents: [] }],
    ],
  ] as [string, CedarEntity[]][])('refuses entities with %s', (_name, bad) => {
    expect(() => isAuthorized(set, request, bad)).toThrow(UserError);
  });
});
