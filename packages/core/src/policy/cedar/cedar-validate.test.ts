import { describe, expect, it } from 'vitest';
import { UserError } from '../../errors.js';
import { loadCedarPolicies } from './load.js';
import { validateCedarPolicies } from './validate.js';

const schema = {
  '': {
    entityTypes: {
      User: { shape: { type: 'Record', attributes: { age: { type: 'Long' } } } },
      Doc: {},
    },
    actions: { read: { appliesTo: { principalTypes: ['User'], resourceTypes: ['Doc'] } } },
  },
};

describe('validateCedarPolicies', () => {
  it('returns no issues for a well-typed set', () => {
    const set = loadCedarPolicies([
      {
        file: 'ok.cedar',
        text: '@id("adults") permit(principal, action == Action::"read", resource) when { principal.age >= 18 };',
      },
    ]);
    expect(validateCedarPolicies(set, schema)).toEqual([]);
  });

  it('names the policy that does not type-check', () => {
    const set = loadCedarPolicies([
      {
        file: 'bad.cedar',
        text: 'permit(principal, action == Action::"read", resource) when { principal.name == "x" };',
      },
    ]);
    const issues = validateCedarPolicies(set, schema);
    expect(issues.length).toBeGreaterThan(0);
    expect(issues[0]?.policyId).toBe('bad.cedar#0');
    expect(issues[0]?.message).toMatch(/name/);
  });

  it('refuses a schema it cannot parse', () => {
    const set = loadCedarPolicies([{ file: 'ok.cedar', text: 'permit(principal, action, resource);' }]);
    expect(() => validateCedarPolicies(set, { '': { entityTypes: 5 } })).toThrow(UserError);
  });
});
