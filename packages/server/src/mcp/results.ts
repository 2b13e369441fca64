import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import type { ActionView, Engine } from '@autonomy-os/core';

/** `_meta` key under which every governed result says what the pipeline did. */
export const ACTION_META_KEY = 'autonomy-os/action';

const text = (t: string) => [{ type: 'text' as const, text: t }];

/**
 * A governance answer (denied, pending, invalid input). A tool that declares an outputSchema must only ever send
 * structured content matching it, so for those the structure goes to `_meta` alone and the result is an error.
 */
function governed(
  message: string,
  structured: Record<string, unknown>,
  options: { isError: boolean; hasOutputSchema: boolean },
): CallToolResult {
  return {
    content: text(message),
    ...(options.hasOutputSchema ? {} : { structuredContent: structured }),
    isError: options.isError || options.hasOutputSchema,
    _meta: { [ACTION_META_KEY]: structured },
  };
}

/** The MCP answer to an action in any state: the upstream result when it ran, an explanation otherwise. */
export async function actionResult(
  engine: Engine,
  a: ActionView,
  options: { hasOutputSchema: boolean },
): Promise<CallToolResult> {
  const meta = { actionId: a.id, status: a.status, outcome: a.outcome };
  const policies = a.decision.policies.join(', ') || 'none';
  const reasons = a.decision.reasons.join('; ') || 'no reason recorded';
  switch (a.status) {
    case 'succeeded':
    case 'failed':
      if (a.result) {
        return {
          content: a.result.content as CallToolResult['content'],
          ...(a.result.structuredContent !== undefined
            ? { structuredContent: a.result.structuredContent as Record<string, unknown> }
            : {}),
          isError: a.result.isError,
          _meta: { [ACTION_META_KEY]: meta },
        };
      }
      return governed(
        `The upstream call failed (${a.error?.code ?? 'upstream_error'}): ${a.error?.message ?? 'no detail'}. Action ${a.id}.`,
        { ...meta, error: a.error },
        { isError: true, hasOutputSchema: options.hasOutputSchema },
      );
    case 'denied':
      return governed(
        `Denied by ${policies}: ${reasons}. Action ${a.id} is recorded; do not retry the same call.`,
        { ...meta, policies: a.decision.policies, reasons: a.decision.reasons },
        { isError: true, hasOutputSchema: options.hasOutputSchema },
      );
    case 'pending_approval':
    case 'executing': {
      const approval = a.approvalId ? await engine.approvals.get(a.approvalId) : undefined;
      const who = approval ? ` by ${approval.group}` : '';
      const msg =
        a.status === 'executing'
          ? `Approved; the call is still running. `
          : `Waiting for approval${who} (policies: ${policies}; ${reasons}). `;
      return governed(
        `${msg}Call aos_approval_status with {"approvalId": "${a.approvalId ?? ''}"} later to get the result. Action ${a.id}.`,
        {
          ...meta,
          status: a.status === 'executing' ? 'executing' : 'pending_approval',
          approvalId: a.approvalId,
          policies: a.decision.policies,
          ...(approval ? { group: approval.group, expiresAt: approval.expiresAt } : {}),
        },
        { isError: false, hasOutputSchema: options.hasOutputSchema },
      );
    }
    case 'rejected':
    case 'expired':
    case 'blocked':
    case 'unknown_outcome': {
      const why = {
        rejected: 'A human denied the approval request',
        expired: 'The approval request expired undecided',
        blocked:
          'The approval was given but the action was blocked before it ran (agent paused, kill switch, or the tool changed)',
        unknown_outcome:
          'The call may or may not have reached the upstream; it is not retried and a human has to check',
      }[a.status];
      return governed(
        `${why}. Action ${a.id}.`,
        { ...meta, approvalId: a.approvalId },
        { isError: true, hasOutputSchema: options.hasOutputSchema },
      );
    }
  }
}

/** The answer to input the pinned schema refuses: an error result naming the field, so the model can correct it. */
export function invalidInputResult(
  message: string,
  field: string | undefined,
  options: { hasOutputSchema: boolean },
): CallToolResult {
  return governed(
    `Invalid input: ${message}`,
    { status: 'invalid_input', ...(field ? { field } : {}) },
    { isError: true, hasOutputSchema: options.hasOutputSchema },
  );
}
