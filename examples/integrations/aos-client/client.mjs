// The SDK's AosClient against Autonomy OS: REST with typed answers, for agents that are not MCP clients (a worker,
// a script, a service). Run it against `aos demo` (docs/integrations/aos-client.md):
//   AOS_URL=http://127.0.0.1:7420 AOS_AGENT_TOKEN=<agents["support-bot"]> AOS_APPROVER_TOKEN=<approverToken> \
//   node examples/integrations/aos-client/client.mjs
import { AosClient } from '@autonomy-os/sdk';
import { settings } from '../governance.mjs';

const s = settings();
const agent = new AosClient({ url: s.url, token: s.agentToken });

// What the agent does in this session is remembered by policy (e.g. after reading a customer's message, no refunds).
const { sessionId } = await agent.openSession();
const act = (tool, input) => agent.act({ tool, input, sessionId, reason: 'damaged parcel', confidence: 0.9 });

const order = await act('erp.get_order', { orderId: s.orderId });
console.log(
  `allowed by ${order.decision.policies.join(', ')}: ${JSON.stringify(order.result?.structuredContent)}`,
);

const tooMuch = await act('erp.refund', { orderId: s.orderId, amount: 900 });
console.log(
  `${tooMuch.outcome} by ${tooMuch.decision.policies.join(', ')}: ${tooMuch.decision.reasons.join('; ')}`,
);

const refund = await act('erp.refund', { orderId: s.orderId, amount: 150 });
console.log(`${refund.outcome}: approval ${refund.approvalId} (${refund.decision.policies.join(', ')})`);

let done = refund;
if (refund.outcome === 'pending_approval' && refund.approvalId) {
  if (s.approverToken) {
    // The human's side (in the console it is one click): approve exactly what was requested, by its binding hash.
    const approver = new AosClient({ url: s.url, token: s.approverToken });
    const approval = await approver.getApproval(refund.approvalId);
    await approver.approve(approval.id, {
      comment: 'approved from the AosClient guide',
      bindingHash: approval.bindingHash,
    });
  }
  // The agent waits for the decision by reading its action (or follows GET /v1/events).
  while (done.status === 'pending_approval' || done.status === 'executing') {
    await new Promise((resolve) => setTimeout(resolve, 250));
    done = await agent.getAction(refund.id);
  }
}
console.log(`${done.status}: ${JSON.stringify(done.result?.structuredContent ?? done.error)}`);
console.log(
  JSON.stringify({
    guide: 'aos-client',
    approvalId: refund.approvalId,
    status: done.status,
    result: done.result?.structuredContent,
  }),
);
