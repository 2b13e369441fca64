import type { Approval, ApprovalService } from '../approvals/approvals.js';
import type { AuditLog } from '../audit/audit-log.js';
import type { DecisionCheck } from '../policy/decide.js';
import type { ToolRegistry } from '../tools/tool-registry.js';
import type { ActionService } from './action-service.js';
import type { ActionView } from './types.js';

/** The six answers for one action, with the records that back them. */
export interface Receipt {
  action: Pick<
    ActionView,
    | 'id'
    | 'agentId'
    | 'tool'
    | 'environment'
    | 'status'
    | 'outcome'
    | 'createdAt'
    | 'finishedAt'
    | 'sessionId'
    | 'traceId'
  >;
  /** What did the agent do? */
  did: { summary: string; reason: string | null; confidence: number | null; onBehalfOf: string | null };
  /** What data did it touch? */
  data: {
    connector: string | null;
    effect: string | null;
    input: Record<string, unknown>;
    identifiers: string[];
    resultSummary: string | null;
    cached: boolean;
  };
  /** Which policy allowed (or stopped) it? */
  policy: {
    outcome: ActionView['outcome'];
    policies: string[];
    reasons: string[];
    policyHash: string;
    risk: number;
  };
  /** What checks ran? */
  checks: DecisionCheck[];
  /** Who approved it? */
  approval: null | Pick<
    Approval,
    'id' | 'status' | 'group' | 'quorum' | 'level' | 'escalation' | 'expiresAt' | 'votes'
  >;
  /** How do we reverse it? */
  reversal: {
    available: boolean;
    tool: string | null;
    command: string | null;
    reversedBy: string[];
    reversalOf: string | null;
    note: string;
  };
  /** The audit records about this action. */
  audit: { seq: number; ts: string; actor: string; type: string }[];
}

const ID_KEY = /(^id$|Id$|_id$|^path$|^url$|^email$|^account|^order|^customer|^ticket|^invoice)/i;

function identifiers(input: unknown, prefix = ''): string[] {
  if (!input || typeof input !== 'object') return [];
  const out: string[] = [];
  for (const [k, v] of Object.entries(input as Record<string, unknown>)) {
    const key = prefix ? `${prefix}.${k}` : k;
    if ((typeof v === 'string' || typeof v === 'number') && ID_KEY.test(k)) out.push(`${key}=${String(v)}`);
    else if (v && typeof v === 'object' && !Array.isArray(v)) out.push(...identifiers(v, key));
  }
  return out;
}

function summarizeResult(a: ActionView): string | null {
  if (a.error) return `error ${a.error.code}: ${a.error.message}`;
  if (!a.result) return null;
  const text = a.result.content
    .map((c) =>
      c && typeof c === 'object' && (c as { type?: string }).type === 'text'
        ? String((c as { text?: unknown }).text)
        : '',
    )
    .join(' ')
    .trim();
  const s = text || (a.result.structuredContent ? JSON.stringify(a.result.structuredContent) : '');
  return `${a.result.isError ? 'tool reported an error: ' : ''}${s.length > 300 ? `${s.slice(0, 300)}…` : s}`;
}

/** Builds the receipt of an action from the store. */
export async function buildReceipt(
  deps: { actions: ActionService; approvals: ApprovalService; tools: ToolRegistry; audit: AuditLog },
  actionId: string,
): Promise<Receipt> {
  const a = await deps.actions.require(actionId);
  const approval = a.approvalId ? await deps.approvals.get(a.approvalId) : undefined;
  const tool = deps.tools.get(a.tool);
  const records = await deps.audit.list({ subject: `action:${a.id}`, limit: 1000 });
  const reversals = await deps.actions.reversalsOf(a.id);
  const canUndo = !!tool?.reversal && a.status === 'succeeded' && a.reversalOf === null;
  return {
    action: {
      id: a.id,
      agentId: a.agentId,
      tool: a.tool,
      environment: a.environment,
      status: a.status,
      outcome: a.outcome,
      createdAt: a.createdAt,
      finishedAt: a.finishedAt,
      sessionId: a.sessionId,
      traceId: a.traceId,
    },
    did: {
      summary: `agent ${a.agentId} asked to call ${a.tool} in ${a.environment}; it was ${a.outcome.replace('_', ' ')} and is now ${a.status.replace('_', ' ')}`,
      reason: a.reason,
      confidence: a.confidence,
      onBehalfOf: a.onBehalfOf,
    },
    data: {
      connector: tool?.connector ?? null,
      effect: tool?.metadata.effect ?? null,
      input: a.input,
      identifiers: identifiers(a.input),
      resultSummary: summarizeResult(a),
      cached: a.cached,
    },
    policy: {
      outcome: a.outcome,
      policies: a.decision.policies,
      reasons: a.decision.reasons,
      policyHash: a.policyHash,
      risk: a.risk,
    },
    checks: a.decision.checks,
    approval: approval
      ? {
          id: approval.id,
          status: approval.status,
          group: approval.group,
          quorum: approval.quorum,
          level: approval.level,
          escalation: approval.escalation,
          expiresAt: approval.expiresAt,
          votes: approval.votes,
        }
      : null,
    reversal: {
      available: canUndo,
      tool: tool?.reversal?.tool ?? null,
      command: canUndo ? `aos undo ${a.id}` : null,
      reversedBy: reversals.map((r) => r.id),
      reversalOf: a.reversalOf,
      note: tool?.reversal
        ? canUndo
          ? `runs ${tool.reversal.tool} through the pipeline`
          : `reversal ${tool.reversal.tool} applies only to succeeded actions`
        : a.tool && tool?.metadata.effect === 'read'
          ? 'a read changes nothing; nothing to reverse'
          : 'no reversal is registered for this tool',
    },
    audit: records.map((r) => ({ seq: r.seq, ts: r.ts, actor: r.actor, type: r.type })),
  };
}

/** The receipt as text for a terminal. */
export function formatReceipt(r: Receipt): string {
  const lines: string[] = [];
  const h = (t: string) => lines.push('', t);
  lines.push(`Action ${r.action.id}  ${r.action.status.toUpperCase()}  (${r.action.createdAt})`);
  // Receipts of actions recorded before traces existed (or by an older server) have no trace id.
  if (r.action.traceId) lines.push(`Trace ${r.action.traceId}`);
  h('What did the agent do?');
  lines.push(`  ${r.did.summary}`);
  if (r.did.reason)
    lines.push(
      `  reason: ${r.did.reason}${r.did.confidence !== null ? ` (confidence ${r.did.confidence})` : ''}`,
    );
  if (r.did.onBehalfOf) lines.push(`  on behalf of: ${r.did.onBehalfOf}`);
  h('What data did it touch?');
  lines.push(
    `  ${r.data.effect ?? 'unknown'} via connector ${r.data.connector ?? 'unknown'}${r.data.cached ? ' (answered from cache)' : ''}`,
  );
  lines.push(`  input: ${JSON.stringify(r.data.input)}`);
  if (r.data.identifiers.length) lines.push(`  identifiers: ${r.data.identifiers.join(', ')}`);
  if (r.data.resultSummary) lines.push(`  result: ${r.data.resultSummary}`);
  h('Which policy decided it?');
  lines.push(
    `  ${r.policy.outcome} by ${r.policy.policies.join(', ') || '(none)'}; risk ${r.policy.risk}/100`,
  );
  for (const reason of r.policy.reasons) lines.push(`  - ${reason}`);
  lines.push(`  policy version ${r.policy.policyHash.slice(0, 16)}…`);
  h('What checks ran?');
  for (const c of r.checks) lines.push(`  [${c.result}] ${c.name}: ${c.detail}`);
  h('Who approved it?');
  if (!r.approval) lines.push('  no approval was needed');
  else {
    lines.push(`  ${r.approval.id} ${r.approval.status}: ${r.approval.group}, quorum ${r.approval.quorum}`);
    for (const v of r.approval.votes)
      lines.push(
        `  - ${v.human} ${v.vote === 'approve' ? 'approved' : 'denied'} at ${v.at}${v.comment ? `: ${v.comment}` : ''}`,
      );
  }
  h('How do we reverse it?');
  lines.push(`  ${r.reversal.command ?? r.reversal.note}`);
  if (r.reversal.reversedBy.length) lines.push(`  reversed by ${r.reversal.reversedBy.join(', ')}`);
  if (r.reversal.reversalOf) lines.push(`  this action reverses ${r.reversal.reversalOf}`);
  h('Audit records');
  for (const a of r.audit) lines.push(`  #${a.seq} ${a.ts} ${a.type} by ${a.actor}`);
  return `${lines.join('\n')}\n`;
}
