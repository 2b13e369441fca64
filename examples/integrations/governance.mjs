/* global fetch */
// What every guide shares: where the gateway and the model are (from the environment, as `aos demo --json` prints
// them), the human approver's side of an approval (what someone does in the console's inbox, done here over REST so
// the guide runs unattended), and the temporary dot-free tool names for model APIs.

/**
 * The guide's settings, from the environment:
 * - `AOS_URL` (e.g. http://127.0.0.1:7420) and `AOS_AGENT_TOKEN` (an agent's token: `agents["support-bot"]`);
 * - `AOS_APPROVER_TOKEN` (the demo's `approverToken`), used only by {@link approveWhenHeld};
 * - `OPENAI_BASE_URL` (an OpenAI-compatible API, e.g. a local Ollama's http://127.0.0.1:11434/v1), `OPENAI_API_KEY`
 *   and `MODEL` (default `gpt-4.1-mini`);
 * - `ORDER_ID`: the order the guide works on (default `o-7`).
 */
export function settings() {
  const need = (name) => {
    const value = process.env[name];
    if (!value) throw new Error(`${name} is required (see docs/integrations/README.md)`);
    return value;
  };
  const url = need('AOS_URL').replace(/\/+$/, '');
  return {
    url,
    mcpUrl: `${url}/mcp`,
    agentToken: need('AOS_AGENT_TOKEN'),
    approverToken: process.env.AOS_APPROVER_TOKEN,
    modelUrl: process.env.OPENAI_BASE_URL ?? 'https://api.openai.com/v1',
    modelKey: process.env.OPENAI_API_KEY ?? 'none',
    model: process.env.MODEL ?? 'gpt-4.1-mini',
    orderId: process.env.ORDER_ID ?? 'o-7',
  };
}

/**
 * Plays the approver: waits until the agent's call on `tool` with `input.orderId` is held for approval, then approves
 * it with `POST /v1/approvals/:id/approve`. Answers the approval id. Without `approverToken` it does nothing (a human
 * approves in the console at `<AOS_URL>/`, and the held call completes when they do).
 */
export async function approveWhenHeld({ url, approverToken, tool, orderId, timeoutMs = 20_000 }) {
  if (!approverToken) return undefined;
  const headers = { authorization: `Bearer ${approverToken}`, 'content-type': 'application/json' };
  const until = Date.now() + timeoutMs;
  while (Date.now() < until) {
    const res = await fetch(`${url}/v1/approvals?status=pending`, { headers });
    if (!res.ok) throw new Error(`GET /v1/approvals: ${res.status} ${await res.text()}`);
    const { approvals } = await res.json();
    const held = approvals.find((a) => a.evidence.tool === tool && a.evidence.input.orderId === orderId);
    if (held) {
      const vote = await fetch(`${url}/v1/approvals/${held.id}/approve`, {
        method: 'POST',
        headers,
        // Approve exactly what was seen: the gateway refuses the vote if the request changed since.
        body: JSON.stringify({ comment: 'approved by the integration guide', bindingHash: held.bindingHash }),
      });
      if (!vote.ok) throw new Error(`approve ${held.id}: ${vote.status} ${await vote.text()}`);
      return held.id;
    }
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  throw new Error(`no approval for ${tool} on ${orderId} within ${timeoutMs} ms`);
}

// Temporary: model APIs accept only ^[a-zA-Z0-9_-]{1,64}$ as a function name, and the gateway's tool names are
// `<connector>.<tool>`. Until the gateway offers dot-free aliases itself, the LangChain and Vercel AI SDK guides
// rename the tools the model sees (`erp.refund` → `erp__refund`); each tool still calls the gateway by its MCP name.
// The mapping is reversible (`__` → `.`) because no gateway tool name contains `__`.
/** `erp.refund` → `erp__refund`. */
export const toModelName = (name) => name.replaceAll('.', '__');

/** The tools the guides' support agent needs (an agent does better with the tools it needs than with every one). */
export const GUIDE_TOOLS = ['erp.get_order', 'erp.refund'];
