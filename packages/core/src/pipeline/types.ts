import { z } from 'zod';
import type { ToolResult } from '../connectors/index.js';
import { idSchema } from '../identity/ids.js';
import type { Decision } from '../policy/decide.js';

/** What an agent asks for. */
export const actionRequestSchema = z
  .object({
    tool: z.string({ error: 'is required' }).min(1, 'is required').max(200, 'must be at most 200 characters'),
    input: z.record(z.string(), z.unknown(), { error: 'must be a JSON object' }).default({}),
    reason: z.string().max(4000).optional(),
    confidence: z.number().min(0, 'must be between 0 and 1').max(1, 'must be between 0 and 1').optional(),
    environment: idSchema.optional(),
    sessionId: z.string().min(1).max(200).optional(),
    idempotencyKey: z.string().min(1).max(200).optional(),
    /** The human the agent acts for; that human may not approve the request. */
    onBehalfOf: idSchema.optional(),
  })
  .strict();
export type ActionRequest = z.input<typeof actionRequestSchema>;

/** Every status an action can have, in life order. */
export const ACTION_STATUSES = [
  'denied',
  'pending_approval',
  'executing',
  'succeeded',
  'failed',
  'unknown_outcome',
  'rejected',
  'expired',
  'blocked',
] as const;

/** Where an action is in its life. */
export type ActionStatus = (typeof ACTION_STATUSES)[number];

/** What the decision was, as the wire contract names it. */
export type ActionOutcome = 'allowed' | 'pending_approval' | 'denied';

/** The decision as stored with an action (a {@link Decision} plus pipeline facts). */
export interface StoredDecision extends Decision {
  /** The call was over a budget whose onExceed is approval; approving charges it. */
  overBudget?: boolean;
  /** An admin's reversal of a paused or revoked agent's action: the agent-status guard was waived for them. */
  statusWaivedBy?: string;
}

/** An action, as every front shows it. */
export interface ActionView {
  id: string;
  agentId: string;
  tool: string;
  input: Record<string, unknown>;
  environment: string;
  sessionId: string | null;
  idempotencyKey: string | null;
  reason: string | null;
  confidence: number | null;
  onBehalfOf: string | null;
  reversalOf: string | null;
  outcome: ActionOutcome;
  status: ActionStatus;
  decision: StoredDecision;
  approvalId: string | null;
  result: ToolResult | null;
  error: { code: string; message: string } | null;
  risk: number;
  policyHash: string;
  cached: boolean;
  createdAt: string;
  updatedAt: string;
  startedAt: string | null;
  finishedAt: string | null;
  /** The OpenTelemetry trace the action was recorded in (null when tracing was off), to find its spans. */
  traceId: string | null;
  /** Its `execute_tool` span. */
  spanId: string | null;
  /** The span it ran under (the MCP request, the workflow step, the agent's own span), if any. */
  parentSpanId: string | null;
}

/** Statuses from which nothing more will happen: all but waiting for approval and executing. */
export const FINAL_STATUSES: readonly ActionStatus[] = ACTION_STATUSES.filter(
  (s) => s !== 'pending_approval' && s !== 'executing',
);

/** Filter and page of {@link ActionService.list}: newest first. */
export interface ActionListFilter {
  agentId?: string;
  tool?: string;
  status?: ActionStatus;
  /** Only actions created at or after this instant (ISO 8601). */
  since?: string;
  /** Only actions older than this one (the last of the previous page): keyset paging. */
  before?: { createdAt: string; id: string };
  /** At most this many (1-1000, default 100). */
  limit?: number;
}
