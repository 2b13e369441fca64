import { compileExpression } from '../workflows/expressions.js';
import { ConflictError, ForbiddenError, NotFoundError, UserError } from '../errors.js';
import type { Agent, AgentRegistry } from '../identity/agents.js';
import type { Human } from '../identity/humans.js';
import type { ToolRegistry } from '../tools/tool-registry.js';
import type { ActionRequest, ActionStatus, ActionView } from './types.js';

/** Final states of an undo attempt that a later undo may try again: it never ran. */
export const RETRYABLE_UNDO: readonly ActionStatus[] = ['denied', 'blocked', 'rejected', 'expired'];

/** What planning an undo reads. */
export interface UndoDeps {
  actions: {
    get(id: string): Promise<ActionView | undefined>;
    reversalsOf(id: string): Promise<ActionView[]>;
  };
  tools: ToolRegistry;
  agents: AgentRegistry;
}

/** Which undo to plan. */
export interface UndoParams {
  actionId: string;
  human: Human;
  reason?: string | undefined;
}

/**
 * The reversal request for a succeeded action: its tool's registered reversal, with input from the JSONata
 * expression over `{ input, result }` of the original, submitted as the original's agent. The key replays the last
 * attempt unless that attempt never ran (denied, blocked, rejected, expired, none yet): then it is the next one,
 * `undo:<id>`, `undo:<id>:2`, … — two humans asking at once still get one reversal (the key is unique).
 */
export async function planUndo(
  d: UndoDeps,
  p: UndoParams,
): Promise<{ agent: Agent; request: ActionRequest }> {
  const original = await d.actions.get(p.actionId);
  if (!original) throw new NotFoundError('action', p.actionId, 'action');
  if (original.status !== 'succeeded') {
    throw new ConflictError(
      `action ${p.actionId} is ${original.status}; only succeeded actions can be undone`,
      { field: 'action' },
    );
  }
  const tool = d.tools.get(original.tool);
  if (!tool?.reversal)
    throw new UserError(`tool ${original.tool} has no registered reversal`, { field: 'action' });
  const agent = await d.agents.require(original.agentId, 'agent');
  let input: unknown;
  try {
    input = await compileExpression(tool.reversal.input).evaluate({
      input: original.input,
      result: original.result,
    });
  } catch (err) {
    throw new UserError(`reversal input expression failed: ${(err as Error).message}`, {
      field: `tools.${tool.name}.reversal.input`,
    });
  }
  if (!input || typeof input !== 'object' || Array.isArray(input)) {
    throw new UserError('reversal input expression must give an object', {
      field: `tools.${tool.name}.reversal.input`,
    });
  }
  if (p.human.id === agent.id) throw new ForbiddenError('an agent cannot request an undo');
  const attempts = (await d.actions.reversalsOf(p.actionId)).filter((a) => a.agentId === agent.id);
  const last = attempts.at(-1);
  const idempotencyKey =
    last?.idempotencyKey && !RETRYABLE_UNDO.includes(last.status)
      ? last.idempotencyKey
      : attempts.length === 0
        ? `undo:${p.actionId}`
        : `undo:${p.actionId}:${attempts.length + 1}`;
  return {
    agent,
    request: {
      tool: tool.reversal.tool,
      input: JSON.parse(JSON.stringify(input)) as Record<string, unknown>,
      reason: p.reason ?? `undo of ${p.actionId} requested by ${p.human.id}`,
      environment: original.environment,
      idempotencyKey,
    },
  };
}
