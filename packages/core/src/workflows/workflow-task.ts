import crypto from 'node:crypto';
import type { WorkflowFailure } from './history.js';

/**
 * `open`: waiting for an agent; `claimed`: an agent holds it under a lease; `escalated`: waiting for a human;
 * `completed`, `failed`, `cancelled`: over.
 */
export type TaskStatus = 'open' | 'claimed' | 'escalated' | 'completed' | 'failed' | 'cancelled';

/** A note handed on with a task (handoff, escalation). */
export interface TaskNote {
  kind: 'handoff' | 'escalation';
  from: string;
  note: string;
  at: string;
  toRole?: string;
  toAgent?: string;
}

/** What a task carries besides its input: the critique of a rejected review, notes from handoffs. */
export interface TaskContext {
  /** The critic's objection when this task reruns a step after a rejected review. */
  critique?: string;
  notes?: TaskNote[];
}

/** Work for an agent of a role, as every front shows it. */
export interface WorkflowTask {
  id: string;
  runId: string;
  stepId: string;
  attempt: number;
  /** Index of the task within its step (fan-out and consensus create several). */
  item: number;
  role: string;
  /** The task that delegated this one, if any. */
  parentTaskId: string | null;
  /** 0 for a step's task, parent's depth + 1 for a delegated one. */
  depth: number;
  status: TaskStatus;
  priority: number;
  input: unknown;
  context: TaskContext;
  /** Agents that may not take this task. */
  excludeAgents: string[];
  /**
   * No agent answers two tasks of the step attempt (consensus items): an agent that holds or answered a sibling
   * task may not take this one.
   */
  distinctAgents: boolean;
  /** The claiming agent (claimed, and kept once over); for an open task, the only agent it is handed to. */
  agentId: string | null;
  /** Epoch ms the claim's lease runs out. */
  leaseUntil: number;
  claims: number;
  lostLeases: number;
  output: unknown;
  error: WorkflowFailure | null;
  createdAt: string;
  updatedAt: string;
}

/** A `workflow_tasks` row as the drivers return it. */
export interface TaskRow {
  id: string;
  run_id: string;
  step_id: string;
  attempt: number | string;
  item: number | string;
  role: string;
  parent_task_id: string | null;
  depth: number | string;
  status: TaskStatus;
  priority: number | string;
  input_json: string;
  context_json: string | null;
  exclude_agents_json: string | null;
  distinct_agents: number | string;
  agent_id: string | null;
  lease_until: number | string;
  claims: number | string;
  lost_leases: number | string;
  output_json: string | null;
  error_json: string | null;
  created_at: string;
  updated_at: string;
}

/** A row as the API shows it. */
export function toTask(r: TaskRow): WorkflowTask {
  return {
    id: r.id,
    runId: r.run_id,
    stepId: r.step_id,
    attempt: Number(r.attempt),
    item: Number(r.item),
    role: r.role,
    parentTaskId: r.parent_task_id,
    depth: Number(r.depth),
    status: r.status,
    priority: Number(r.priority),
    input: JSON.parse(r.input_json),
    context: r.context_json ? (JSON.parse(r.context_json) as TaskContext) : {},
    excludeAgents: r.exclude_agents_json ? (JSON.parse(r.exclude_agents_json) as string[]) : [],
    distinctAgents: Number(r.distinct_agents) === 1,
    agentId: r.agent_id,
    leaseUntil: Number(r.lease_until),
    claims: Number(r.claims),
    lostLeases: Number(r.lost_leases),
    output: r.output_json === null ? null : JSON.parse(r.output_json),
    error: r.error_json === null ? null : (JSON.parse(r.error_json) as WorkflowFailure),
    createdAt: r.created_at,
    updatedAt: r.updated_at,
  };
}

/** The deterministic id of a step attempt's task: the engine can re-create it after a crash without a duplicate. */
export function taskIdFor(runId: string, stepId: string, attempt: number, item = 0): string {
  const h = crypto.createHash('sha256').update(`${runId}\0${stepId}\0${attempt}\0${item}`).digest('hex');
  return `task_${h.slice(0, 32)}`;
}
