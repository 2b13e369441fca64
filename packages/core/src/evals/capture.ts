import { redactSecrets } from '../audit/redact.js';
import type { ActionService } from '../pipeline/action-service.js';
import type { ActionView } from '../pipeline/types.js';
import type { ToolRegistry } from '../tools/tool-registry.js';

/** Options for {@link captureSuite}. */
export interface CaptureOptions {
  agentId: string;
  /** ISO time: actions from then on. */
  since: string;
  /** Suite name (default `<agent>_regression`). */
  name?: string;
  /** Most actions read (newest first), default 1000. */
  limit?: number;
}

const OUTCOME = { allowed: 'allow', pending_approval: 'approval', denied: 'deny' } as const;

/**
 * Turns an agent's recorded actions into a regression suite: one case per session (or per action outside one) that
 * replays the recorded calls as a transcript and expects the same tools in the same order with the same policy
 * outcomes. What the upstreams answered becomes the case's fixtures, and the tools' pinned definitions the suite's
 * sandbox tools, so the suite runs with no upstream at all. Inputs and answers are redacted (secret-looking keys
 * and values) as the audit log redacts them. Eval-environment actions are not captured.
 */
export async function captureSuite(
  deps: { actions: ActionService; tools: ToolRegistry },
  o: CaptureOptions,
): Promise<Record<string, unknown>> {
  const actions = (await deps.actions.list({ agentId: o.agentId, since: o.since, limit: o.limit ?? 1000 }))
    .filter((a) => a.environment !== 'eval')
    .reverse();
  const sessions = new Map<string, ActionView[]>();
  for (const a of actions) {
    const key = a.sessionId ?? a.id;
    sessions.set(key, [...(sessions.get(key) ?? []), a]);
  }
  const usedTools = new Set(actions.map((a) => a.tool));
  const cases = [...sessions.values()].map((list, i) => {
    const fixtures: Record<string, unknown> = {};
    for (const a of list)
      if (a.status === 'succeeded' && a.result)
        fixtures[a.tool] = redactSecrets(a.result.structuredContent ?? textOf(a.result.content));
    const outcomes = new Map<string, Set<string>>();
    for (const a of list) outcomes.set(a.tool, (outcomes.get(a.tool) ?? new Set()).add(OUTCOME[a.outcome]));
    return {
      id: `captured-${i + 1}-${list[0]!.id}`,
      category: `captured_${list[0]!.tool.replace(/[^A-Za-z0-9_.-]/g, '_')}`,
      description: `recorded ${list[0]!.createdAt}, session ${list[0]!.sessionId ?? 'none'}`,
      task: `Replay of ${list.length} recorded call(s) of ${o.agentId}`,
      fixtures,
      transcript: list.map((a) => ({
        tool: a.tool,
        input: redactSecrets(a.input) as Record<string, unknown>,
        ...(a.reason ? { reason: a.reason } : {}),
      })),
      assert: [
        { type: 'trajectory:tool-sequence', mode: 'exact', value: list.map((a) => a.tool) },
        ...[...outcomes]
          .filter(([, set]) => set.size === 1)
          .map(([tool, set]) => ({ type: 'policy-outcome', tool, value: [...set][0] })),
      ],
    };
  });
  const tools = [...usedTools].sort().flatMap((name) => {
    const t = deps.tools.get(name);
    if (!t) return [];
    return [
      {
        name,
        ...(t.definition.description ? { description: t.definition.description } : {}),
        inputSchema: t.definition.inputSchema,
        ...(t.definition.annotations
          ? {
              annotations: Object.fromEntries(
                Object.entries(t.definition.annotations).filter(([k]) => k !== 'title'),
              ),
            }
          : {}),
      },
    ];
  });
  return {
    name: o.name ?? `${o.agentId}_regression`,
    description: `Captured from ${actions.length} recorded action(s) of ${o.agentId} since ${o.since}`,
    kind: 'regression',
    agent: { type: 'transcript', agent: o.agentId },
    tools,
    cases,
  };
}

function textOf(content: unknown[]): string {
  return (content as { type?: string; text?: string }[])
    .filter((c) => c.type === 'text' && typeof c.text === 'string')
    .map((c) => c.text)
    .join('\n');
}
