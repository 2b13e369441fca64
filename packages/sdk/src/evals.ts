import type { AosClient } from './client.js';
import type { AgentRecord } from './console-types.js';
import type { paths } from './generated/api.js';

/** A stored suite run, as the API lists it. Generated from /v1/openapi.json. */
export type EvalRunRecord =
  paths['/v1/evals/runs']['get']['responses'][200]['content']['application/json']['runs'][number];

/** Whether an agent may be promoted to a tier, and what is missing. */
export interface GateCheckRecord {
  agentId: string;
  tier: number;
  ok: boolean;
  missing: string[];
  suites: {
    suite: string;
    threshold: number;
    window: string;
    consecutive: number;
    runs: { id: string; passRate: number; result: 'pass' | 'fail'; finishedAt: string }[];
    ok: boolean;
    missing?: string;
  }[];
}

/** An agent's evaluations: its latest run per suite and the gates of each higher tier. */
export interface AgentEvals {
  agentId: string;
  tier: number;
  status: string;
  latest: EvalRunRecord[];
  gates: GateCheckRecord[];
}

/** Coverage of one agent or workflow. */
export interface CoverageRecord {
  actions: number;
  covered: number;
  coverage: number | null;
  uncovered: { tool: string; outcome: string; count: number }[];
}

/** Evaluation coverage over a period. */
export interface EvalCoverage {
  since: string;
  agents: (CoverageRecord & { agentId: string; suites: string[] })[];
  workflows: (CoverageRecord & { workflow: string })[];
}

const enc = encodeURIComponent;
const query = (q: Record<string, string | number | undefined>) => {
  const s = new URLSearchParams(
    Object.entries(q)
      .filter((e): e is [string, string | number] => e[1] !== undefined)
      .map(([k, v]): [string, string] => [k, String(v)]),
  ).toString();
  return s ? `?${s}` : '';
};

/**
 * Changes an agent's tier (admin token, not the agent's owner). Raising it is refused (409, naming what is missing)
 * unless every gating suite passed.
 *
 * @example
 * await promoteAgent(aos, 'support-bot', { tier: 3, reason: 'passed support_agent_regression' });
 */
export function promoteAgent(
  client: AosClient,
  id: string,
  body: { tier: number; reason?: string },
): Promise<{ agent: AgentRecord; gates?: GateCheckRecord }> {
  return client.request('POST', `/v1/agents/${enc(id)}/promote`, body);
}

/** An agent's latest results per suite and its gates (human token). */
export function agentEvals(client: AosClient, id: string): Promise<AgentEvals> {
  return client.request('GET', `/v1/agents/${enc(id)}/evals`);
}

/** Suite runs, newest first (human token). */
export async function listEvalRuns(
  client: AosClient,
  filter: { agent?: string; suite?: string; limit?: number } = {},
): Promise<EvalRunRecord[]> {
  return (await client.request<{ runs: EvalRunRecord[] }>('GET', `/v1/evals/runs${query(filter)}`)).runs;
}

/** Evaluation coverage per agent and workflow over `since` (e.g. `7d`; human token). */
export function evalCoverage(
  client: AosClient,
  filter: { since?: string; agent?: string } = {},
): Promise<EvalCoverage> {
  return client.request('GET', `/v1/evals/coverage${query(filter)}`);
}
