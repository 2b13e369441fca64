/**
 * Wire shapes of the administration, approval and observability routes, as the console and scripts read them.
 * Those the server describes with a zod schema are aliases of the types generated from its OpenAPI document
 * (`generated/api.ts`, `npm run sdk:types`); the rest still mirror what `@autonomy-os/server` answers.
 */
import type { components } from './generated/api.js';

type Schemas = components['schemas'];

/** An agent in the registry. */
export type AgentRecord = Schemas['AgentRecord'];

/** Who a token belongs to (`GET /v1/whoami`). */
export type WhoAmI = Schemas['WhoAmI'];

/** An approval request, with its evidence and its quorum/escalation progress. */
export type ApprovalRecord = Schemas['Approval'];

/** What an approver sees: the agent's reason and confidence, the risk, the exact arguments, the session trail. */
export type EvidencePack = ApprovalRecord['evidence'];

/** A kill switch: `global`, `role:<role>` or `agent:<id>`. */
export type KillSwitchRecord = Schemas['KillSwitch'];

/** One event of the live stream (`GET /v1/events`). */
export interface AosEvent {
  type: string;
  at: string;
  subject?: string;
  data: Record<string, unknown>;
}

/** The receipt of an action: the six questions, and the audit records behind them. */
export type Receipt = Schemas['Receipt'];

/** The audit chain check (`GET /v1/audit/verify`). */
export type AuditVerifyReport = Schemas['AuditVerifyReport'];

/** Filters for {@link AosClient.listActions}. */
export interface ActionFilter {
  agent?: string;
  status?: string;
  since?: string;
  limit?: number;
}
