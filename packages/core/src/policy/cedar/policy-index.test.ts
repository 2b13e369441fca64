/**
 * The set's index (by what principal, action and resource scopes need) must only ever skip policies that cannot
 * match: every row here is a scope form a request meets through itself, an ancestor or its type, decided in one set
 * with decoys, and checked against cedar-wasm.
 */
import * as cedar from '@cedar-policy/cedar-wasm/nodejs';
import { describe, expect, it } from 'vitest';
import { isAuthorized, prepareCedarRequest } from './authorize.js';
import { loadCedarPolicies } from './load.js';
import type { CedarEntity, CedarRequest, EntityUid } from './types.js';

const alice: EntityUid = { type: 'User', id: 'alice' };
const bob: EntityUid = { type: 'User', id: 'bob' };
const staff: EntityUid = { type: 'Group', id: 'staff' };
const doc: EntityUid = { type: 'Doc', id: 'd1' };
const note: EntityUid = { type: 'Note', id: 'n1' };
const refund: EntityUid = { type: 'Action', id: 'refund' };
const lookup: EntityUid = { type: 'Action', id: 'lookup' };

// alice in staff in all; bob in nothing; d1 in shared in root; refund in write; lookup in read.
const entities: CedarEntity[] = [
  { uid: alice, attrs: { level: 2 }, parents: [staff] },
  { uid: bob, attrs: { level: 1 }, parents: [] },
  { uid: staff, attrs: {}, parents: [{ type: 'Group', id: 'all' }] },
  { uid: { type: 'Group', id: 'all' }, attrs: {}, parents: [] },
  { uid: doc, attrs: {}, parents: [{ type: 'Folder', id: 'shared' }] },
  { uid: note, attrs: {}, parents: [] },
  { uid: { type: 'Folder', id: 'shared' }, attrs: {}, parents: [{ type: 'Folder', id: 'root' }] },
  { uid: { type: 'Folder', id: 'root' }, attrs: {}, parents: [] },
  { uid: refund, attrs: {}, parents: [{ type: 'Action', id: 'write' }] },
  { uid: lookup, attrs: {}, parents: [{ type: 'Action', id: 'read' }] },
];

// One scope per policy; the others unconstrained, so a wrong skip in any dimension shows on its own.
const SCOPES = [
  'principal == User::"alice"',
  // Descending from E is not being E: the index admits these for alice, the scope check must still refuse them.
  'principal == Group::"staff"',
  'resource == Folder::"shared"',
  'action == Action::"write"',
  'principal in User::"alice"',
  'principal in Group::"staff"',
  'principal in Group::"all"',
  'principal in Group::"other"',
  'principal is User',
  'principal is Group',
  'principal is User in Group::"all"',
  'principal is Group in Group::"all"',
  'resource == Doc::"d1"',
  'resource in Folder::"shared"',
  'resource in Folder::"root"',
  'resource in Folder::"other"',
  'resource is Doc',
  'resource is Folder',
  'resource is Doc in Folder::"root"',
  'action == Action::"refund"',
  'action in Action::"write"',
  'action in [Action::"read", Action::"write"]',
  'action in [Action::"other"]',
];

function policyText(scope: string, i: number, body = ''): string {
  const vars = ['principal', 'action', 'resource'].map((v) => (scope.startsWith(v) ? scope : v));
  return `@id("p${i}")\npermit (${vars.join(', ')})${body};`;
}

// Each scope twice: once plain, once with a condition that errors, so `errors` is checked too.
const texts = SCOPES.flatMap((s, i) => [
  policyText(s, 2 * i),
  policyText(s, 2 * i + 1, ' when { principal.missing == 1 }'),
]);
// Decoys naming entities no request has, so every dimension's index is in use and large.
for (let i = 0; i < 60; i++) {
  texts.push(policyText(`principal in Group::"team-${i}"`, 100 + i));
  texts.push(policyText(`resource in Folder::"team-${i}"`, 200 + i));
  texts.push(policyText(`action == Action::"svc${i}"`, 300 + i));
}
// Leading `principal.<attr> == <literal>` conditions, which the index also uses: alice has level 2, bob level 1, the
// group none (so those error for it), and no principal has `name`.
const EQUALS = [
  'principal.level == 2',
  '2 == principal.level',
  'principal.level == 1 && principal.missing == 1',
  'principal.level == 2 && principal.level > 1 && true',
  'principal.level == "2"',
  'principal.level == true',
  'principal.name == "x"',
  'principal.level == 2 || principal.missing == 1',
];
EQUALS.forEach((cond, i) => {
  texts.push(policyText('principal', 400 + 2 * i, ` when { ${cond} }`));
  // The same behind a scope, and as a forbid, so the narrowed list must still merge in set order.
  texts.push(
    policyText('action in Action::"write"', 401 + 2 * i, ` when { ${cond} }`).replace('permit', 'forbid'),
  );
});
const set = loadCedarPolicies([{ file: 'index.cedar', text: texts.join('\n') }]);

function reference(request: CedarRequest): { determining: string[]; errors: string[] } {
  const answer = cedar.isAuthorized({
    ...request,
    // By id, so the reference names policies as ours does.
    policies: { staticPolicies: Object.fromEntries(texts.map((t) => [/"(p\d+)"/.exec(t)?.[1], t])) },
    entities,
  } as cedar.AuthorizationCall);
  if (answer.type === 'failure') throw new Error(answer.errors.map((e) => e.message).join('; '));
  return {
    determining: answer.response.diagnostics.reason,
    errors: answer.response.diagnostics.errors.map((e) => e.policyId),
  };
}

// Set order: p0, p1, … by number, as a full scan of the set reports them.
const bySetOrder = (ids: string[]) => [...ids].sort((a, b) => Number(a.slice(1)) - Number(b.slice(1)));

describe('the policy set index', () => {
  // Each request is decided after the others and then again, so a candidate list remembered for one request must
  // never stand in for another's.
  const requests: [string, CedarRequest][] = [
    // Each request meets fewer scopes than the next one that differs from it in a single variable (principal, action,
    // resource): a list remembered for it and reused would drop policies the next one meets.
    ['bob refunds d1', { principal: bob, action: refund, resource: doc, context: {} }],
    ['alice looks up n1', { principal: alice, action: lookup, resource: note, context: {} }],
    ['alice refunds n1', { principal: alice, action: refund, resource: note, context: {} }],
    ['alice refunds d1', { principal: alice, action: refund, resource: doc, context: {} }],
    ['bob looks up n1', { principal: bob, action: lookup, resource: note, context: {} }],
    ['a group refunds a folder', { principal: staff, action: refund, resource: doc, context: {} }],
  ];

  it.each([...requests, ...requests])('evaluates every policy that can match when %s', (_name, request) => {
    const ref = reference(request);
    const got = isAuthorized(set, request, entities);
    expect(got.determining).toEqual(bySetOrder(ref.determining));
    expect(got.errors.map((e) => e.policyId)).toEqual(bySetOrder(ref.errors));
    // The rows are not vacuous: something matches and something errors for every request.
    expect(got.determining.length).toBeGreaterThan(0);
    expect(got.errors.length).toBeGreaterThan(0);
  });

  it('answers the same for a prepared request as for a plain one', () => {
    for (const [, request] of requests) {
      expect(isAuthorized(set, prepareCedarRequest(request, entities))).toEqual(
        isAuthorized(set, request, entities),
      );
    }
  });
});
