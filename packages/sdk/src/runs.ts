import type { components } from './generated/api.js';

/** Run statuses, as the API reports them. */
export type RunStatus = Run['status'];

/** A workflow definition as `GET /v1/workflows` returns it (the validated YAML model). */
export interface WorkflowSummary {
  name: string;
  version: string;
  owner: string;
  description?: string;
  input: Record<string, unknown>;
  output?: string;
  triggers?: Record<string, unknown>[];
  steps: Record<string, { kind: string; dependsOn: string[]; [key: string]: unknown }>;
  [key: string]: unknown;
}

/** A workflow run. Generated from /v1/openapi.json. */
export type Run = components['schemas']['Run'];

/** A run with its steps and event history (`GET /v1/runs/:id`). */
export interface RunDetail extends Run {
  steps: Record<
    string,
    {
      kind: string;
      status: string;
      attempt: number;
      output?: unknown;
      error?: { code: string; message: string; retryable: boolean };
      votes: { human: string; vote: 'approve' | 'deny' }[];
      [key: string]: unknown;
    }
  >;
  events: ({ type: string; seq: number; at: string } & Record<string, unknown>)[];
  /** Set while a human holds the run (`pauseRun`): who paused it and why. */
  paused?: { by: string; reason?: string };
}

/** Filter for {@link AosClient.listRuns}. */
export interface RunFilter {
  status?: RunStatus;
  workflow?: string;
  limit?: number;
}
