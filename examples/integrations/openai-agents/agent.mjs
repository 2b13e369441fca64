// OpenAI Agents SDK for JavaScript against the Autonomy OS MCP gateway. The agent is unmodified: it gets one MCP
// server (the gateway, with the agent's bearer token) and every call it makes is decided, recorded and, where policy
// says so, held for a human. Run it against `aos demo` (docs/integrations/openai-agents.md):
//   AOS_URL=http://127.0.0.1:7420 AOS_AGENT_TOKEN=<agents["support-bot"]> AOS_APPROVER_TOKEN=<approverToken> \
//   OPENAI_API_KEY=sk-… node examples/integrations/openai-agents/agent.mjs
import {
  Agent,
  MCPServerStreamableHttp,
  OpenAIChatCompletionsModel,
  run,
  setTracingDisabled,
} from '@openai/agents';
import OpenAI from 'openai';
import { GUIDE_TOOLS, approveWhenHeld, settings } from '../governance.mjs';

const s = settings();
// Traces would go to OpenAI's platform; the gateway records every call already.
setTracingDisabled(true);

const gateway = new MCPServerStreamableHttp({
  name: 'autonomy-os',
  url: s.mcpUrl,
  requestInit: { headers: { authorization: `Bearer ${s.agentToken}` } },
  // A held call answers when a human decides (up to the gateway's mcp.approvalWaitMs, 30 s by default).
  clientSessionTimeoutSeconds: 60,
  timeout: 60_000,
  // Offer the agent only the tools it needs. Model APIs refuse dots in function names: the Agents SDK itself offers
  // `erp.refund` to the model as `erp_refund` and calls the gateway by the MCP name, so no mapping is needed here.
  toolFilter: { allowedToolNames: GUIDE_TOOLS },
});

const agent = new Agent({
  name: 'support',
  instructions:
    'You are a support agent. Look up the order, then refund what the customer is owed. Report what happened, ' +
    'including any call the control plane denied.',
  model: new OpenAIChatCompletionsModel(new OpenAI({ baseURL: s.modelUrl, apiKey: s.modelKey }), s.model),
  mcpServers: [gateway],
});

await gateway.connect();
try {
  // The approver's side, concurrently: a refund over 100 waits for a support approver.
  const approval = approveWhenHeld({
    url: s.url,
    approverToken: s.approverToken,
    tool: 'erp.refund',
    orderId: s.orderId,
  });
  approval.catch(() => undefined);
  const result = await run(agent, `Order ${s.orderId}: the parcel arrived damaged; refund 150.`);
  console.log(
    JSON.stringify({ guide: 'openai-agents', approvalId: await approval, finalOutput: result.finalOutput }),
  );
} finally {
  await gateway.close();
}
