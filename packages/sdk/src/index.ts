/**
 * @autonomy-os/sdk — a browser-safe client for agents and the console. Anything exported here is public API.
 */
export { AosClient } from './client.js';
export type { AosClientOptions, ActParams, Action, RunContextEntry, RunMessage } from './client.js';
export { AosApiError } from './errors.js';
export type {
  ActionFilter,
  AgentRecord,
  ApprovalRecord,
  AosEvent,
  AuditVerifyReport,
  EvidencePack,
  KillSwitchRecord,
  Receipt,
  WhoAmI,
} from './console-types.js';
export type {
  AuditBundleView,
  AuditCheckpoint,
  AuditQuery,
  AuditRecordView,
  BudgetUsage,
  RunBudgetUsage,
  PolicyFile,
  PolicyReplayReport,
  PolicySetView,
  PolicySummary,
  ToolSummary,
} from './console-pages.js';
export { streamEvents } from './events.js';
export type { EventStreamOptions, EventStreamSource } from './events.js';
export type { Run, RunDetail, RunFilter, RunStatus, WorkflowSummary } from './runs.js';
export type { ReportSummary, ReportSummaryRow } from './reports.js';
export { AosWorker, NonRetryableError } from './worker.js';
export type { AosWorkerOptions, WorkerTask, WorkerContext, TaskHandler } from './worker.js';
export { promoteAgent, agentEvals, listEvalRuns, evalCoverage } from './evals.js';
export type { EvalRunRecord, GateCheckRecord, AgentEvals, CoverageRecord, EvalCoverage } from './evals.js';
