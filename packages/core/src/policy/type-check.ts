import type { ToolMetadata } from '../connectors/index.js';
import { UserError } from '../errors.js';
import { validateCedarPolicies } from './cedar/index.js';
import type { CedarPolicySet } from './cedar/index.js';
import { decimalText, inputRecordType, inputTypeOf } from './input-types.js';
import type { InputType } from './input-types.js';
import type { PolicyBundle } from './policy-bundle.js';

/** A tool as the type check sees it: what the engine puts in the Cedar request for it. */
export interface PolicyTool {
  name: string;
  connector: string;
  metadata: ToolMetadata;
  /** JSON Schema of the input; without one the tool's input has no attributes policies may read. */
  inputSchema?: Record<string, unknown> | undefined;
}

/** One problem, located by file and, where known, policy. */
export interface PolicyProblem {
  file: string;
  policy?: string;
  message: string;
}

/** What {@link typeCheckPolicies} found. */
export interface PolicyTypeCheck {
  /** Policies that can type-error on some valid input: the set must not load. */
  errors: PolicyProblem[];
  /** Policies that cannot error but probably do not do what was meant (never apply, name an unknown tool). */
  warnings: PolicyProblem[];
}

type SchemaType = Record<string, unknown>;

function cedarType(t: InputType): SchemaType {
  switch (t.kind) {
    case 'long':
      return { type: 'Long' };
    case 'decimal':
      return { type: 'Extension', name: 'decimal' };
    case 'string':
      return { type: 'String' };
    case 'bool':
      return { type: 'Boolean' };
    case 'set':
      return { type: 'Set', element: cedarType(t.of) };
    case 'record': {
      const attributes: Record<string, SchemaType> = {};
      for (const [k, a] of t.attrs) attributes[k] = { ...cedarType(a.type), required: a.required };
      return { type: 'Record', attributes };
    }
  }
}

const STRING = { type: 'String' };
const LONG = { type: 'Long' };
const BOOL = { type: 'Boolean' };

/**
 * The Cedar schema (JSON form) of every request the engine builds for these tools — the entity model
 * (`Agent` in `Role`, `Tool` in `Connector`, each with the attributes `buildCedarRequest` gives them), one action per
 * tool in `Action::"read"` or `Action::"write"`, and per tool the context: `input` typed from its `inputSchema`
 * (see {@link inputTypeOf}), environment, production, reason, confidence, risk and session.
 */
export function cedarSchemaFor(tools: readonly PolicyTool[]): Record<string, unknown> {
  const actions: Record<string, unknown> = { read: {}, write: {} };
  for (const t of tools) {
    actions[t.name] = {
      memberOf: [{ id: t.metadata.effect }],
      appliesTo: {
        principalTypes: ['Agent'],
        resourceTypes: ['Tool'],
        context: {
          type: 'Record',
          attributes: {
            input: cedarType(inputRecordType(t.inputSchema)),
            environment: STRING,
            production: BOOL,
            reason: STRING,
            confidence: LONG,
            risk: LONG,
            session: {
              type: 'Record',
              attributes: { tools: { type: 'Set', element: STRING }, readUntrusted: BOOL, calls: LONG },
            },
          },
        },
      },
    };
  }
  return {
    '': {
      entityTypes: {
        Agent: {
          memberOfTypes: ['Role'],
          shape: {
            type: 'Record',
            attributes: {
              id: STRING,
              role: STRING,
              tier: LONG,
              owner: STRING,
              environments: { type: 'Set', element: STRING },
            },
          },
        },
        Role: {},
        Tool: {
          memberOfTypes: ['Connector'],
          shape: {
            type: 'Record',
            attributes: {
              name: STRING,
              connector: STRING,
              effect: STRING,
              risk: STRING,
              destructive: BOOL,
              idempotent: BOOL,
              untrustedOutput: BOOL,
            },
          },
        },
        Connector: {},
      },
      actions,
    },
  };
}

type Json = Record<string, unknown>;
const isObject = (x: unknown): x is Json => x !== null && typeof x === 'object' && !Array.isArray(x);

/** `context.input.amount` for an EST attribute chain rooted at `context`, else undefined. */
function contextPath(e: unknown): string[] | undefined {
  if (!isObject(e)) return undefined;
  if (e['Var'] === 'context') return ['context'];
  const dot = e['.'];
  if (isObject(dot) && typeof dot['attr'] === 'string') {
    const left = contextPath(dot['left']);
    return left ? [...left, dot['attr']] : undefined;
  }
  return undefined;
}

function typeAt(t: InputType | undefined, path: readonly string[]): InputType | undefined {
  let cur = t;
  for (const k of path) cur = cur?.kind === 'record' ? cur.attrs.get(k)?.type : undefined;
  return cur;
}

const METHOD: Record<string, string> = {
  '>': 'greaterThan',
  '>=': 'greaterThanOrEqual',
  '<': 'lessThan',
  '<=': 'lessThanOrEqual',
};

const FLIP: Record<string, string> = { '<': '>', '<=': '>=', '>': '<', '>=': '<=' };

/** How to fix each comparison of a decimal argument with a Long in a policy, e.g. `context.input.amount > 10000`. */
function decimalFixes(est: unknown, tools: readonly PolicyTool[]): string[] {
  const fixes = new Set<string>();
  const isDecimal = (path: string[]) =>
    path[0] === 'context' &&
    path[1] === 'input' &&
    tools.some((t) => typeAt(inputTypeOf(t.inputSchema), path.slice(2))?.kind === 'decimal');
  const walk = (x: unknown): void => {
    if (Array.isArray(x)) return x.forEach(walk);
    if (!isObject(x)) return;
    for (const [op, body] of Object.entries(x)) {
      if (['<', '<=', '>', '>=', '==', '!=', '+', '-', '*'].includes(op) && isObject(body)) {
        for (const [a, b] of [
          [body['left'], body['right']],
          [body['right'], body['left']],
        ] as const) {
          const path = contextPath(a);
          if (!path || !isDecimal(path)) continue;
          const lit = isObject(b) && typeof b['Value'] === 'number' ? decimalText(b['Value']) : undefined;
          const name = path.join('.');
          const value = `decimal("${lit ?? '…'}")`;
          // `10000 < amount` reads as `amount > 10000`.
          const method = METHOD[a === body['left'] ? op : (FLIP[op] ?? op)];
          fixes.add(
            method
              ? `\`${name}\` is a decimal here: compare with \`${value}\` or \`.${method}(…)\`, e.g. \`${name}.${method}(${value})\``
              : `\`${name}\` is a decimal here: compare with \`${value}\`, e.g. \`${name} ${op} ${value}\``,
          );
        }
      }
      walk(body);
    }
  };
  walk(est);
  return [...fixes];
}

function describe(message: string, help: string | undefined, policyId: string): string {
  const text = message.replace(`for policy \`${policyId}\`, `, '');
  const notFound = /^attribute `input\.([^`]+)` in context for Action::"([^"]+)" not found$/.exec(text);
  if (notFound) {
    return (
      `${text}: declare \`${notFound[1]}\` in the inputSchema of ${notFound[2]}, or limit the policy to the tools ` +
      `that have it (\`action == Action::"…"\`)`
    );
  }
  return help ? `${text} (${help.replace(`for policy \`${policyId}\`, `, '')})` : text;
}

function checkSet(
  set: CedarPolicySet,
  schema: unknown,
  tools: readonly PolicyTool[],
  out: PolicyTypeCheck,
): void {
  if (set.policies.length === 0) return;
  const issues = validateCedarPolicies(set, schema, { withWarnings: true });
  const seen = new Set<string>();
  for (const issue of issues) {
    const policy = set.policies.find((p) => p.id === issue.policyId);
    const file = policy?.file ?? '?';
    const base = { file, policy: issue.policyId };
    let message = describe(issue.text, issue.help, issue.policyId);
    let warning = issue.severity === 'warning';
    if (/unrecognized action/.test(issue.message)) {
      // A tool nobody offers: the policy can never apply to a request, so it cannot error either.
      warning = true;
      message = `${message}: no known tool has that name, so the policy never applies to it`;
    }
    if (!warning && /\bdecimal\b/.test(issue.message) && /\bLong\b/.test(issue.message) && policy) {
      const fixes = decimalFixes(policy.est, tools);
      if (fixes.length > 0) message = `${message}; ${fixes.join('; ')}`;
    }
    const key = `${warning}|${issue.policyId}|${message}`;
    if (seen.has(key)) continue;
    seen.add(key);
    (warning ? out.warnings : out.errors).push({ ...base, message });
  }
}

/**
 * Type-checks both sets of a bundle against the schema of the engine's requests for these tools
 * ({@link cedarSchemaFor}) with Cedar's strict validator. An error means the policy can fail to evaluate on some
 * input the tools' schemas accept — a Long compared with a decimal, an attribute a tool does not declare, an
 * optional argument read without `has` — and says how to fix it.
 */
export function typeCheckPolicies(bundle: PolicyBundle, tools: readonly PolicyTool[]): PolicyTypeCheck {
  const out: PolicyTypeCheck = { errors: [], warnings: [] };
  const schema = cedarSchemaFor(tools);
  checkSet(bundle.permits, schema, tools, out);
  checkSet(bundle.approvals, schema, tools, out);
  return out;
}

/** One line per problem: `caps.cedar: policy refund-cap: …`. */
export function formatPolicyProblems(problems: readonly PolicyProblem[]): string {
  return problems.map((p) => `${p.file}: ${p.policy ? `policy ${p.policy}: ` : ''}${p.message}`).join('\n');
}

/**
 * Refuses a bundle that does not type-check against the tools (see {@link typeCheckPolicies}) with a
 * {@link UserError} (field `policies`) listing every problem by file and policy.
 */
export function assertPoliciesTypeCheck(bundle: PolicyBundle, tools: readonly PolicyTool[]): void {
  const { errors } = typeCheckPolicies(bundle, tools);
  if (errors.length === 0) return;
  throw new UserError(
    `policy set ${bundle.source} can fail to evaluate on valid input (${errors.length} problem${errors.length === 1 ? '' : 's'}):\n` +
      formatPolicyProblems(errors),
    { field: 'policies' },
  );
}
