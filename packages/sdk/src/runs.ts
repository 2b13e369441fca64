import type { components, paths } from './generated/api.js';

/** Run statuses, as the API reports them. */
export type RunStatus = Run['status'];

/**
 * A workflow definition as `GET /v1/workflows` returns it (the validated YAML model, each step one of its kinds).
 * Generated from /v1/openapi.json.
 */
export type WorkflowSummary =
  paths['/v1/workflows']['get']['responses'][200]['content']['application/json']['workflows'][number];

/** A workflow run. Generated from /v1/openapi.json. */
export type Run = components['schemas']['Run'];

/**
 * A run with its steps, event history, resource leases and budget (`GET /v1/runs/:id`). Generated from
 * /v1/openapi.json; each event's own fields (beyond `type`, `seq`, `at`) are open there.
 */
export type RunDetail = components['schemas']['RunDetail'];

/** Filter for {@link AosClient.listRuns}. */
export interface RunFilter {
  status?: RunStatus;
  workflow?: string;
  limit?: number;
}
