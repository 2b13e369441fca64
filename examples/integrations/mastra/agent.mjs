// Mastra against the Autonomy OS MCP gateway: @mastra/mcp's MCPClient reaches the gateway over Streamable HTTP with
// the agent's bearer token, and a @mastra/core Agent uses its tools like any others. Run it against `aos demo`
// (docs/integrations/mastra.md):
//   AOS_URL=http://127.0.0.1:7420 AOS_AGENT_TOKEN=<agents["support-bot"]> AOS_APPROVER_TOKEN=<approverToken> \
//   OPENAI_API_KEY=sk-… node examples/integrations/mastra/agent.mjs
import { Agent } from '@mastra/core/agent';
import { MCPClient } from '@mastra/mcp';
import { createOpenAICompatible } from '@ai-sdk/openai-compatible';
import { approveWhenHeld, settings } from '../governance.mjs';

const s = settings();

const mcp = new MCPClient({
  servers: {
    // MCPClient keys each tool `<server>_<tool>` (`aos_erp.refund`); the Agent offers it to the model under a name
    // model APIs accept (`aos_erp_refund`) and maps the model's calls back, so the gateway's own names work as they are.
    aos: {
      url: new URL(s.mcpUrl),
      requestInit: { headers: { authorization: `Bearer ${s.agentToken}` } },
    },
  },
});

try {
  // The tools the support agent needs, not every tool the gateway lists.
  const all = await mcp.listTools();
  const tools = { 'aos_erp.get_order': all['aos_erp.get_order'], 'aos_erp.refund': all['aos_erp.refund'] };
  const agent = new Agent({
    id: 'support',
    name: 'support',
    instructions:
      'You are a support agent. Look up the order, then refund what the customer is owed. Report what happened, ' +
      'including any call the control plane denied.',
    model: createOpenAICompatible({ name: 'openai', baseURL: s.modelUrl, apiKey: s.modelKey })(s.model),
    tools,
  });

  // The approver's side, concurrently: a refund over 100 waits for a support approver.
  const approval = approveWhenHeld({
    url: s.url,
    approverToken: s.approverToken,
    tool: 'erp.refund',
    orderId: s.orderId,
  });
  approval.catch(() => undefined);
  const result = await agent.generate(`Order ${s.orderId}: the parcel arrived damaged; refund 150.`, {
    maxSteps: 6,
  });
  console.log(JSON.stringify({ guide: 'mastra', approvalId: await approval, finalOutput: result.text }));
} finally {
  await mcp.disconnect();
}
