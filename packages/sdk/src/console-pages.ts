/**
 * Wire shapes of the paged lists, the audit search and export, the policy routes and budgets, as the console and
 * scripts read them, generated from the server's OpenAPI document (`generated/api.ts`, `npm run sdk:types`).
 */
import type { components, paths } from './generated/api.js';

type Schemas = components['schemas'];

/** The JSON body of the 200 answer of an operation of the generated document. */
type Answer<P extends keyof paths, M extends keyof paths[P]> = paths[P][M] extends {
  responses: { 200: { content: { 'application/json': infer T } } };
}
  ? T
  : never;

type BudgetsAnswer = Answer<'/v1/budgets', 'get'>;

/** One record of the hash-chained audit log. Generated from /v1/openapi.json. */
export type AuditRecordView = Schemas['AuditBundle']['records'][number];

/** What `GET /v1/audit` searches for; every field narrows. `type` ending in `.` is a prefix (`action.`). */
export interface AuditQuery {
  agent?: string;
  tool?: string;
  type?: string;
  /** ISO 8601: `since` inclusive, `until` exclusive. */
  since?: string;
  until?: string;
  limit?: number;
  cursor?: string;
}

/** A signed Merkle checkpoint over the first `treeSize` records. Generated from /v1/openapi.json. */
export type AuditCheckpoint = Schemas['AuditBundle']['checkpoint'];

/** An offline-verifiable export (`aos audit verify --bundle FILE`). Generated from /v1/openapi.json. */
export type AuditBundleView = Schemas['AuditBundle'];

/** The active policy set (`GET /v1/policies`). Generated from /v1/openapi.json. */
export type PolicySetView = Schemas['PolicySet'];

/** One loaded policy. */
export type PolicySummary = PolicySetView['permits'][number];

/** A policy file: its name and Cedar text. */
export type PolicyFile = PolicySetView['files']['policies'][number];

/**
 * What `POST /v1/policies/replay` found: which recorded decisions a proposed set would change. Generated from
 * /v1/openapi.json.
 */
export type PolicyReplayReport = Schemas['PolicyReplayReport'];

/** A budget and its use in the current period (`GET /v1/budgets`, `budgets`). Generated from /v1/openapi.json. */
export type BudgetUsage = BudgetsAnswer['budgets'][number];

/**
 * One workflow run's use of its workflow's budget (`budget:`, over the run's whole life; `GET /v1/budgets`, `runs`).
 * Generated from /v1/openapi.json.
 */
export type RunBudgetUsage = BudgetsAnswer['runs'][number];

/** One tool of the catalogue (`GET /v1/tools`). Generated from /v1/openapi.json. */
export type ToolSummary = Answer<'/v1/tools', 'get'>['tools'][number];
