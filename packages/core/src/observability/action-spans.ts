import { redactedCanonicalJson } from '../audit/redact.js';
import type { Agent } from '../identity/agents.js';
import type { ActionView } from '../pipeline/types.js';
import { SpanKind } from './tracing.js';
import type { Attributes, Context, SpanRef, Tracing } from './tracing.js';

/** The trace identity an action is recorded with (migration 8): its own span and the span it runs under. */
export interface ActionTrace {
  ref: SpanRef;
  parentSpanId: string | null;
}

/** The identity of an action's `execute_tool` span, when it was traced. */
export function actionSpanRef(a: Pick<ActionView, 'traceId' | 'spanId'>): SpanRef | undefined {
  return a.traceId && a.spanId ? { traceId: a.traceId, spanId: a.spanId } : undefined;
}

/** The trace identity of a new action under `parent` (a front's span, a workflow step), or none when tracing is off. */
export function reserveActionTrace(
  tracing: Tracing,
  parent: Context | SpanRef | undefined,
): ActionTrace | undefined {
  const ref = tracing.reserve(parent);
  if (!ref) return undefined;
  const p = parent ? tracing.refOf(tracing.contextOf(parent)) : undefined;
  return { ref, parentSpanId: p?.spanId ?? null };
}

/** The most characters of arguments or result an `execute_tool` span carries (`telemetry.traces.recordContent`). */
export const MAX_RECORDED_CONTENT = 4096;

/** Redacted canonical JSON of `value`, cut to {@link MAX_RECORDED_CONTENT} characters (ending `…` when cut). */
export function recordedContent(value: unknown): string {
  const json = redactedCanonicalJson(value ?? null);
  return json.length <= MAX_RECORDED_CONTENT ? json : `${json.slice(0, MAX_RECORDED_CONTENT - 1)}…`;
}

/**
 * Attributes of an action's spans: the GenAI `execute_tool` attributes and our governance facts under `aos.`.
 * Arguments and results are recorded only with `content` (`telemetry.traces.recordContent`), and then redacted
 * like the audit log; otherwise the receipt alone has them.
 */
export function actionAttributes(
  a: ActionView,
  agent?: Pick<Agent, 'displayName' | 'tier'>,
  content = false,
): Attributes {
  const attrs: Attributes = {
    'gen_ai.operation.name': 'execute_tool',
    'gen_ai.tool.name': a.tool,
    'gen_ai.tool.call.id': a.id,
    'gen_ai.tool.type': 'extension',
    'gen_ai.agent.id': a.agentId,
    'gen_ai.agent.name': agent?.displayName ?? a.agentId,
    'aos.action.id': a.id,
    'aos.action.status': a.status,
    'aos.decision': a.outcome,
    'aos.policies': a.decision.policies,
    'aos.policy.hash': a.policyHash,
    'aos.risk': a.risk,
    'aos.environment': a.environment,
  };
  if (agent) attrs['aos.agent.tier'] = agent.tier;
  if (a.approvalId) attrs['aos.approval.id'] = a.approvalId;
  if (a.reversalOf) attrs['aos.reversal_of'] = a.reversalOf;
  if (a.cached) attrs['aos.cached'] = true;
  if (content) {
    attrs['gen_ai.tool.call.arguments'] = recordedContent(a.input);
    if (a.result) attrs['gen_ai.tool.call.result'] = recordedContent(a.result);
  }
  return attrs;
}

const FAILED: Partial<Record<ActionView['status'], string>> = {
  failed: 'tool_error',
  unknown_outcome: 'unknown_outcome',
};

/** Emits an action's `execute_tool {tool}` span, from its decision until now (call once, when it is final). */
export function emitActionSpan(
  tracing: Tracing,
  a: ActionView,
  agent?: Pick<Agent, 'displayName' | 'tier'>,
): void {
  const ref = actionSpanRef(a);
  if (!ref || !tracing.enabled) return;
  tracing.emit({
    name: `execute_tool ${a.tool}`,
    ref,
    parent: a.parentSpanId ? { traceId: ref.traceId, spanId: a.parentSpanId } : undefined,
    kind: SpanKind.INTERNAL,
    startMs: Date.parse(a.createdAt),
    endMs: Date.parse(a.finishedAt ?? a.updatedAt),
    attributes: actionAttributes(a, agent, tracing.recordContent),
    errorType: a.error?.code ?? FAILED[a.status],
  });
}

/** Emits the `aos.approval_wait` child span of an action: from its decision until the approval was decided. */
export function emitApprovalWaitSpan(tracing: Tracing, a: ActionView, decided: string): void {
  const ref = actionSpanRef(a);
  const span = tracing.reserve(ref);
  if (!ref || !span) return;
  tracing.emit({
    name: 'aos.approval_wait',
    ref: span,
    parent: ref,
    startMs: Date.parse(a.createdAt),
    endMs: Date.now(),
    attributes: { 'aos.approval.id': a.approvalId ?? '', 'aos.approval.outcome': decided },
  });
}
