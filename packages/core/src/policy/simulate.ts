import fs from 'node:fs';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import { parseConfig } from '../config/config.js';
import { parseDurationSec } from '../config/duration.js';
import { metadataFromAnnotations } from '../connectors/index.js';
import type { ToolMetadata } from '../connectors/index.js';
import { UserError } from '../errors.js';
import { decide } from './decide.js';
import type { Decision, DecisionInput, DecisionOptions } from './decide.js';
import type { PolicyBundle } from './policy-bundle.js';

/** A tool as the simulator sees it: its name, connector and governance metadata. */
export interface SimulatedTool {
  name: string;
  connector: string;
  metadata: ToolMetadata;
}

/** Tools by name. */
export type ToolCatalog = ReadonlyMap<string, SimulatedTool>;

const toolEntrySchema = z
  .object({
    name: z.string().min(1),
    effect: z.enum(['read', 'write']),
    untrustedOutput: z.boolean().optional(),
    risk: z.enum(['low', 'medium', 'high']).optional(),
    destructive: z.boolean().optional(),
    idempotent: z.boolean().optional(),
    connector: z.string().min(1).optional(),
    description: z.string().optional(),
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

/**
 * Builds a tool catalog from a parsed tools file: a list of tools, or `{ tools: [...] }`. Fields left out get the
 * defaults the engine gives a tool without MCP annotations (a write is destructive, output is untrusted, risk from
 * the effect), and `connector` defaults to the part of the name before the first dot. Errors name `source` and the
 * field.
 *
 * @example parseToolCatalog([{ name: 'payments.refund', effect: 'write', risk: 'high' }], 'tools.yaml')
 */
export function parseToolCatalog(raw: unknown, source: string): ToolCatalog {
  const wrapped = !!raw && typeof raw === 'object' && !Array.isArray(raw) && 'tools' in raw;
  const entries = wrapped
    ? parseAt(z.object({ tools: z.array(toolEntrySchema) }).strict(), raw, `${source}:`).tools
    : parseAt(z.array(toolEntrySchema), raw, `${source}:`);
  const tools = new Map<string, SimulatedTool>();
  entries.forEach((e, i) => {
    if (tools.has(e.name)) {
      throw new UserError(`duplicate tool '${e.name}'`, {
        field: `${source}: ${wrapped ? 'tools.' : ''}${i}.name`,
      });
    }
    const dot = e.name.indexOf('.');
    const override: Partial<ToolMetadata> = { effect: e.effect };
    if (e.untrustedOutput !== undefined) override.untrustedOutput = e.untrustedOutput;
    if (e.risk !== undefined) override.risk = e.risk;
    if (e.destructive !== undefined) override.destructive = e.destructive;
    if (e.idempotent !== undefined) override.idempotent = e.idempotent;
    tools.set(e.name, {
      name: e.name,
      connector: e.connector ?? (dot > 0 ? e.name.slice(0, dot) : e.name),
      metadata: metadataFromAnnotations(undefined, override),
    });
  });
  return tools;
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
 * blank lines are skipped. Every line is checked before anything is decided, and every tool must be in `tools`.
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
      if (!tools.has(c.tool)) {
        throw new UserError(`unknown tool '${c.tool}' (not in the tools file)`, {
          field: `${file}:${line}: calls.${k}.tool`,
        });
      }
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
    tool: { name: p.tool.name, connector: p.tool.connector, metadata: p.tool.metadata },
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
