import type { AosEvent } from '../../events/event-bus.js';
import type { Executor } from '../../store/db.js';

/** What a person is told: a line, a few facts, and the link to the item in the console. No arguments, no secrets. */
export interface NotificationMessage {
  /** The event type (`approval.requested`, `anomaly.detected`, …). */
  type: string;
  title: string;
  text: string;
  /** The item in the console: `<publicUrl>/approvals/<id>`, `/actions/<id>`, `/agents?agent=<id>`. */
  link: string;
  /** Ids of what it is about (approval, action, agent), for receivers that file it. */
  item: Record<string, string>;
  at: string;
}

/** A message and the key that makes it unique per event (a second node seeing the same event queues nothing). */
export interface BuiltMessage {
  key: string;
  message: NotificationMessage;
}

const str = (v: unknown): string | undefined => (typeof v === 'string' ? v : undefined);

function link(base: string, path: string): string {
  return `${base.replace(/\/+$/, '')}${path}`;
}

/**
 * The message for an event, or undefined when it is not one people are told about. Reads what the message names
 * (an approval's agent, tool and group) from the store, since events carry ids only.
 */
export async function buildMessage(
  db: Executor,
  event: AosEvent,
  publicUrl: string,
): Promise<BuiltMessage | undefined> {
  const d = event.data;
  const at = event.at;
  switch (event.type) {
    case 'approval.requested':
    case 'approval.escalated': {
      const approvalId = str(d.approvalId);
      if (!approvalId) return undefined;
      const row = await db.get<{
        action_id: string;
        group_name: string;
        level: number;
        agent_id: string;
        tool: string;
      }>(
        `SELECT p.action_id, p.group_name, p.level, a.agent_id, a.tool FROM approvals p JOIN actions a ON a.id = p.action_id
         WHERE p.id = ?`,
        [approvalId],
      );
      if (!row) return undefined;
      const escalated = event.type === 'approval.escalated';
      return {
        key: `${event.type}:${approvalId}:${Number(row.level)}`,
        message: {
          type: event.type,
          title: escalated
            ? `Approval escalated to ${row.group_name}`
            : `Approval needed from ${row.group_name}`,
          text: `${row.agent_id} asks to run ${row.tool}${escalated ? ' (nobody decided in time)' : ''}.`,
          link: link(publicUrl, `/approvals/${encodeURIComponent(approvalId)}`),
          item: { approvalId, actionId: row.action_id, agentId: row.agent_id },
          at,
        },
      };
    }
    case 'anomaly.detected': {
      const agentId = str(d.agentId);
      const kind = str(d.kind);
      if (!agentId || !kind) return undefined;
      const actionId = str(d.actionId) ?? '';
      const mode = str(d.mode) ?? 'alert';
      const effect =
        mode === 'pause'
          ? ' The agent was paused.'
          : mode === 'approval'
            ? ' Its writes now need approval.'
            : '';
      return {
        key: `${event.type}:${agentId}:${kind}:${actionId}`,
        message: {
          type: event.type,
          title: `Anomaly: ${kind.replaceAll('_', ' ')} for ${agentId}`,
          text: `Observed ${JSON.stringify(d.observed ?? {})} against baseline ${JSON.stringify(d.baseline ?? {})}.${effect}`,
          link: link(
            publicUrl,
            actionId
              ? `/actions/${encodeURIComponent(actionId)}`
              : `/agents?agent=${encodeURIComponent(agentId)}`,
          ),
          item: { agentId, ...(actionId ? { actionId } : {}) },
          at,
        },
      };
    }
    case 'agent.demoted': {
      const agentId = str(d.agentId);
      if (!agentId) return undefined;
      return {
        key: `${event.type}:${agentId}:${at}`,
        message: {
          type: event.type,
          title: `${agentId} was demoted`,
          text: `Tier ${String(d.from ?? '?')} → ${String(d.to ?? '?')}${str(d.reason) ? `: ${str(d.reason)}` : ''}.`,
          link: link(publicUrl, `/agents?agent=${encodeURIComponent(agentId)}`),
          item: { agentId },
          at,
        },
      };
    }
    case 'action.unknown_outcome': {
      const actionId = str(d.actionId);
      if (!actionId) return undefined;
      return {
        key: `${event.type}:${actionId}`,
        message: {
          type: event.type,
          title: 'An action’s outcome is unknown',
          text: `${str(d.agentId) ?? 'An agent'}'s call to ${str(d.tool) ?? 'a tool'} may or may not have happened upstream; it will not be retried. Check it.`,
          link: link(publicUrl, `/actions/${encodeURIComponent(actionId)}`),
          item: { actionId },
          at,
        },
      };
    }
    default:
      return undefined;
  }
}
