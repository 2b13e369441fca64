import { describe, expect, it } from 'vitest';
import { UserError } from '../errors.js';
import { defineWorkflow, loadWorkflows, parseWorkflow } from './definition.js';
import type { WorkflowInput } from './definition.js';

const INVOICES = new URL('../../../../examples/invoices/workflows/', import.meta.url).pathname;

function base(steps: WorkflowInput['steps'], extra: Partial<WorkflowInput> = {}): WorkflowInput {
  return { name: 'wf', version: 1, owner: 'ada', steps, ...extra };
}

function message(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(UserError);
    return (err as Error).message;
  }
  throw new Error('expected a UserError');
}

describe('workflow definitions', () => {
  it('loads the invoice example and keeps its dependencies', () => {
    const [def] = loadWorkflows(INVOICES, { rules: new Set(['invoice-extract', 'invoice-critic']) });
    expect(def?.name).toBe('invoice-approval');
    expect(def?.owner).toBe('fiona');
    expect(def?.steps.post?.dependsOn).toEqual(['approve']);
  });

  it('builds the same model from the TypeScript builder', () => {
    const def = defineWorkflow(base({ a: { kind: 'task', role: 'clerk', rule: 'r' } }));
    expect(def.version).toBe('1');
    expect(def.steps.a).toMatchObject({ kind: 'task', dependsOn: [] });
  });

  it.each([
    [
      'a cycle',
      base({
        a: { kind: 'task', role: 'r', rule: 'x', dependsOn: ['b'] },
        b: { kind: 'task', role: 'r', rule: 'x', dependsOn: ['a'] },
      }),
      'steps.a.dependsOn: cycle: a → b → a',
    ],
    [
      'an unknown dependency',
      base({ review: { kind: 'task', role: 'r', rule: 'x', dependsOn: ['x'] } }),
      "steps.review.dependsOn: unknown step 'x'",
    ],
    [
      'a bad when expression',
      base({ a: { kind: 'task', role: 'r', rule: 'x', when: 'steps.a >' } }),
      'steps.a.when: bad JSONata expression',
    ],
    [
      'a bad input mapping',
      base({ a: { kind: 'action', tool: 't.x', as: 'bot', input: '{ "a": ' } }),
      'steps.a.input: bad JSONata expression',
    ],
    [
      'a review of a non-task step',
      base({
        a: { kind: 'approval', group: 'g' },
        r: { kind: 'review', step: 'a', role: 'critic', rule: 'c' },
      }),
      'steps.r.step: reviews a approval step',
    ],
    ['an unknown step kind', base({ a: { kind: 'dance' } as never }), 'steps.a.kind'],
  ])('rejects %s with the path of the fault', (_name, raw, expected) => {
    expect(message(() => parseWorkflow(raw))).toContain(expected);
  });

  it('rejects a workflow without an owner', () => {
    const raw: Record<string, unknown> = { ...base({ a: { kind: 'task', role: 'r', rule: 'x' } }) };
    delete raw.owner;
    expect(message(() => parseWorkflow(raw))).toContain('owner: is required');
  });

  it('rejects an unknown role and rule handler when the organisation is known', () => {
    const raw = base({ a: { kind: 'task', role: 'clerk', rule: 'extract' } });
    expect(message(() => parseWorkflow(raw, { roles: new Set(['poster']) }))).toBe(
      "steps.a.role: unknown role 'clerk' (no agent has it)",
    );
    expect(message(() => parseWorkflow(raw, { rules: new Set(['other']) }))).toBe(
      "steps.a.rule: unknown rule handler 'extract'",
    );
  });
});
