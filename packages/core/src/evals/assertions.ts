import { Ajv } from 'ajv';
import type { Assertion, AssertionType } from './suite.js';
import type { CaseOutcome, EvalCall } from './sandbox.js';

/** What one assertion found. */
export interface AssertionResult {
  type: string;
  pass: boolean;
  /** Why it failed (or what it checked), for the report. */
  message: string;
}

const ajv = new Ajv({ allErrors: false, strict: false });

/** Checks every assertion of a case against what the case produced. */
export function checkAssertions(assertions: readonly Assertion[], outcome: CaseOutcome): AssertionResult[] {
  return assertions.map((a) => {
    const negated = a.type.startsWith('not-');
    const type = a.type.replace(/^not-/, '') as AssertionType;
    let r: { pass: boolean; message: string };
    try {
      r = check(type, a, outcome);
    } catch (err) {
      return { type: a.type, pass: false, message: `assertion failed to run: ${(err as Error).message}` };
    }
    return negated
      ? { type: a.type, pass: !r.pass, message: r.pass ? `expected not: ${r.message}` : r.message }
      : { type: a.type, ...r };
  });
}

const list = (v: unknown): string[] => (Array.isArray(v) ? (v as string[]) : [v as string]);

/** Tools called, in order; a call the pipeline refused as invalid is still a call the agent tried. */
const toolsOf = (calls: readonly EvalCall[]) => calls.map((c) => c.tool);

function check(type: AssertionType, a: Assertion, o: CaseOutcome): { pass: boolean; message: string } {
  const out = o.output;
  switch (type) {
    case 'contains':
      return { pass: out.includes(a.value as string), message: `output contains '${String(a.value)}'` };
    case 'icontains':
      return {
        pass: out.toLowerCase().includes((a.value as string).toLowerCase()),
        message: `output contains '${String(a.value)}' (any case)`,
      };
    case 'regex':
      return {
        pass: new RegExp(a.value as string).test(out),
        message: `output matches /${String(a.value)}/`,
      };
    case 'equals':
      return {
        pass: typeof a.value === 'string' ? out === a.value : jsonEquals(out, a.value),
        message: `output equals ${JSON.stringify(a.value)}`,
      };
    case 'is-json': {
      let parsed: unknown;
      try {
        parsed = JSON.parse(out);
      } catch {
        return { pass: false, message: 'output is JSON' };
      }
      if (a.value && typeof a.value === 'object') {
        const validate = ajv.compile(a.value);
        const ok = validate(parsed);
        return {
          pass: ok,
          message: ok
            ? 'output is JSON matching the schema'
            : `output JSON ${ajv.errorsText(validate.errors)}`,
        };
      }
      return { pass: true, message: 'output is JSON' };
    }
    case 'javascript': {
      const src = a.value as string;
      // promptfoo's form: an expression, or a function body when it says `return`.
      const fn = new Function('output', 'context', src.includes('return') ? src : `return (${src});`) as (
        output: string,
        context: { calls: EvalCall[] },
      ) => unknown;
      const v = fn(out, { calls: o.calls });
      return { pass: typeof v === 'number' ? v >= 0.5 : Boolean(v), message: `javascript: ${src}` };
    }
    case 'numeric': {
      const m = /-?\d+(?:\.\d+)?/.exec(out);
      const got = m ? Number(m[0]) : NaN;
      const tol = a.tolerance ?? 0;
      return {
        pass: Math.abs(got - (a.value as number)) <= tol,
        message: `number in output ${Number.isNaN(got) ? 'missing' : got} is ${String(a.value)} ± ${tol}`,
      };
    }
    case 'cost': {
      const limit = a.threshold ?? (a.value as number);
      const spent = o.calls.reduce((s, c) => s + c.cost, 0);
      return { pass: spent <= limit, message: `cost ${spent} at most ${limit}` };
    }
    case 'trajectory:tool-used': {
      const used = new Set(toolsOf(o.calls));
      const missing = list(a.value).filter((t) => !used.has(t));
      return {
        pass: missing.length === 0,
        message: missing.length ? `tool not used: ${missing.join(', ')}` : `used ${list(a.value).join(', ')}`,
      };
    }
    case 'trajectory:tool-sequence': {
      const spec = Array.isArray(a.value)
        ? { steps: a.value as string[] }
        : (a.value as { steps: string[]; mode?: string });
      const mode = a.mode ?? spec.mode ?? 'in_order';
      const got = toolsOf(o.calls);
      return {
        pass: sequenceMatches(got, spec.steps, mode),
        message: `calls ${mode} ${spec.steps.join(' → ')} (got ${got.join(' → ') || 'none'})`,
      };
    }
    case 'trajectory:tool-args-match': {
      const v = a.value as { name: string; args?: Record<string, unknown>; mode?: string };
      const mode = a.mode ?? v.mode ?? 'partial';
      const pass = o.calls.some(
        (c) => c.tool === v.name && argsMatch(c.input, v.args ?? {}, mode === 'exact'),
      );
      return { pass, message: `a call to ${v.name} with ${JSON.stringify(v.args ?? {})} (${mode})` };
    }
    case 'trajectory:step-count': {
      const n = o.calls.length;
      const min = a.min ?? 0;
      const max = a.max ?? (typeof a.value === 'number' ? a.value : Infinity);
      return { pass: n >= min && n <= max, message: `${n} calls, within ${min}-${max}` };
    }
    case 'policy-outcome': {
      const of = o.calls.filter((c) => c.tool === a.tool);
      const pass = of.length > 0 && of.every((c) => c.outcome === a.value);
      return {
        pass,
        message: `${a.tool} ${String(a.value)} (got ${of.map((c) => c.outcome).join(', ') || 'no call'})`,
      };
    }
  }
}

function jsonEquals(out: string, value: unknown): boolean {
  try {
    return JSON.stringify(JSON.parse(out)) === JSON.stringify(value);
  } catch {
    return false;
  }
}

/** Whether the called tools match the expected steps in the given mode. */
export function sequenceMatches(got: readonly string[], steps: readonly string[], mode: string): boolean {
  switch (mode) {
    case 'exact':
      return got.length === steps.length && got.every((t, i) => t === steps[i]);
    case 'unordered': {
      const a = [...got].sort();
      const b = [...steps].sort();
      return a.length === b.length && a.every((t, i) => t === b[i]);
    }
    case 'subset':
      // Every call made is one of the steps (nothing beyond them).
      return got.every((t) => steps.includes(t));
    case 'superset':
      return steps.every((t) => got.includes(t));
    default: {
      let i = 0;
      for (const t of got) if (t === steps[i]) i++;
      return i === steps.length;
    }
  }
}

/** Expected argument values: JSON equal, or `{ approx, tolerance }` for a number. */
function argsMatch(input: Record<string, unknown>, args: Record<string, unknown>, exact: boolean): boolean {
  if (exact && Object.keys(input).length !== Object.keys(args).length) return false;
  return Object.entries(args).every(([k, want]) => {
    const got = input[k];
    if (want && typeof want === 'object' && 'approx' in want) {
      const w = want as { approx: number; tolerance?: number };
      return typeof got === 'number' && Math.abs(got - w.approx) <= (w.tolerance ?? 0);
    }
    return JSON.stringify(got) === JSON.stringify(want);
  });
}
