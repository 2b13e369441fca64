/**
 * Wire shapes of the administration, approval and observability routes, as the console and scripts read them.
 * They mirror what `@autonomy-os/server` answers; fields the server may add later are allowed.
 */

/** An agent in the registry. */
export interface AgentRecord {
  id: string;
  displayName: string;
  role: string;
  tier: 0 | 1 | 2 | 3;
  owner: string;
  environments: string[];
  status: 'active' | 'paused' | 'revoked';
  createdAt: string;
  updatedAt: string;
}

/** Who a token belongs to (`GET /v1/whoami`). */
export type WhoAmI =
  | { kind: 'human'; id: string; via: string; groups: string[] }
  | { kind: 'agent'; id: string; via: string; role: string; tier: number; owner: string; status: string };

/** What an approver sees: the agent's reason and confidence, the risk, the exact arguments, the session trail. */
export interface EvidencePack {
  /** Null for a workflow approval step (no action attached). */
  agent: { id: string; role: string; tier: number; owner: string } | null;
  /** The tool; `workflow:<name>` for a workflow approval step. */
  tool: string;
  input: Record<string, unknown>;
  /** `input` as canonical JSON (RFC 8785). */
  canonicalInput?: string;
  /** The agent's previous call of the same tool and how its arguments differ from these. */
  previous?: {
    actionId: string;
    status: string;
    at: string;
    changes: {
      type: 'CREATE' | 'REMOVE' | 'CHANGE';
      path: (string | number)[];
      oldValue?: unknown;
      value?: unknown;
    }[];
  } | null;
  /** A workflow approval step's run. */
  run?: {
    id: string;
    workflow: string;
    stepId: string;
    attempt: number;
    prompt: string | null;
    owner: string;
  };
  environment: string;
  reason: string | null;
  confidence: number | null;
  risk: number;
  decision: { policies: string[]; reasons: string[] };
  session: { actionId: string; tool: string; status: string; at: string }[];
}

/** An approval request. */
export interface ApprovalRecord {
  id: string;
  /** Null for a workflow approval step, whose subject is `runId`/`stepId`. */
  actionId: string | null;
  runId: string | null;
  stepId: string | null;
  bindingHash: string;
  group: string;
  quorum: number;
  escalation: string[];
  level: number;
  expiresAt: string;
  expirySec: number;
  status: 'pending' | 'approved' | 'denied' | 'expired';
  barOwner: boolean;
  requester: string | null;
  policies: string[];
  evidence: EvidencePack;
  votes: { human: string; vote: 'approve' | 'deny'; comment: string | null; level: number; at: string }[];
  /** Quorum and escalation state. */
  progress?: {
    approvals: number;
    quorum: number;
    remaining: number;
    level: number;
    nextGroup: string | null;
    escalatesAt: string | null;
  };
  createdAt: string;
  decidedAt: string | null;
}

/** A kill switch: `global`, `role:<role>` or `agent:<id>`. */
export interface KillSwitchRecord {
  scope: string;
  active: boolean;
  reason: string | null;
  setBy: string;
  setAt: string;
}

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
