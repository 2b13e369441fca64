import { describe, expect, it } from 'vitest';
import { UserError } from '../../errors.js';
import { isAuthorized } from './authorize.js';
import { loadCedarPolicies } from './load.js';

const alice = { type: 'User', id: 'alice' };
const read = { type: 'Action', id: 'read' };
const doc = { type: 'Doc', id: 'd1' };

describe('loadCedarPolicies', () => {
  it('names policies by @id, else by file and index in file order', () => {
    const text = Array.from({ length: 12 }, (_, i) =>
      i === 3
        ? `@id("third") permit(principal, action, resource) when { ${i} == ${i} };`
        : `permit(principal, action, resource) when { ${i} == ${i} };`,
    ).join('\n');
    const set = loadCedarPolicies([{ file: 'a.cedar', text }]);
    expect(set.policies.map((p) => p.id)).toEqual(
      Array.from({ length: 12 }, (_, i) => (i === 3 ? 'third' : `a.cedar#${i}`)),
    );
    set.policies.forEach((p, i) => {
      expect(JSON.stringify(p.est)).toContain(`{"Value":${i}}`);
    });
  });

  it('gives the same hash whatever the file order', () => {
    const a = { file: 'a.cedar', text: '@id("a") permit(principal, action, resource);' };
    const b = { file: 'b.cedar', text: '@id("b") forbid(principal, action, resource) when { context.x };' };
    expect(loadCedarPolicies([a, b]).hash).toBe(loadCedarPolicies([b, a]).hash);
    expect(loadCedarPolicies([a, b]).hash).toMatch(/^[0-9a-f]{64}$/);
    expect(loadCedarPolicies([a]).hash).not.toBe(loadCedarPolicies([a, b]).hash);
  });

  it('stores annotations, with valueless ones as empty strings', () => {
    const set = loadCedarPolicies([
      { file: 'a.cedar', text: '@reviewed @owner("ops") permit(principal, action, resource);' },
    ]);
    expect(set.policies[0]?.annotations).toEqual({ reviewed: '', owner: 'ops' });
    expect(set.policies[0]?.effect).toBe('permit');
    expect(set.policies[0]?.file).toBe('a.cedar');
  });

  it.each([
    ['bad syntax', 'permit(principal, action, resource) when { 1 + };', /bad\.cedar: .*line 1/],
    [
      'a syntax error on a later line',
      'permit(principal, action, resource);\n\nforbid(principal, action resource);',
      /bad\.cedar: .*line 3/,
    ],
    ['a template slot', 'permit(principal == ?principal, action, resource);', /bad\.cedar: templates/],
    [
      'datetime',
      'permit(principal, action, resource) when { datetime("2024-01-01") == datetime("2024-01-01") };',
      /policy bad\.cedar#0: .*`datetime`/,
    ],
    [
      'an unsafe integer literal',
      'permit(principal, action, resource) when { context.n == 9007199254740993 };',
      /policy bad\.cedar#0: .*integer literal/,
    ],
  ])('refuses %s naming the file or policy', (_name, text, message) => {
    expect(() => loadCedarPolicies([{ file: 'bad.cedar', text }])).toThrow(UserError);
    expect(() => loadCedarPolicies([{ file: 'bad.cedar', text }])).toThrow(message);
  });

  it('refuses duplicate ids across files', () => {
    const text = '@id("same") permit(principal, action, resource);';
    expect(() =>
      loadCedarPolicies([
        { file: 'a.cedar', text },
        { file: 'b.cedar', text },
      ]),
    ).toThrow(/duplicate policy id 'same'/);
  });

  it('loads an empty file as no policies', () => {
    const set = loadCedarPolicies([{ file: 'empty.cedar', text: '// nothing yet\n' }]);
    expect(set.policies).toEqual([]);
    expect(
      isAuthorized(set, { principal: alice, action: read, resource: doc, context: {} }, []).decision,
    ).toBe('deny');
  });

  it.each([
    ['a template slot', { Slot: '?principal' }, /policy hand-built: .*template slot/],
    ['an unknown function', { offset: [{ Value: 1 }, { Value: 2 }] }, /policy hand-built: .*`offset`/],
    [
      'a variadic isInRange',
      { isInRange: [{ Value: 1 }, { Value: 2 }, { Value: 3 }] },
      /`isInRange` with 3 arguments/,
    ],
  ])('refuses %s in a set rebuilt from JSON', (_name, body, message) => {
    const est = {
      effect: 'permit',
      principal: { op: 'All' },
      action: { op: 'All' },
      resource: { op: 'All' },
      conditions: [{ kind: 'when', body }],
    };
    const set = {
      hash: 'x',
      policies: [{ id: 'hand-built', effect: 'permit' as const, annotations: {}, est, file: 'x' }],
    };
    expect(() =>
      isAuthorized(set, { principal: alice, action: read, resource: doc, context: {} }, []),
    ).toThrow(message);
  });
});
