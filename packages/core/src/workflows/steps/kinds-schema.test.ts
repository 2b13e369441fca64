import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { UserError } from '../../errors.js';
import { defineWorkflow, loadWorkflows, parseWorkflow } from '../definition.js';
import type { WorkflowInput } from '../definition.js';
import { checkWorkflowCalls } from './kinds-schema.js';

function base(steps: WorkflowInput['steps'], name = 'wf'): WorkflowInput {
  return { name, version: 1, owner: 'ada', steps };
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

const task = { kind: 'task', role: 'clerk', rule: 'r' } as const;

describe('definitions of the parallel, consensus, wait and workflow kinds', () => {
  it('accepts each kind', () => {
    const def = defineWorkflow(
      base({
        fan: { kind: 'parallel', over: 'input.items', do: { ...task, input: '{ "n": item, "i": index }' } },
        vote: { kind: 'consensus', role: 'voter', rule: 'r', agents: 3, quorum: 2, vote: 'answer' },
        go: { kind: 'wait', event: 'go', timeout: '1h' },
        nap: { kind: 'wait', for: '10m' },
        later: { kind: 'wait', until: 'input.at' },
        sub: { kind: 'workflow', workflow: 'other', input: '{ "x": 1 }' },
      }),
    );
    expect(def.steps.fan).toMatchObject({ kind: 'parallel', do: { kind: 'task', role: 'clerk' } });
    expect(def.steps.vote).toMatchObject({ agents: 3, quorum: 2 });
  });

  it.each([
    [
      'a bad over expression',
      base({ fan: { kind: 'parallel', over: 'input.[', do: task } }),
      /^steps\.fan\.over: bad JSONata expression/,
    ],
    [
      'a bad item input expression',
      base({ fan: { kind: 'parallel', over: 'input', do: { ...task, input: '{' } } }),
      /^steps\.fan\.do\.input: bad JSONata expression/,
    ],
    [
      'an item of another kind',
      base({ fan: { kind: 'parallel', over: 'input', do: { kind: 'approval', group: 'g' } } as never }),
      /^steps\.fan\.do/,
    ],
    [
      'scheduling keys on an item',
      base({ fan: { kind: 'parallel', over: 'input', do: { ...task, dependsOn: ['x'] } } as never }),
      /^steps\.fan\.do/,
    ],
    [
      'a quorum above the agents',
      base({ vote: { kind: 'consensus', role: 'v', rule: 'r', agents: 2, quorum: 3 } }),
      /^steps\.vote\.quorum: must be at most agents/,
    ],
    [
      'a bad vote expression',
      base({ vote: { kind: 'consensus', role: 'v', rule: 'r', agents: 2, quorum: 2, vote: '(' } }),
      /^steps\.vote\.vote: bad JSONata expression/,
    ],
    [
      'a wait for both an event and a time',
      base({ w: { kind: 'wait', event: 'go', for: '1m' } }),
      /^steps\.w: needs exactly one of 'event', 'for' or 'until'/,
    ],
    ['a wait for nothing', base({ w: { kind: 'wait' } }), /^steps\.w: needs exactly one of/],
    [
      'a timeout on a timed wait',
      base({ w: { kind: 'wait', for: '1m', timeout: '1h' } }),
      /^steps\.w\.timeout: applies to event waits only/,
    ],
    [
      'a bad until expression',
      base({ w: { kind: 'wait', until: 'input.' } }),
      /^steps\.w\.until: bad JSONata expression/,
    ],
    ['a bad duration', base({ w: { kind: 'wait', for: 'soon' } }), /^steps\.w\.for: must be like 30s/],
    [
      'a bad sub-run input',
      base({ s: { kind: 'workflow', workflow: 'x', input: '{' } }),
      /^steps\.s\.input: bad JSONata expression/,
    ],
  ])('refuses %s, naming the path', (_name, def, pattern) => {
    expect(message(() => parseWorkflow(def))).toMatch(pattern);
  });

  it('refuses unknown roles and rule handlers of items and voters when the organisation is known', () => {
    const ctx = { roles: new Set(['clerk']), rules: new Set(['r']) };
    expect(
      message(() =>
        parseWorkflow(base({ f: { kind: 'parallel', over: 'input', do: { ...task, role: 'x' } } }), ctx),
      ),
    ).toBe("steps.f.do.role: unknown role 'x' (no agent has it)");
    expect(
      message(() =>
        parseWorkflow(base({ f: { kind: 'parallel', over: 'input', do: { ...task, rule: 'q' } } }), ctx),
      ),
    ).toBe("steps.f.do.rule: unknown rule handler 'q'");
    expect(
      message(() =>
        parseWorkflow(
          base({ v: { kind: 'consensus', role: 'voter', rule: 'r', agents: 1, quorum: 1 } }),
          ctx,
        ),
      ),
    ).toBe("steps.v.role: unknown role 'voter' (no agent has it)");
  });

  it('accepts task items and voters without a rule handler (worker tasks), still checking their role', () => {
    const ctx = { roles: new Set(['clerk', 'voter']), rules: new Set(['r']) };
    const def = parseWorkflow(
      base({
        f: { kind: 'parallel', over: 'input', do: { kind: 'task', role: 'clerk' } },
        v: { kind: 'consensus', role: 'voter', agents: 3, quorum: 2 },
      }),
      ctx,
    );
    expect(def.steps.f).toMatchObject({ do: { kind: 'task', role: 'clerk' } });
    expect(def.steps.v).not.toHaveProperty('rule');
    expect(
      message(() =>
        parseWorkflow(base({ v: { kind: 'consensus', role: 'judge', agents: 1, quorum: 1 } }), ctx),
      ),
    ).toBe("steps.v.role: unknown role 'judge' (no agent has it)");
    expect(
      message(() =>
        parseWorkflow(base({ f: { kind: 'parallel', over: 'input', do: { kind: 'task' } as never } }), ctx),
      ),
    ).toMatch(/^steps\.f\.do\.role: /);
  });

  it('refuses a sub-run of an unknown workflow', () => {
    const def = base({ s: { kind: 'workflow', workflow: 'nope' } });
    expect(message(() => parseWorkflow(def, { workflows: new Set(['wf']) }))).toBe(
      "steps.s.workflow: unknown workflow 'nope'",
    );
    expect(message(() => checkWorkflowCalls([defineWorkflow(def)]))).toBe(
      "wf.steps.s.workflow: unknown workflow 'nope'",
    );
  });

  it('refuses a workflow that calls itself, directly or through others', () => {
    const self = defineWorkflow(base({ s: { kind: 'workflow', workflow: 'wf' } }));
    expect(message(() => checkWorkflowCalls([self]))).toBe('wf.steps.s.workflow: calls itself: wf → wf');
    const a = defineWorkflow(base({ s: { kind: 'workflow', workflow: 'b' } }, 'a'));
    const b = defineWorkflow(
      base({ t: task, u: { kind: 'workflow', workflow: 'a', dependsOn: ['t'] } }, 'b'),
    );
    expect(message(() => checkWorkflowCalls([a, b]))).toBe('b.steps.u.workflow: calls itself: a → b → a');
  });

  it('refuses a cycle of sub-runs across the files of a directory', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'aos-wf-'));
    fs.writeFileSync(
      path.join(dir, 'a.yaml'),
      'name: a\nversion: 1\nowner: ada\nsteps:\n  s: { kind: workflow, workflow: b }\n',
    );
    fs.writeFileSync(
      path.join(dir, 'b.yaml'),
      'name: b\nversion: 1\nowner: ada\nsteps:\n  s: { kind: workflow, workflow: a }\n',
    );
    expect(message(() => loadWorkflows(dir))).toBe(`${dir}: b.steps.s.workflow: calls itself: a → b → a`);
    // One file alone cannot know its siblings, but still may not call itself.
    expect(loadWorkflows(path.join(dir, 'a.yaml')).map((d) => d.name)).toEqual(['a']);
    fs.writeFileSync(
      path.join(dir, 'c.yaml'),
      'name: c\nversion: 1\nowner: ada\nsteps:\n  s: { kind: workflow, workflow: c }\n',
    );
    const file = path.join(dir, 'c.yaml');
    expect(message(() => loadWorkflows(file))).toBe(`${file}: c.steps.s.workflow: calls itself: c → c`);
    fs.rmSync(dir, { recursive: true });
  });
});
