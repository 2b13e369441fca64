/**
 * Wire shapes of the paged lists, the audit search and export, the policy routes and budgets, as the console and
 * scripts read them. Budgets and tools are generated from the server's OpenAPI document (`generated/api.ts`, `npm run
 * sdk:types`); the rest still mirror what `@autonomy-os/server` answers, and allow fields the server may add later.
 */
import type { paths } from './generated/api.js';

/** The JSON body of the 200 answer of an operation of the generated document. */
type Answer<P extends keyof paths, M extends keyof paths[P]> = paths[P][M] extends {
  responses: { 200: { content: { 'application/json': infer T } } };
}
  ? T
  : never;

type BudgetsAnswer = Answer<'/v1/budgets', 'get'>;

/** One record of the hash-chained audit log. */
export interface AuditRecordView {
  seq: number;
  ts: string;
  actor: string;
  type: string;
  subject: string | null;
  payload: unknown;
  prevHash: string;
  hash: string;
}

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

/** A signed Merkle checkpoint over the first `treeSize` records. */
export interface AuditCheckpoint {
  format: 'aos-checkpoint/1';
  treeSize: number;
  rootHash: string;
  headHash: string;
  timestamp: string;
  keyId: string;
  publicKey: string;
  signature: string;
  [key: string]: unknown;
}

/** An offline-verifiable export (`aos audit verify --bundle FILE`). */
export interface AuditBundleView {
  format: 'aos-audit-bundle/1';
  exportedAt: string;
  records: AuditRecordView[];
  checkpoint: AuditCheckpoint;
}

/** One loaded policy. */
export interface PolicySummary {
  id: string;
  effect: 'permit' | 'forbid';
  file: string;
  annotations: Record<string, string>;
}

/** A policy file: its name and Cedar text. */
export interface PolicyFile {
  file: string;
  text: string;
}

/** The active policy set (`GET /v1/policies`). */
export interface PolicySetView {
  hash: string;
  source: string;
  permits: PolicySummary[];
  approvals: PolicySummary[];
  files: { policies: PolicyFile[]; approvals: PolicyFile[] };
}

/** What `POST /v1/policies/replay` found: which recorded decisions a proposed set would change. */
export interface PolicyReplayReport {
  policyHash: string;
  activeHash: string;
  since: string;
  replayed: number;
  unchanged: number;
  changed: {
    actionId: string;
    seq: number;
    at: string;
    tool: string;
    agent: string;
    before: 'allow' | 'approval' | 'deny';
    after: 'allow' | 'approval' | 'deny';
    beforePolicies: string[];
    policies: string[];
  }[];
  skipped: { actionId: string; seq: number; tool: string; agent: string; reason: string }[];
  transitions: Record<string, number>;
}

/** A budget and its use in the current period (`GET /v1/budgets`, `budgets`). Generated from /v1/openapi.json. */
export type BudgetUsage = BudgetsAnswer['budgets'][number];

/**
 * One workflow run's use of its workflow's budget (`budget:`, over the run's whole life; `GET /v1/budgets`, `runs`).
 * Generated from /v1/openapi.json.
 */
export type RunBudgetUsage = BudgetsAnswer['runs'][number];

/** One tool of the catalogue (`GET /v1/tools`). Generated from /v1/openapi.json. */
export type ToolSummary = Answer<'/v1/tools', 'get'>['tools'][number];
