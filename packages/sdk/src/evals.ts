import type { AosClient } from './client.js';
import type { AgentRecord } from './console-types.js';
import type { components, paths } from './generated/api.js';

/** A stored suite run, as the API lists it. Generated from /v1/openapi.json. */
export type EvalRunRecord =
  paths['/v1/evals/runs']['get']['responses'][200]['content']['application/json']['runs'][number];

/** An agent's evaluations: its latest run per suite and the gates of each higher tier. Generated from /v1/openapi.json. */
export type AgentEvals = components['schemas']['AgentEvals'];

/** Whether an agent may be promoted to a tier, and what is missing. Generated from /v1/openapi.json. */
export type GateCheckRecord = AgentEvals['gates'][number];

/** Evaluation coverage over a period. Generated from /v1/openapi.json. */
export type EvalCoverage = components['schemas']['EvalCoverage'];

/** Coverage of one agent or workflow. */
export type CoverageRecord = Omit<EvalCoverage['workflows'][number], 'workflow'>;

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
