// Vercel AI SDK against the Autonomy OS MCP gateway: @ai-sdk/mcp's createMCPClient with the HTTP transport and the
// agent's bearer token; generateText uses the gateway's tools like any others. Run it against `aos demo`
// (docs/integrations/vercel-ai.md):
//   AOS_URL=http://127.0.0.1:7420 AOS_AGENT_TOKEN=<agents["support-bot"]> AOS_APPROVER_TOKEN=<approverToken> \
//   OPENAI_API_KEY=sk-… node examples/integrations/vercel-ai/agent.mjs
import { createMCPClient } from '@ai-sdk/mcp';
import { createOpenAICompatible } from '@ai-sdk/openai-compatible';
import { generateText, stepCountIs } from 'ai';
import { GUIDE_TOOLS, approveWhenHeld, settings, toModelName } from '../governance.mjs';

const s = settings();

const gateway = await createMCPClient({
  transport: { type: 'http', url: s.mcpUrl, headers: { authorization: `Bearer ${s.agentToken}` } },
});

try {
  // Temporary, until the gateway offers dot-free aliases: model APIs refuse dots in function names. The tools are
  // keyed by the name the model sees (`erp__refund`); each still calls the gateway by its own name (`erp.refund`).
  const tools = Object.fromEntries(
    Object.entries(await gateway.tools())
      .filter(([name]) => GUIDE_TOOLS.includes(name))
      .map(([name, tool]) => [toModelName(name), tool]),
  );
  const model = createOpenAICompatible({ name: 'openai', baseURL: s.modelUrl, apiKey: s.modelKey })(s.model);

  // The approver's side, concurrently: a refund over 100 waits for a support approver.
  const approval = approveWhenHeld({
    url: s.url,
    approverToken: s.approverToken,
    tool: 'erp.refund',
    orderId: s.orderId,
  });
  approval.catch(() => undefined);
  const result = await generateText({
    model,
    tools,
    stopWhen: stepCountIs(6),
    system:
      'You are a support agent. Look up the order, then refund what the customer is owed. Report what happened, ' +
      'including any call the control plane denied.',
    prompt: `Order ${s.orderId}: the parcel arrived damaged; refund 150.`,
  });
  console.log(JSON.stringify({ guide: 'vercel-ai', approvalId: await approval, finalOutput: result.text }));
} finally {
  await gateway.close();
}
