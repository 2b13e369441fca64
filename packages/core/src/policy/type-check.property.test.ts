/**
 * The load-time type check is sound for the engine's requests: for a random policy set that type-checks against the
 * tools, random inputs that pass the tools' inputSchemas never make a policy error at decision time. Conditions are
 * drawn from well-typed and ill-typed templates alike (a Long compared with a decimal, an optional argument read
 * without `has`, an attribute one tool lacks), so the check is exercised on both sides. Arithmetic is left out: a
 * Long overflow is the one error a type check cannot rule out, and decide denies on it (see fail-closed.test.ts).
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { metadataFromAnnotations } from '../connectors/index.js';
import { decide } from './decide.js';
import { policyBundleFromTexts } from './policy-bundle.js';
import { checkToolInput, defaultDecisionOptions } from './simulate.js';
import type { SimulatedTool } from './simulate.js';
import { typeCheckPolicies } from './type-check.js';

type Schema = Record<string, unknown>;

const TOOLS: SimulatedTool[] = [
  {
    name: 'payments.refund',
    connector: 'payments',
    metadata: metadataFromAnnotations({ readOnlyHint: false, destructiveHint: false }, { risk: 'high' }),
    inputSchema: {
      type: 'object',
      properties: {
        orderId: { type: 'string', maxLength: 8 },
        amount: { type: 'number', minimum: -100000, maximum: 100000 },
        note: { type: 'string', maxLength: 4 },
        count: { type: 'integer', minimum: -1000, maximum: 1000 },
      },
      required: ['orderId', 'amount'],
      additionalProperties: false,
    },
  },
  {
    name: 'crm.update',
    connector: 'crm',
    metadata: metadataFromAnnotations({ readOnlyHint: false }),
    inputSchema: {
      type: 'object',
      properties: {
        tags: { type: 'array', items: { type: 'string', maxLength: 3 }, maxItems: 3 },
        urgent: { type: 'boolean' },
        count: { type: 'number' },
        meta: {
          type: 'object',
          properties: { level: { type: 'integer' }, owner: { type: ['string', 'null'] } },
          required: ['level'],
        },
      },
      required: ['tags', 'meta'],
      // Undeclared arguments are allowed: they reach the upstream, never policies.
    },
  },
  {
    name: 'kb.search',
    connector: 'kb',
    metadata: metadataFromAnnotations({ readOnlyHint: true }, { untrustedOutput: true }),
    inputSchema: { type: 'object' },
  },
];

/** Values that satisfy a (simple) JSON Schema; numbers have at most four decimal places, as the pipeline requires. */
function arbitraryFor(schema: Schema): fc.Arbitrary<unknown> {
  const types = Array.isArray(schema['type']) ? (schema['type'] as string[]) : [schema['type'] as string];
  const nonNull = types.filter((t) => t !== 'null');
  const base = ((): fc.Arbitrary<unknown> => {
    switch (nonNull[0]) {
      case 'string':
        return fc.string({ maxLength: (schema['maxLength'] as number | undefined) ?? 6 });
      case 'integer':
        return fc.integer({
          min: (schema['minimum'] as number | undefined) ?? -1_000_000,
          max: (schema['maximum'] as number | undefined) ?? 1_000_000,
        });
      case 'number': {
        const min = ((schema['minimum'] as number | undefined) ?? -1_000_000) * 100;
        const max = ((schema['maximum'] as number | undefined) ?? 1_000_000) * 100;
        return fc.integer({ min, max }).map((n) => n / 100);
      }
      case 'boolean':
        return fc.boolean();
      case 'array':
        return fc.array(arbitraryFor(schema['items'] as Schema), {
          maxLength: (schema['maxItems'] as number | undefined) ?? 3,
        });
      default: {
        const props = (schema['properties'] as Record<string, Schema> | undefined) ?? {};
        const required = (schema['required'] as string[] | undefined) ?? [];
        const declared = fc.record(
          Object.fromEntries(Object.entries(props).map(([k, s]) => [k, arbitraryFor(s)])),
          { requiredKeys: required },
        );
        if (schema['additionalProperties'] === false) return declared;
        return fc
          .tuple(
            declared,
            fc.dictionary(fc.constantFrom('amount', 'extra', '__entity', 'note'), fc.jsonValue()),
          )
          .map(([d, extra]) => ({ ...extra, ...d }));
      }
    }
  })();
  return types.includes('null') ? fc.option(base, { nil: null }) : base;
}

const WELL_TYPED = [
  // well-typed for the tools that have the attribute
  'context.input.amount.greaterThan(decimal("100.0"))',
  'context.input.amount.lessThanOrEqual(decimal("-0.5"))',
  'context.input.amount == decimal("50.0")',
  'context.input has note && context.input.note like "*a*"',
  'context.input has count && context.input.count > 3',
  'context.input.tags.contains("ab")',
  'context.input has urgent && context.input.urgent',
  'context.input.meta.level >= 2',
  'context.input.meta has owner && context.input.meta.owner == "x"',
  'context.input has amount && context.input.amount.greaterThan(decimal("1.0"))',
  'context.session.calls > 2',
  'context.session.readUntrusted',
  'context.session.tools.contains("kb.search")',
  'principal.tier >= 2 && resource.risk == "high"',
  'context.risk > 50 || context.production',
  'principal.environments.contains(context.environment)',
];
// ill-typed somewhere: must be refused unless the scope rules the bad tools out
const ILL_TYPED = [
  'context.input.amount > 10000',
  'context.input.amount == 50',
  'context.input.note == "x"',
  'context.input.count > 3',
  'context.input.meta.owner == "x"',
  'context.input.urgent',
  'context.input.extra == "x"',
  'context.input has extra && context.input.extra == "x"',
];
const SCOPES = [
  'action',
  'action == Action::"payments.refund"',
  'action == Action::"crm.update"',
  'action in Action::"write"',
  'action in Action::"read"',
];

const policyArb = fc
  .record({
    effect: fc.constantFrom('permit', 'forbid'),
    scope: fc.constantFrom(...SCOPES),
    // Mostly well-typed conditions, so that enough random sets pass the check for the property to bite.
    when: fc.array(
      fc.oneof(
        { arbitrary: fc.constantFrom(...WELL_TYPED), weight: 4 },
        { arbitrary: fc.constantFrom(...ILL_TYPED), weight: 1 },
      ),
      { minLength: 1, maxLength: 2 },
    ),
    op: fc.constantFrom(' && ', ' || '),
    negate: fc.boolean(),
  })
  .map(
    (p) =>
      `${p.effect} (principal, ${p.scope}, resource) when { ${p.negate ? '!' : ''}(${p.when.map((c) => `(${c})`).join(p.op)}) };`,
  );

const setArb = fc.record({
  permits: fc.array(policyArb, { minLength: 1, maxLength: 3 }),
  approvals: fc.array(policyArb, { maxLength: 2 }),
});

const callArb = fc.constantFrom(...TOOLS).chain((tool) =>
  fc.record({
    tool: fc.constant(tool),
    input: arbitraryFor(tool.inputSchema as Schema),
    tier: fc.integer({ min: 0, max: 3 }),
    calls: fc.nat({ max: 5 }),
    readUntrusted: fc.boolean(),
    production: fc.boolean(),
  }),
);

const options = defaultDecisionOptions();

describe('policy type check (property)', () => {
  it('a set that type-checks never errors at decision time on inputs that pass the tools’ schemas', () => {
    let checked = 0;
    let refused = 0;
    fc.assert(
      fc.property(setArb, fc.array(callArb, { minLength: 1, maxLength: 8 }), (set, calls) => {
        const bundle = policyBundleFromTexts(
          set.permits.map((text, i) => ({ file: `p${i}.cedar`, text })),
          set.approvals.map((text, i) => ({ file: `a${i}.cedar`, text })),
        );
        if (typeCheckPolicies(bundle, TOOLS).errors.length > 0) {
          refused += 1;
          return;
        }
        checked += 1;
        for (const c of calls) {
          try {
            checkToolInput(c.tool, c.input, 'call');
          } catch {
            continue; // the pipeline refuses it before deciding
          }
          const environment = c.production ? 'production' : 'dev';
          const d = decide(
            {
              agent: { id: 'a', role: 'r', tier: c.tier, owner: 'o', environments: [environment] },
              tool: c.tool,
              input: c.input as Record<string, unknown>,
              environment,
              session: {
                tools: c.readUntrusted ? ['kb.search'] : [],
                readUntrusted: c.readUntrusted,
                calls: c.calls,
              },
            },
            bundle,
            options,
          );
          expect(d.errors).toEqual([]);
          expect(d.policies).not.toContain('builtin:policy-error');
        }
      }),
      { numRuns: 400 },
    );
    // Both sides were exercised (roughly one set in eight passes the check).
    expect(checked).toBeGreaterThan(15);
    expect(refused).toBeGreaterThan(15);
  });
});
