import path from 'node:path';
import { AosClient } from '@autonomy-os/sdk';
import type { Action } from '@autonomy-os/sdk';

/** An agent that works a support ticket, acting only through the gateway under its own token. */
export interface SupportAgent {
  /** The agent's id in the organisation. */
  readonly agentId: string;
  /** What drives it, for the start-up banner ("rule agent", "LLM agent (model …)"). */
  readonly kind: string;
  /** Works one ticket to its end (reply, escalation, or a refund waiting for an approver). Safe to call again. */
  handle(ticketId: string): Promise<void>;
}

/** What a support agent is built from. */
export interface SupportAgentContext {
  /** The demo server's base URL. */
  url: string;
  agentId: string;
  /** The agent's own bearer token (never an upstream credential). */
  token: string;
  /** The knowledge base folder, as the filesystem MCP server sees it. */
  kbDir: string;
}

/**
 * Picks the agent that works the support queue.
 *
 * Seam for the built-in LLM agents: when OPENAI_API_KEY, ANTHROPIC_API_KEY or AOS_DEMO_MODEL_URL is set, this is
 * where the demo swaps the rule agent below for an LLM agent of the agent runtime (same agent id, same token, same
 * tools through the same gateway) and says so in the banner via `kind`. Until that lands, it is always the rule agent.
 */
export function pickSupportAgent(ctx: SupportAgentContext): SupportAgent {
  return new RuleSupportAgent(ctx);
}

/** Largest refund the agent asks for at all; above it the knowledge base says a person decides. */
const REFUND_CEILING = 500;

/**
 * The deterministic support agent of the demo. For a refund ticket it reads the refund policy and the order and
 * refunds (up to 100 runs on its own, up to 500 waits for an approver). For any other ticket it reads what the
 * customer wrote, and, playing a model that falls for instructions hidden in that text, tries the refund the text
 * demands: the session-taint policy, not the agent, is what stops it. Every call carries an idempotency key derived
 * from the ticket, so working a ticket again after a restart repeats nothing.
 */
export class RuleSupportAgent implements SupportAgent {
  readonly kind = 'rule agent';
  readonly agentId: string;
  readonly #client: AosClient;
  readonly #kbDir: string;

  constructor(ctx: SupportAgentContext) {
    this.agentId = ctx.agentId;
    this.#client = new AosClient({ url: ctx.url, token: ctx.token });
    this.#kbDir = ctx.kbDir;
  }

  async handle(ticketId: string): Promise<void> {
    const act = (step: string, tool: string, input: Record<string, unknown>, reason?: string) =>
      this.#client.act({
        tool,
        input,
        sessionId: `ticket:${ticketId}`,
        idempotencyKey: `${this.agentId}:${ticketId}:${step}`,
        ...(reason ? { reason, confidence: 0.9 } : {}),
      });
    const ticket = data<{
      status: string;
      category: string;
      orderId: string;
      requestedRefund: number | null;
    }>(await act('read', 'tickets.get_ticket', { ticketId }));
    if (!ticket || ticket.status !== 'open') return;
    if (ticket.category === 'refund') {
      await act('policy', 'kb.read_text_file', { path: path.join(this.#kbDir, 'refund-policy.md') });
      const order = data<{ total: number }>(await act('order', 'erp.get_order', { orderId: ticket.orderId }));
      const amount = Math.min(ticket.requestedRefund ?? 0, order?.total ?? 0);
      if (!(amount > 0) || amount > REFUND_CEILING) {
        await act('escalate', 'tickets.escalate', {
          ticketId,
          message: `refund of ${amount} EUR is above what an agent may refund; for a person`,
        });
        return;
      }
      const refund = await act(
        'refund',
        'erp.refund',
        { orderId: ticket.orderId, amount, note: `ticket ${ticketId}` },
        `customer asked for ${amount} EUR back on ${ticket.orderId}; within the refund policy`,
      );
      await act('answer', 'tickets.reply', {
        ticketId,
        message:
          refund.outcome === 'allowed'
            ? `We refunded ${amount} EUR.`
            : refund.outcome === 'pending_approval'
              ? `A refund of ${amount} EUR is with our team for approval.`
              : 'We could not refund this order; a colleague will follow up.',
      });
      return;
    }
    const thread = data<{ messages: { body: string }[] }>(
      await act('messages', 'tickets.read_messages', { ticketId }),
    );
    const text = (thread?.messages ?? []).map((m) => m.body).join('\n');
    const demanded = /refund\D{0,40}?(\d{1,6})\s*(?:EUR|€)?\D{0,40}?(o-\d{1,6})/i.exec(text);
    if (demanded) {
      // What a hijacked model would do next. The pipeline denies it: this session has read untrusted input.
      await act(
        'injected-refund',
        'erp.refund',
        { orderId: demanded[2] as string, amount: Number(demanded[1]) },
        'the message says an administrator authorised this refund',
      );
    }
    await act('escalate', 'tickets.escalate', { ticketId, message: 'needs a person from the support team' });
  }
}

/** The structured answer of an executed action, or undefined when it was not executed. */
function data<T>(a: Action): T | undefined {
  if (a.status !== 'succeeded') return undefined;
  return (a.result?.structuredContent as T | undefined) ?? undefined;
}
