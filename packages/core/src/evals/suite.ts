import fs from 'node:fs';
import path from 'node:path';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import { hashJson } from '../crypto/canonical-json.js';
import { UserError } from '../errors.js';
import { idSchema } from '../identity/ids.js';
import { parseInput } from '../validation.js';

/**
 * The assertion types a case may use. Names and meanings follow promptfoo where it has one (`contains`, `icontains`,
 * `regex`, `equals`, `is-json`, `javascript`, `cost`, `trajectory:*`); any type may be negated with a `not-` prefix
 * (`not-trajectory:tool-used` is a forbidden tool). `policy-outcome` and `numeric` are ours.
 */
export const ASSERTION_TYPES = [
  'contains',
  'icontains',
  'regex',
  'equals',
  'is-json',
  'javascript',
  'numeric',
  'cost',
  'trajectory:tool-used',
  'trajectory:tool-sequence',
  'trajectory:tool-args-match',
  'trajectory:step-count',
  'policy-outcome',
] as const;

/** One assertion type, bare (without `not-`). */
export type AssertionType = (typeof ASSERTION_TYPES)[number];

const assertionTypeSchema = z
  .string({ error: 'is required' })
  .refine((t) => (ASSERTION_TYPES as readonly string[]).includes(t.replace(/^not-/, '')), {
    message: `must be one of ${ASSERTION_TYPES.join(', ')} (optionally with a not- prefix)`,
  });

/** One check of a case's outcome. */
export const assertionSchema = z
  .object({
    type: assertionTypeSchema,
    /** What is expected: text, a pattern, a JSON Schema, a tool name or list, a limit, depending on the type. */
    value: z.unknown().optional(),
    /** `trajectory:tool-sequence`: `exact`, `in_order` (default), `unordered`, `subset` or `superset`. */
    mode: z.enum(['exact', 'in_order', 'unordered', 'subset', 'superset', 'partial']).optional(),
    /** `policy-outcome`: the tool whose calls must have had the outcome. */
    tool: z.string().min(1).optional(),
    /** `numeric`: how far the number in the output may be from `value`. */
    tolerance: z.number().min(0).optional(),
    /** `cost`: the most cost units the case may spend; `trajectory:step-count`: bounds on the calls. */
    threshold: z.number().min(0).optional(),
    min: z.number().int().min(0).optional(),
    max: z.number().int().min(0).optional(),
  })
  .strict();
/** One assertion as written. */
export type Assertion = z.infer<typeof assertionSchema>;

/** One call of a recorded transcript. */
export const transcriptCallSchema = z
  .object({
    tool: z.string().min(1),
    input: z.record(z.string(), z.unknown()).default({}),
    reason: z.string().max(4000).optional(),
  })
  .strict();

/** The agent under test: a built-in rule agent, an LLM agent, an HTTP endpoint, or a recorded transcript. */
export const evalAgentSchema = z.discriminatedUnion(
  'type',
  [
    z.object({ type: z.literal('rule'), rule: z.string().min(1), agent: idSchema.optional() }).strict(),
    z.object({ type: z.literal('llm'), agent: idSchema.optional() }).strict(),
    z
      .object({
        type: z.literal('http'),
        url: z.string().url(),
        agent: idSchema.optional(),
        timeoutMs: z.number().int().min(100).max(600_000).default(60_000),
      })
      .strict(),
    z.object({ type: z.literal('transcript'), agent: idSchema.optional() }).strict(),
  ],
  { error: 'must have type rule, llm, http or transcript' },
);
/** The agent under test, as written. */
export type EvalAgentSpec = z.infer<typeof evalAgentSchema>;

/** A sandbox tool the suite serves from fixtures (never a production upstream). */
export const fixtureToolSchema = z
  .object({
    name: z.string().regex(/^[A-Za-z0-9_-]{1,64}\.[A-Za-z0-9_-]{1,64}$/, 'must be <connector>.<tool>'),
    description: z.string().optional(),
    inputSchema: z.record(z.string(), z.unknown()).default({ type: 'object' }),
    annotations: z
      .object({
        readOnlyHint: z.boolean().optional(),
        destructiveHint: z.boolean().optional(),
        idempotentHint: z.boolean().optional(),
        openWorldHint: z.boolean().optional(),
      })
      .strict()
      .optional(),
  })
  .strict();

/** What a fixture tool answers: a JSON value (structured content), or `{ error: text }` for a failed call. */
const fixturesSchema = z.record(z.string(), z.unknown());

/** One case. */
export const evalCaseSchema = z
  .object({
    id: z.string().regex(/^[A-Za-z0-9_.:-]{1,120}$/, 'must be 1-120 letters, digits, _ . : -'),
    description: z.string().optional(),
    /** The failure summary's group. */
    category: z.string().regex(/^[A-Za-z0-9_.-]{1,80}$/, 'must be 1-80 letters, digits, _ . -'),
    /** The task the agent is given. */
    task: z.string().min(1).max(20_000),
    /** Values for the agent (rule agents read them; LLM agents get them in the task as JSON). */
    vars: z.record(z.string(), z.unknown()).default({}),
    /** Outputs of the suite's fixture tools for this case, over the suite's. */
    fixtures: fixturesSchema.default({}),
    /** For a `transcript` agent: the calls to re-check, in order. */
    transcript: z.array(transcriptCallSchema).optional(),
    /** The output a transcript ended with, for output assertions. */
    output: z.string().optional(),
    assert: z.array(assertionSchema).min(1, 'needs at least one assertion'),
  })
  .strict();
/** One case, validated. */
export type EvalCase = z.infer<typeof evalCaseSchema>;

/** A suite file. */
export const evalSuiteSchema = z
  .object({
    name: z.string().regex(/^[A-Za-z0-9_.-]{1,120}$/, 'must be 1-120 letters, digits, _ . -'),
    description: z.string().optional(),
    kind: z.enum(['unit', 'regression', 'adversarial']).default('unit'),
    agent: evalAgentSchema.optional(),
    /** Pass threshold in percent; `--threshold` and gates override it. */
    threshold: z.number().min(0).max(100).default(97),
    /** Real eval upstreams the suite uses: ids of `evals.connectors` in the config. */
    connectors: z.array(z.string().min(1)).default([]),
    /** Tools served from fixtures in the sandbox. */
    tools: z.array(fixtureToolSchema).default([]),
    /** Default fixture outputs for every case. */
    fixtures: fixturesSchema.default({}),
    cases: z.array(evalCaseSchema).min(1, 'needs at least one case'),
  })
  .strict();

/** A suite, validated, with where it came from. */
export type EvalSuite = z.infer<typeof evalSuiteSchema> & {
  /** Content hash of the suite as parsed (stored with every run). */
  hash: string;
  /** The file it was read from, when any. */
  file?: string;
};

/** Validates a parsed suite; errors name the field (`cases[3].assert[0].type: …`). */
export function parseSuite(raw: unknown, file?: string): EvalSuite {
  const suite = parseInput(evalSuiteSchema, raw, 'suite');
  const ids = new Set<string>();
  suite.cases.forEach((c, i) => {
    if (ids.has(c.id)) throw new UserError(`duplicate case id '${c.id}'`, { field: `suite.cases.${i}.id` });
    ids.add(c.id);
    c.assert.forEach((a, j) => checkAssertion(a, `suite.cases.${i}.assert.${j}`));
    if (suite.agent?.type === 'transcript' && !c.transcript)
      throw new UserError('is required for a transcript agent', { field: `suite.cases.${i}.transcript` });
  });
  return { ...suite, hash: hashJson(raw), ...(file ? { file } : {}) };
}

/** Field-level checks the schema cannot say (what `value` each type needs). */
function checkAssertion(a: Assertion, field: string): void {
  const type = a.type.replace(/^not-/, '') as AssertionType;
  const need = (ok: boolean, what: string) => {
    if (!ok) throw new UserError(what, { field });
  };
  switch (type) {
    case 'contains':
    case 'icontains':
    case 'regex':
    case 'javascript':
      need(typeof a.value === 'string', `${type} needs a string value`);
      if (type === 'regex')
        try {
          new RegExp(a.value as string);
        } catch {
          throw new UserError('is not a valid regular expression', { field: `${field}.value` });
        }
      break;
    case 'numeric':
      need(typeof a.value === 'number', 'numeric needs a number value');
      break;
    case 'cost':
      need(a.threshold !== undefined || typeof a.value === 'number', 'cost needs a threshold');
      break;
    case 'policy-outcome':
      need(typeof a.tool === 'string', 'policy-outcome needs a tool');
      need(
        ['allow', 'approval', 'deny'].includes(a.value as string),
        'policy-outcome value must be allow, approval or deny',
      );
      break;
    case 'trajectory:tool-used':
      need(
        typeof a.value === 'string' ||
          (Array.isArray(a.value) && a.value.every((v) => typeof v === 'string')),
        'trajectory:tool-used needs a tool name or a list of them',
      );
      break;
    case 'trajectory:tool-sequence':
      need(
        Array.isArray(a.value) ||
          (typeof a.value === 'object' &&
            a.value !== null &&
            Array.isArray((a.value as { steps?: unknown }).steps)),
        'trajectory:tool-sequence needs a list of tools (or { steps, mode })',
      );
      break;
    case 'trajectory:tool-args-match':
      need(
        typeof a.value === 'object' &&
          a.value !== null &&
          typeof (a.value as { name?: unknown }).name === 'string',
        'trajectory:tool-args-match needs { name, args }',
      );
      break;
    default:
      break;
  }
}

/** Reads a suite file (YAML or JSON). */
export function loadSuiteFile(file: string): EvalSuite {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (err) {
    throw new UserError(`cannot read ${file} (${(err as NodeJS.ErrnoException).code ?? 'error'})`, {
      field: 'suite',
    });
  }
  let raw: unknown;
  try {
    raw = parseYaml(text);
  } catch (err) {
    throw new UserError(`${file} is not valid YAML: ${(err as Error).message.split('\n')[0]}`, {
      field: 'suite',
    });
  }
  return parseSuite(raw, path.resolve(file));
}
