import path from 'node:path';
import { z } from 'zod';
import { UserError } from '../errors.js';
import { decide } from './decide.js';
import type { Decision, DecisionOptions } from './decide.js';
import { loadPolicyDirectory } from './policy-bundle.js';
import { assertPoliciesTypeCheck } from './type-check.js';
import type { PolicyBundle } from './policy-bundle.js';
import {
  defaultDecisionOptions,
  defaultEnvironment,
  checkToolInput,
  loadToolCatalog,
  parseAt,
  parseToolCatalog,
  parseYamlText,
  readTextFile,
  simulatedAgentSchema,
  simulatedDecisionInput,
} from './simulate.js';
import type { SimulatedAgent, ToolCatalog } from './simulate.js';

const caseSchema = z
  .object({
    name: z.string().min(1),
    /** An agent, or the name of one under the file's `agents`. */
    agent: z.union([z.string().min(1), simulatedAgentSchema]),
    tool: z.string().min(1),
    input: z.record(z.string(), z.unknown()).default({}),
    environment: z.string().min(1).optional(),
    reason: z.string().optional(),
    confidence: z.number().min(0).max(1).optional(),
    session: z
      .object({
        tools: z.array(z.string().min(1)).default([]),
        readUntrusted: z.boolean().optional(),
        calls: z.number().int().min(0).optional(),
      })
      .strict()
      .optional(),
    expect: z.enum(['allow', 'approval', 'deny']),
    /** Ids that must be among the determining policies. */
    policies: z.array(z.string().min(1)).optional(),
  })
  .strict();

const fileSchema = z
  .object({
    policies: z.string().min(1),
    tools: z.union([z.string().min(1), z.array(z.unknown())]),
    environment: z.string().min(1).optional(),
    productionEnvironments: z.array(z.string().min(1)).optional(),
    agents: z.record(z.string(), simulatedAgentSchema).default({}),
    cases: z.array(caseSchema).min(1),
  })
  .strict();

/** One test case: a call, its circumstances and the outcome it must get. */
export type PolicyTestCase = z.infer<typeof caseSchema>;

/** A loaded policy test file, with its policies and tools resolved. */
export interface PolicyTestSuite {
  file: string;
  bundle: PolicyBundle;
  tools: ToolCatalog;
  options: DecisionOptions;
  environment: string;
  agents: Record<string, SimulatedAgent>;
  cases: PolicyTestCase[];
}

/** What one case got. */
export interface PolicyTestResult {
  name: string;
  pass: boolean;
  expect: PolicyTestCase['expect'];
  outcome: Decision['outcome'];
  policies: string[];
  /** Expected policy ids that did not determine the outcome. */
  missingPolicies: string[];
  decision: Decision;
}

/**
 * Loads a policy test file (YAML): `policies` (a directory, relative to the file), `tools` (a list, or a tools file
 * relative to the file), optional `environment`, `productionEnvironments` and named `agents`, and `cases`. Every
 * case's agent, tool and input (against the tool's `inputSchema`) are checked, and the policies type-checked against
 * the tools, before anything runs; errors name the file and the field.
 *
 * @example
 * // policy-tests.yaml
 * // policies: ./policies
 * // tools: ./tools.yaml
 * // cases:
 * //   - { name: refunds over 100 need approval, agent: { id: bot, role: support, tier: 2 },
 * //       tool: payments.refund, input: { amount: 300 }, expect: approval, policies: [large-refund] }
 */
export function loadPolicyTestFile(file: string): PolicyTestSuite {
  const raw = parseAt(fileSchema, parseYamlText(readTextFile(file, 'file'), file), `${file}:`);
  const dir = path.dirname(file);
  const tools =
    typeof raw.tools === 'string'
      ? loadToolCatalog(path.resolve(dir, raw.tools))
      : parseToolCatalog(raw.tools, `${file}: tools`);
  raw.cases.forEach((c, i) => {
    if (typeof c.agent === 'string' && !raw.agents[c.agent]) {
      throw new UserError(`unknown agent '${c.agent}' (not under agents)`, {
        field: `${file}: cases.${i}.agent`,
      });
    }
    const tool = tools.get(c.tool);
    if (!tool) {
      throw new UserError(`unknown tool '${c.tool}' (not in the tools)`, {
        field: `${file}: cases.${i}.tool`,
      });
    }
    checkToolInput(tool, c.input, `${file}: cases.${i}`);
  });
  const bundle = loadPolicyDirectory(path.resolve(dir, raw.policies));
  assertPoliciesTypeCheck(bundle, [...tools.values()]);
  return {
    file,
    bundle,
    tools,
    options: defaultDecisionOptions(
      raw.productionEnvironments ? { productionEnvironments: raw.productionEnvironments } : {},
    ),
    environment: raw.environment ?? defaultEnvironment(),
    agents: raw.agents,
    cases: raw.cases,
  };
}

/**
 * Decides every case and compares. A case passes when the outcome is the expected one and every id under its
 * `policies` is among the determining policies. When `session.readUntrusted` is left out it is true if any tool
 * under `session.tools` has untrusted output; `session.calls` defaults to the number of those tools.
 */
export function runPolicyTests(suite: PolicyTestSuite): PolicyTestResult[] {
  return suite.cases.map((c) => {
    const tool = suite.tools.get(c.tool);
    const agent = typeof c.agent === 'string' ? suite.agents[c.agent] : c.agent;
    if (!tool || !agent) throw new UserError(`case ${c.name} names an unknown tool or agent`);
    const prior = c.session?.tools ?? [];
    const decision = decide(
      simulatedDecisionInput({
        agent,
        tool,
        input: c.input,
        environment: c.environment ?? suite.environment,
        reason: c.reason,
        confidence: c.confidence,
        session: {
          tools: prior,
          readUntrusted:
            c.session?.readUntrusted ?? prior.some((t) => suite.tools.get(t)?.metadata.untrustedOutput),
          calls: c.session?.calls ?? prior.length,
        },
      }),
      suite.bundle,
      suite.options,
    );
    const missingPolicies = (c.policies ?? []).filter((id) => !decision.policies.includes(id));
    return {
      name: c.name,
      pass: decision.outcome === c.expect && missingPolicies.length === 0,
      expect: c.expect,
      outcome: decision.outcome,
      policies: decision.policies,
      missingPolicies,
      decision,
    };
  });
}
