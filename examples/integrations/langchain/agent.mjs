// LangChain.js / LangGraph.js against the Autonomy OS MCP gateway, through @langchain/mcp-adapters: the gateway is
// one MCP server over Streamable HTTP with the agent's bearer token; a ReAct agent uses its tools as it would any
// other. Run it against `aos demo` (docs/integrations/langchain.md):
//   AOS_URL=http://127.0.0.1:7420 AOS_AGENT_TOKEN=<agents["support-bot"]> AOS_APPROVER_TOKEN=<approverToken> \
//   OPENAI_API_KEY=sk-… node examples/integrations/langchain/agent.mjs
import { MultiServerMCPClient } from '@langchain/mcp-adapters';
import { createReactAgent } from '@langchain/langgraph/prebuilt';
import { ChatOpenAI } from '@langchain/openai';
import { GUIDE_TOOLS, approveWhenHeld, settings, toModelName } from '../governance.mjs';

const s = settings();

const client = new MultiServerMCPClient({
  mcpServers: {
    'autonomy-os': {
      transport: 'http',
      url: s.mcpUrl,
      headers: { authorization: `Bearer ${s.agentToken}` },
    },
  },
  // The gateway's names are already unique (`<connector>.<tool>`): no server prefix.
  prefixToolNameWithServerName: false,
  additionalToolNamePrefix: '',
});

try {
  const tools = (await client.getTools()).filter((t) => GUIDE_TOOLS.includes(t.name));
  // Temporary, until the gateway offers dot-free aliases: model APIs refuse dots in function names. Each tool still
  // calls the gateway by its own name (`erp.refund`); only the name the model sees changes (`erp__refund`).
  for (const tool of tools) tool.name = toModelName(tool.name);

  const agent = createReactAgent({
    llm: new ChatOpenAI({ model: s.model, apiKey: s.modelKey, configuration: { baseURL: s.modelUrl } }),
    tools,
    prompt:
      'You are a support agent. Look up the order, then refund what the customer is owed. Report what happened, ' +
      'including any call the control plane denied.',
  });

  // The approver's side, concurrently: a refund over 100 waits for a support approver.
  const approval = approveWhenHeld({
    url: s.url,
    approverToken: s.approverToken,
    tool: 'erp.refund',
    orderId: s.orderId,
  });
  approval.catch(() => undefined);
  const result = await agent.invoke({
    messages: [{ role: 'user', content: `Order ${s.orderId}: the parcel arrived damaged; refund 150.` }],
  });
  const finalOutput = result.messages.at(-1)?.content;
  console.log(JSON.stringify({ guide: 'langchain', approvalId: await approval, finalOutput }));
} finally {
  await client.close();
}
