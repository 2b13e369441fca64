#!/usr/bin/env bash
# Plain HTTP with curl against Autonomy OS: the REST front (POST /v1/actions) and the same pipeline over MCP
# (POST /mcp, JSON-RPC). No SDK, no jq: values are picked out of the JSON with sed. Run it against `aos demo`
# (docs/integrations/curl.md):
#   AOS_URL=http://127.0.0.1:7420 AOS_AGENT_TOKEN=<agents["support-bot"]> AOS_APPROVER_TOKEN=<approverToken> \
#   bash examples/integrations/curl/governed-calls.sh
set -euo pipefail
: "${AOS_URL:?set AOS_URL}" "${AOS_AGENT_TOKEN:?set AOS_AGENT_TOKEN}" "${AOS_APPROVER_TOKEN:?set AOS_APPROVER_TOKEN}"
ORDER_ID="${ORDER_ID:-o-7}"

# A JSON string field of a (one-line) JSON text: field NAME < json. Enough for this guide; use jq in real scripts.
field() { sed -n "s/.*\"$1\":\"\([^\"]*\)\".*/\1/p" | head -n 1; }
agent() { curl -sS -H "authorization: Bearer $AOS_AGENT_TOKEN" -H 'content-type: application/json' "$@"; }
approver() { curl -sS -H "authorization: Bearer $AOS_APPROVER_TOKEN" -H 'content-type: application/json' "$@"; }

# 1. A session: what the agent reads in it (say, a customer's message) is remembered by policy for the next calls.
session=$(agent -X POST "$AOS_URL/v1/sessions" -d '{}' | field sessionId)

# 2. Allowed: a read.
allowed=$(agent -X POST "$AOS_URL/v1/actions" \
  -d "{\"tool\":\"erp.get_order\",\"input\":{\"orderId\":\"$ORDER_ID\"},\"sessionId\":\"$session\"}")
echo "allowed: $allowed"

# 3. Denied: support may refund up to 500; nothing permits 900. The answer names the policy (decision.policies).
denied=$(agent -X POST "$AOS_URL/v1/actions" \
  -d "{\"tool\":\"erp.refund\",\"input\":{\"orderId\":\"$ORDER_ID\",\"amount\":900},\"sessionId\":\"$session\",\"reason\":\"damaged parcel\"}")
echo "denied: $denied"

# 4. Held: a refund over 100 waits for a support approver. REST answers at once with the approval id.
held=$(agent -X POST "$AOS_URL/v1/actions" \
  -d "{\"tool\":\"erp.refund\",\"input\":{\"orderId\":\"$ORDER_ID\",\"amount\":150},\"sessionId\":\"$session\",\"reason\":\"damaged parcel\"}")
echo "held: $held"
action_id=$(printf '%s' "$held" | field id)
approval_id=$(printf '%s' "$held" | field approvalId)

# 5. A human approves (here over REST with the approver's token; in the console it is one click). The action runs.
approved=$(approver -X POST "$AOS_URL/v1/approvals/$approval_id/approve" -d '{"comment":"approved from the curl guide"}')
echo "approved: $approved"

# 6. The agent reads its action: status succeeded, with the upstream's result.
echo "action: $(agent "$AOS_URL/v1/actions/$action_id")"

# 7. The same pipeline over MCP: initialize (the gateway mints a session id), then tools/call. Answers come as SSE.
mcp() { agent -H 'accept: application/json, text/event-stream' -H 'mcp-protocol-version: 2025-06-18' "$@" "$AOS_URL/mcp"; }
mcp_session=$(mcp -D - -o /dev/null \
  -d '{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"curl","version":"1"}}}' |
  tr -d '\r' | sed -n 's/^mcp-session-id: //Ip')
mcp -H "mcp-session-id: $mcp_session" -d '{"jsonrpc":"2.0","method":"notifications/initialized"}' >/dev/null
echo "mcp: $(mcp -H "mcp-session-id: $mcp_session" \
  -d "{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"tools/call\",\"params\":{\"name\":\"erp.get_order\",\"arguments\":{\"orderId\":\"$ORDER_ID\"}}}" |
  sed -n 's/^data: //p')"
