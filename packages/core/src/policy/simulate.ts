import fs from 'node:fs';
import { parse as parseYaml } from 'yaml';
import { Ajv } from 'ajv';
import type { ValidateFunction } from 'ajv';
import { z } from 'zod';
import { parseConfig } from '../config/config.js';
import { parseDurationSec } from '../config/duration.js';
import { metadataFromAnnotations } from '../connectors/index.js';
import type { ToolMetadata } from '../connectors/index.js';
import { UserError } from '../errors.js';
import { decide } from './decide.js';
import type { Decision, DecisionInput, DecisionOptions } from './decide.js';
import { inputRecordType, toCedarInput } from './input-types.js';
import type { PolicyBundle } from './policy-bundle.js';

/** A tool as the simulator sees it: its name, connector, governance metadata and input schema. */
export interface SimulatedTool {
  name: string;
  connector: string;
  metadata: ToolMetadata;
  /** JSON Schema of the input, when the tools file gives one: calls are checked and converted by it. */
  inputSchema?: Record<string, unknown> | undefined;
}

/** Tools by name. */
export type ToolCatalog = ReadonlyMap<string, SimulatedTool>;

const jsonObject = z.record(z.string(), z.unknown());

// Our metadata fields and an MCP `tools/list` entry's fields (annotations give the defaults of effect, destructive
// and idempotent; our fields override them, as aos.yaml's `tools:` settings do).
const toolEntrySchema = z
  .object({
    name: z.string().min(1),
    effect: z.enum(['read', 'write']).optional(),
    untrustedOutput: z.boolean().optional(),
    risk: z.enum(['low', 'medium', 'high']).optional(),
    destructive: z.boolean().optional(),
    idempotent: z.boolean().optional(),
    connector: z.string().min(1).optional(),
    title: z.string().optional(),
    description: z.string().optional(),
    inputSchema: jsonObject.optional(),
    outputSchema: jsonObject.optional(),
    annotations: z
      .object({
        title: z.string().optional(),
        readOnlyHint: z.boolean().optional(),
        destructiveHint: z.boolean().optional(),
        idempotentHint: z.boolean().optional(),
        openWorldHint: z.boolean().optional(),
      })
      .strict()
      .optional(),
    icons: z.array(z.unknown()).optional(),
    _meta: jsonObject.optional(),
  })
  .strict();

/** The agent fields a simulation needs; `owner` defaults to `unknown`, `environments` to the call's environment. */
export const simulatedAgentSchema = z
  .object({
    id: z.string().min(1),
    role: z.string().min(1),
    tier: z.number().int().min(0).max(3),
    owner: z.string().min(1).optional(),
    environments: z.array(z.string().min(1)).optional(),
  })
  .strict();

/** An agent in a simulation. */
export type SimulatedAgent = z.infer<typeof simulatedAgentSchema>;

const inputSchema = z.record(z.string(), z.unknown());

const callSchema = z
  .object({
    tool: z.string().min(1),
    input: inputSchema.default({}),
    environment: z.string().min(1).optional(),
    reason: z.string().optional(),
    confidence: z.number().min(0).max(1).optional(),
  })
  .strict();

const sessionSchema = z
  .object({
    session: z.string().min(1),
    agent: simulatedAgentSchema,
    environment: z.string().min(1).optional(),
    calls: z.array(callSchema),
  })
  .strict();

/** One call in a recorded or hand-written session. */
export type SimulatedCall = z.infer<typeof callSchema>;

/** One session of the sessions file: an agent and its calls, in order. */
export interface SimulatedSession extends z.infer<typeof sessionSchema> {
  /** 1-based line in the file it came from. */
  line: number;
}

/** What the agent already did in the session, as `decide` takes it. */
export interface SessionHistory {
  tools: string[];
  readUntrusted: boolean;
  calls: number;
}

/** Everything needed to decide calls offline. */
export interface SimulationOptions {
  bundle: PolicyBundle;
  tools: ToolCatalog;
  options: DecisionOptions;
  /** Environment of a call that names none and whose session names none. */
  defaultEnvironment: string;
}

/** One decided call, in the `aos policy check` line shape plus the full decision. */
export interface SimulatedCallResult {
  session: string;
  /** 0-based position of the call in its session. */
  index: number;
  tool: string;
  outcome: Decision['outcome'];
  policies: string[];
  decision: Decision;
}

/**
 * The decision settings `aos serve` uses when `aos.yaml` says nothing (production environments `production` and
 * `prod`, default approval group `approvers`, expiry `1h`), with the given ones in their place.
 */
export function defaultDecisionOptions(overrides: Partial<DecisionOptions> = {}): DecisionOptions {
  const c = parseConfig({});
  return {
    productionEnvironments: c.productionEnvironments,
    defaultApprovalGroup: c.approvals.defaultGroup,
    defaultExpirySec: parseDurationSec(c.approvals.defaultExpiry, 'config.approvals.defaultExpiry'),
    ...overrides,
  };
}

/** The default environment of `aos.yaml` (`dev`). */
export function defaultEnvironment(): string {
  return parseConfig({}).defaultEnvironment;
}

const wrapperSchema = z
  .object({
    connector: z.string().min(1).optional(),
    tools: z.array(toolEntrySchema),
    nextCursor: z.string().optional(),
  })
  .strict();

/**
 * Builds a tool catalog from a parsed tools file: a list of tools, or `{ tools: [...] }` — which is also the shape of
 * an MCP `tools/list` result, so one can be pasted in; with `connector: <id>` beside `tools`, names are prefixed
 * (`refund` → `payments.refund`) the way the gateway names them. Each tool is our metadata (`name`, `effect`,
 * `untrustedOutput`, `risk`, `destructive`, `idempotent`, `connector`) and/or an MCP tool definition (`title`,
 * `description`, `inputSchema`, `outputSchema`, `annotations`). MCP annotations give the defaults (`readOnlyHint`
 * → effect read, `destructiveHint`, `idempotentHint`) and our fields override them; what neither says gets the
 * defaults the engine gives an unannotated tool (a write is destructive, output is untrusted, risk from the effect).
 * `connector` defaults to the part of the name before the first dot. Errors name `source` and the field.
 *
 * @example parseToolCatalog([{ name: 'payments.refund', effect: 'write', risk: 'high' }], 'tools.yaml')
 */
export function parseToolCatalog(raw: unknown, source: string): ToolCatalog {
  const wrapped = !!raw && typeof raw === 'object' && !Array.isArray(raw) && 'tools' in raw;
  const file = wrapped ? parseAt(wrapperSchema, raw, `${source}:`) : undefined;
  const entries = file ? file.tools : parseAt(z.array(toolEntrySchema), raw, `${source}:`);
  const tools = new Map<string, SimulatedTool>();
  entries.forEach((e, i) => {
    const field = (k: string) => `${source}: ${wrapped ? 'tools.' : ''}${i}.${k}`;
    const name = file?.connector ? `${file.connector}.${e.name}` : e.name;
    if (tools.has(name)) throw new UserError(`duplicate tool '${name}'`, { field: field('name') });
    const dot = name.indexOf('.');
    const override: Partial<ToolMetadata> = {};
    if (e.effect !== undefined) override.effect = e.effect;
    if (e.untrustedOutput !== undefined) override.untrustedOutput = e.untrustedOutput;
    if (e.risk !== undefined) override.risk = e.risk;
    if (e.destructive !== undefined) override.destructive = e.destructive;
    if (e.idempotent !== undefined) override.idempotent = e.idempotent;
    let validate: ValidateFunction | undefined;
    if (e.inputSchema) {
      try {
        validate = ajv.compile(e.inputSchema);
      } catch (err) {
        throw new UserError(`not a valid JSON Schema: ${(err as Error).message}`, {
          field: field('inputSchema'),
        });
      }
    }
    const tool: SimulatedTool = {
      name,
      connector: e.connector ?? file?.connector ?? (dot > 0 ? name.slice(0, dot) : name),
      metadata: metadataFromAnnotations(e.annotations, override),
      ...(e.inputSchema ? { inputSchema: e.inputSchema } : {}),
    };
    if (validate) validators.set(tool, validate);
    tools.set(name, tool);
  });
  return tools;
}

const ajv = new Ajv({ allErrors: false, strict: false });
const validators = new WeakMap<SimulatedTool, ValidateFunction>();

/**
 * Checks a call's input as the pipeline would before deciding: against the tool's `inputSchema` (when it has one)
 * and that policies can see it exactly (see `toCedarInput`). The first problem is a {@link UserError} whose field is
 * `<where>.input.<path>`, e.g. `sessions.jsonl:3: calls.0.input.amount`.
 */
export function checkToolInput(tool: SimulatedTool, input: unknown, where: string): void {
  const validate = validators.get(tool) ?? (tool.inputSchema ? ajv.compile(tool.inputSchema) : undefined);
  if (!validate) return;
  if (!validate(input)) {
    const e = (validate.errors ?? [])[0];
    const at = ['input', ...(e?.instancePath ?? '').split('/').filter(Boolean)].join('.');
    throw new UserError(`${e?.message ?? 'is invalid'} (the tool's inputSchema)`, {
      field: `${where}.${at}`,
    });
  }
  try {
    toCedarInput(input, inputRecordType(tool.inputSchema));
  } catch (err) {
    if (err instanceof UserError) {
      const message = err.field ? err.message.slice(err.field.length + 2) : err.message;
      throw new UserError(message, { field: `${where}.${err.field ?? 'input'}` });
    }
    throw err;
  }
}

/**
 * Parses with a zod schema; the first problem becomes a {@link UserError} whose field is `where` followed by the
 * dotted path, e.g. `sessions.jsonl:3: calls.0.tool`.
 */
export function parseAt<S extends z.ZodType>(schema: S, value: unknown, where: string): z.infer<S> {
  const r = schema.safeParse(value);
  if (r.success) return r.data;
  const issue = r.error.issues[0];
  const p = (issue?.path ?? []).map(String).join('.');
  throw new UserError(issue?.message ?? 'invalid', { field: p ? `${where} ${p}` : where });
}

/** Reads a file, naming it and the field on failure. */
export function readTextFile(file: string, field: string): string {
  try {
    return fs.readFileSync(file, 'utf8');
  } catch (err) {
    throw new UserError(`cannot read ${file} (${(err as NodeJS.ErrnoException).code ?? 'error'})`, { field });
  }
}

/** Parses YAML (a superset of JSON), naming the file on failure. */
export function parseYamlText(text: string, file: string): unknown {
  try {
    return parseYaml(text) as unknown;
  } catch (err) {
    throw new UserError(`not valid YAML or JSON: ${(err as Error).message.split('\n')[0]}`, { field: file });
  }
}

/** Reads a tools file (JSON or YAML); see {@link parseToolCatalog}. */
export function loadToolCatalog(file: string): ToolCatalog {
  return parseToolCatalog(parseYamlText(readTextFile(file, 'tools'), file), file);
}

/**
 * Parses a sessions file: JSON Lines, one session a line (`{"session","agent","environment"?,"calls":[…]}`);
 * blank lines are skipped. Every line is checked before anything is decided: every tool must be in `tools`, and
 * every input must pass its tool's `inputSchema` (see {@link checkToolInput}).
 * Errors name the file, the line and the field, e.g. `sessions.jsonl:3: calls.0.tool: unknown tool 'x'`.
 */
export function parseSessionsJsonl(text: string, file: string, tools: ToolCatalog): SimulatedSession[] {
  const sessions: SimulatedSession[] = [];
  text.split('\n').forEach((raw, i) => {
    const line = i + 1;
    if (raw.trim() === '') return;
    let json: unknown;
    try {
      json = JSON.parse(raw);
    } catch (err) {
      throw new UserError(`not valid JSON: ${(err as Error).message}`, { field: `${file}:${line}` });
    }
    const s = parseAt(sessionSchema, json, `${file}:${line}:`);
    s.calls.forEach((c, k) => {
      const tool = tools.get(c.tool);
      if (!tool) {
        throw new UserError(`unknown tool '${c.tool}' (not in the tools file)`, {
          field: `${file}:${line}: calls.${k}.tool`,
        });
      }
      checkToolInput(tool, c.input, `${file}:${line}: calls.${k}`);
    });
    sessions.push({ ...s, line });
  });
  return sessions;
}

/** The decision input for one call of a simulated agent. */
export function simulatedDecisionInput(p: {
  agent: SimulatedAgent;
  tool: SimulatedTool;
  input: Record<string, unknown>;
  environment: string;
  reason?: string | undefined;
  confidence?: number | undefined;
  session: SessionHistory;
}): DecisionInput {
  return {
    agent: {
      id: p.agent.id,
      role: p.agent.role,
      tier: p.agent.tier,
      owner: p.agent.owner ?? 'unknown',
      environments: p.agent.environments ?? [p.environment],
    },
    tool: {
      name: p.tool.name,
      connector: p.tool.connector,
      metadata: p.tool.metadata,
      inputSchema: p.tool.inputSchema,
    },
    input: p.input,
    environment: p.environment,
    reason: p.reason,
    confidence: p.confidence,
    session: { tools: [...p.session.tools], readUntrusted: p.session.readUntrusted, calls: p.session.calls },
  };
}

/**
 * Replays one session in order through {@link decide}, carrying its history the way the pipeline does: every call
 * counts in `session.calls`; a call the decision allows is taken to have run and succeeded, so its tool joins
 * `session.tools` and, for a tool with untrusted output, sets `session.readUntrusted`. A denied call, or one still
 * waiting for approval, has not run and adds neither.
 */
export function simulateSession(s: SimulatedSession, o: SimulationOptions): SimulatedCallResult[] {
  const history: SessionHistory = { tools: [], readUntrusted: false, calls: 0 };
  return s.calls.map((c, index) => {
    const tool = o.tools.get(c.tool);
    if (!tool) {
      throw new UserError(`unknown tool '${c.tool}' (not in the tools file)`, {
        field: `line ${s.line}: calls.${index}.tool`,
      });
    }
    const environment = c.environment ?? s.environment ?? o.defaultEnvironment;
    const decision = decide(
      simulatedDecisionInput({
        agent: s.agent,
        tool,
        input: c.input,
        environment,
        reason: c.reason,
        confidence: c.confidence,
        session: history,
      }),
      o.bundle,
      o.options,
    );
    history.calls += 1;
    if (decision.outcome === 'allow') {
      history.tools.push(tool.name);
      if (tool.metadata.untrustedOutput) history.readUntrusted = true;
    }
    return {
      session: s.session,
      index,
      tool: tool.name,
      outcome: decision.outcome,
      policies: decision.policies,
      decision,
    };
  });
}
