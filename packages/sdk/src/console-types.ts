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

/** The receipt of an action: the six questions. */
export interface Receipt {
  action: {
    id: string;
    agentId: string;
    tool: string;
    environment: string;
    status: string;
    outcome: string;
    createdAt: string;
    finishedAt: string | null;
    sessionId: string | null;
    /** The OpenTelemetry trace the action was recorded in; null when tracing was off. */
    traceId?: string | null;
  };
  did: { summary: string; reason: string | null; confidence: number | null; onBehalfOf: string | null };
  data: {
    connector: string | null;
    effect: string | null;
    input: Record<string, unknown>;
    identifiers: string[];
    resultSummary: string | null;
    cached: boolean;
  };
  policy: { outcome: string; policies: string[]; reasons: string[]; policyHash: string; risk: number };
  checks: { name: string; result: 'pass' | 'fail' | 'approval' | 'skip'; detail: string }[];
  approval: null | Pick<
    ApprovalRecord,
    'id' | 'status' | 'group' | 'quorum' | 'level' | 'escalation' | 'expiresAt' | 'votes'
  >;
  reversal: {
    available: boolean;
    tool: string | null;
    command: string | null;
    reversedBy: string[];
    reversalOf: string | null;
    note: string;
  };
  audit: { seq: number; ts: string; actor: string; type: string }[];
}

/** The audit chain check (`GET /v1/audit/verify`). */
export interface AuditVerifyReport {
  ok: boolean;
  verified: number;
  records: number;
  firstBad?: { seq: number; reason: string };
  checkpoints: { treeSize: number; ok: boolean; reason?: string; source: string }[];
  unsealed: number;
}

/** Filters for {@link AosClient.listActions}. */
export interface ActionFilter {
  agent?: string;
  status?: string;
  since?: string;
  limit?: number;
}
