import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { AgentToolGateway } from '../agents/tool-gateway.js';
import { AgentRuntime } from '../agents/agent-runtime.js';
import type { ModelClient } from '../agents/model-client.js';
import type { AosConfig } from '../config/config.js';
import type { LlmAgentConfig } from '../config/llm-agent-config.js';
import type { Connector } from '../connectors/index.js';
import { buildConnector, createEngine } from '../engine.js';
import type { Engine } from '../engine.js';
import { AosError, UserError } from '../errors.js';
import type { Agent } from '../identity/agents.js';
import type { Human } from '../identity/humans.js';
import type { ActionView } from '../pipeline/types.js';
import type { PolicyBundle } from '../policy/policy-bundle.js';
import type { SecretStore } from '../secrets/index.js';
import { openStore } from '../store/open-store.js';
import { FixtureConnector } from './fixture-connector.js';
import type { EvalAgentSpec, EvalCase, EvalSuite } from './suite.js';

/** The environment every eval action is decided in. */
export const EVAL_ENVIRONMENT = 'eval';

/** One call the agent made in a case, as the pipeline decided it. */
export interface EvalCall {
  tool: string;
  input: Record<string, unknown>;
  /** The policy outcome; `invalid` when the pipeline refused the request itself (unknown tool, bad input). */
  outcome: 'allow' | 'approval' | 'deny' | 'invalid';
  status: string;
  actionId?: string;
  policies: string[];
  /** Cost units the call was charged (0 when denied). */
  cost: number;
  error?: string;
}

/** What a call answers to the agent. */
export interface EvalCallResult {
  outcome: EvalCall['outcome'];
  status: string;
  /** The structured answer of an executed call. */
  data?: unknown;
  /** The answer as text (what a model would read). */
  text: string;
  isError: boolean;
}

/** What a built-in rule agent is given for one case. */
export interface EvalAgentContext {
  caseId: string;
  task: string;
  vars: Record<string, unknown>;
  /** Calls a tool through the pipeline (environment `eval`, this case's session). */
  call(
    tool: string,
    input: Record<string, unknown>,
    options?: { reason?: string; confidence?: number },
  ): Promise<EvalCallResult>;
}

/** A deterministic agent under test; returns its final output (a reply), if any. */
export type EvalRuleAgent = (ctx: EvalAgentContext) => Promise<string | undefined | void>;

/** What a case produced. */
export interface CaseOutcome {
  calls: EvalCall[];
  output: string;
  /** The agent failed to finish (threw, the endpoint failed, the model run failed). */
  error?: string;
}

/** Everything a sandbox needs that comes from the organisation. */
export interface SandboxOptions {
  config: AosConfig;
  policies: PolicyBundle;
  secrets: SecretStore;
  /** The agent under test as the organisation knows it (its role, tier and owner are copied). */
  agent: Agent;
  /** The tier to evaluate at (default the agent's). */
  tier?: number;
  owner: Human | undefined;
  suite: EvalSuite;
  spec: EvalAgentSpec;
  rules: Readonly<Record<string, EvalRuleAgent>>;
  /** A model client instead of one built from the agent's `llmAgents` config (tests, embedding). */
  model?: (config: LlmAgentConfig, apiKey: string | undefined) => ModelClient;
}

/**
 * The real eval upstreams a suite may use: the config's `evals.connectors`. A suite naming any other connector names
 * a production system and is refused before anything runs.
 */
export function evalConnectors(config: AosConfig, suite: EvalSuite): AosConfig['connectors'] {
  return suite.connectors.map((id, i) => {
    const c = config.connectors.find((x) => x.id === id);
    if (!c) throw new UserError(`names no configured connector '${id}'`, { field: `suite.connectors.${i}` });
    if (!config.evals.connectors.includes(id))
      throw new UserError(
        `'${id}' is a production connector: evals reach only the eval upstreams listed in evals.connectors and the suite's fixture tools`,
        { field: `suite.connectors.${i}` },
      );
    return c;
  });
}

/**
 * Runs one case in a sandbox of its own: a fresh embedded store holding a copy of the agent (same id, role, tier and
 * owner, allowed in the `eval` environment), an engine with the organisation's policies and tool settings, and as
 * upstreams only the suite's fixture tools and the eval connectors. Every call goes through that engine's real
 * pipeline — guards, policy, approvals rules, budgets — so the case sees exactly the decisions production would make,
 * and nothing reaches a production system. The sandbox is deleted afterwards.
 */
export async function runCaseInSandbox(o: SandboxOptions, c: EvalCase): Promise<CaseOutcome> {
  // A sandbox lives seconds and is deleted: on a RAM disk where there is one, so its commits cost no disk flush.
  const base = fs.existsSync('/dev/shm') ? '/dev/shm' : os.tmpdir();
  const dir = fs.mkdtempSync(path.join(base, 'aos-eval-'));
  const fixtures = FixtureConnector.forSuite(o.suite.tools, { ...o.suite.fixtures, ...c.fixtures });
  const real = evalConnectors(o.config, o.suite).map((cc) => ({
    connector: buildConnector(cc, o.secrets) as Connector,
    timeoutMs: cc.timeoutMs,
  }));
  const store = await openStore({ dataDir: dir });
  let engine: Engine | undefined;
  try {
    const owner = o.owner ?? { id: o.agent.owner, displayName: o.agent.owner, groups: [] };
    await store.humans.add(
      { id: owner.id, displayName: owner.displayName, groups: owner.groups },
      'system:eval',
    );
    const agent = await store.agents.create(
      {
        id: o.agent.id,
        role: o.agent.role,
        tier: o.tier ?? o.agent.tier,
        owner: owner.id,
        environments: [...new Set([...o.agent.environments, EVAL_ENVIRONMENT])],
      },
      'system:eval',
    );
    engine = await createEngine({
      store,
      config: {
        ...o.config,
        connectors: [],
        defaultEnvironment: EVAL_ENVIRONMENT,
        rules: undefined,
        workflows: undefined,
        approvals: { ...o.config.approvals, webhook: undefined },
      },
      connectors: [...fixtures.map((f) => ({ connector: f as Connector, timeoutMs: 10_000 })), ...real],
      policies: o.policies,
      secrets: o.secrets,
      workflows: [],
    });
    await engine.start({ background: false });
    return await drive(engine, agent, o, c);
  } finally {
    await engine?.close().catch(() => undefined);
    await store.close().catch(() => undefined);
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

function outcomeOf(a: ActionView): EvalCall['outcome'] {
  return a.outcome === 'allowed' ? 'allow' : a.outcome === 'pending_approval' ? 'approval' : 'deny';
}

/** Text a model would read for an action. */
function textOf(a: ActionView): string {
  if (a.result) {
    const texts = (a.result.content as { type: string; text?: string }[])
      .filter((x) => x.type === 'text' && typeof x.text === 'string')
      .map((x) => x.text as string);
    return texts.join('\n');
  }
  if (a.status === 'denied') return `denied: ${a.decision.reasons.join('; ')}`;
  if (a.status === 'pending_approval') return 'held for approval';
  return a.error?.message ?? a.status;
}

async function drive(engine: Engine, agent: Agent, o: SandboxOptions, c: EvalCase): Promise<CaseOutcome> {
  const calls: EvalCall[] = [];
  const sessionId = await engine.actions.openSession(agent.id);
  const call: EvalAgentContext['call'] = async (tool, input, opts = {}) => {
    try {
      const a = await engine.actions.submit(agent, {
        tool,
        input,
        sessionId,
        environment: EVAL_ENVIRONMENT,
        ...(opts.reason ? { reason: opts.reason } : {}),
        ...(opts.confidence !== undefined ? { confidence: opts.confidence } : {}),
      });
      const outcome = outcomeOf(a);
      calls.push({
        tool,
        input,
        outcome,
        status: a.status,
        actionId: a.id,
        policies: a.decision.policies,
        cost: outcome === 'deny' ? 0 : (engine.tools.get(tool)?.cost ?? 0),
      });
      return {
        outcome,
        status: a.status,
        ...(a.status === 'succeeded' ? { data: a.result?.structuredContent } : {}),
        text: textOf(a),
        isError: a.status !== 'succeeded' || a.result?.isError === true,
      };
    } catch (err) {
      if (!(err instanceof UserError)) throw err;
      calls.push({
        tool,
        input,
        outcome: 'invalid',
        status: err.code,
        policies: [],
        cost: 0,
        error: err.message,
      });
      return { outcome: 'invalid', status: err.code, text: err.message, isError: true };
    }
  };
  try {
    const output = await runAgent(engine, agent, o, c, call, calls);
    return { calls, output };
  } catch (err) {
    const message = err instanceof AosError || err instanceof Error ? err.message : String(err);
    return { calls, output: '', error: message };
  }
}

async function runAgent(
  engine: Engine,
  agent: Agent,
  o: SandboxOptions,
  c: EvalCase,
  call: EvalAgentContext['call'],
  calls: EvalCall[],
): Promise<string> {
  const spec = o.spec;
  switch (spec.type) {
    case 'rule': {
      const rule = o.rules[spec.rule];
      if (!rule)
        throw new UserError(
          `names no rule agent '${spec.rule}' (known: ${Object.keys(o.rules).join(', ') || 'none'})`,
          { field: 'suite.agent.rule' },
        );
      return (await rule({ caseId: c.id, task: c.task, vars: c.vars, call })) ?? '';
    }
    case 'transcript': {
      for (const t of c.transcript ?? []) await call(t.tool, t.input, t.reason ? { reason: t.reason } : {});
      return c.output ?? '';
    }
    case 'http': {
      const res = await fetch(spec.url, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ case: c.id, task: c.task, vars: c.vars }),
        signal: AbortSignal.timeout(spec.timeoutMs),
      });
      if (!res.ok) throw new Error(`agent endpoint answered HTTP ${res.status}`);
      const body = (await res.json()) as { output?: unknown; calls?: unknown };
      const proposed = Array.isArray(body.calls) ? body.calls : [];
      for (const p of proposed as { tool?: unknown; input?: unknown; reason?: unknown }[]) {
        if (typeof p?.tool !== 'string') throw new Error('agent endpoint answered a call without a tool');
        await call(
          p.tool,
          p.input && typeof p.input === 'object' ? (p.input as Record<string, unknown>) : {},
          typeof p.reason === 'string' ? { reason: p.reason } : {},
        );
      }
      return typeof body.output === 'string' ? body.output : '';
    }
    case 'llm': {
      const cfg = o.config.llmAgents.find((a) => a.agent === agent.id);
      if (!cfg)
        throw new UserError(`agent '${agent.id}' has no llmAgents entry to drive it`, {
          field: 'suite.agent',
        });
      const runtime = await AgentRuntime.create({
        engine,
        secrets: o.secrets,
        agents: [{ ...cfg, takesTasks: false }],
        gateway: (): Promise<AgentToolGateway> => Promise.resolve(recordingGateway(engine, call)),
        ...(o.model ? { model: o.model } : {}),
      });
      try {
        const input = Object.keys(c.vars).length ? `${c.task}\n\n${JSON.stringify(c.vars)}` : c.task;
        const result = await runtime.run(agent.id, { input });
        if (result.status !== 'completed' && calls.length === 0)
          throw new Error(`model run ${result.status}: ${result.reason ?? 'no reason'}`);
        return result.output;
      } finally {
        runtime.stop();
      }
    }
  }
}

/** The in-process gateway of an LLM agent under test, with every call recorded as the case's trajectory. */
function recordingGateway(engine: Engine, call: EvalAgentContext['call']): AgentToolGateway {
  return {
    listTools: async () =>
      engine.tools
        .list()
        .filter((t) => t.status === 'active')
        .map((t) => ({
          name: t.name,
          description: t.definition.description ?? t.name,
          inputSchema: (t.definition.inputSchema as Record<string, unknown>) ?? { type: 'object' },
        })),
    call: async (c) => {
      const r = await call(c.tool, c.input, {
        reason: c.reason,
        ...(c.confidence !== undefined ? { confidence: c.confidence } : {}),
      });
      return { text: r.text, isError: r.isError, status: r.status };
    },
    blocked: () => Promise.resolve(undefined),
    close: () => Promise.resolve(),
  };
}
