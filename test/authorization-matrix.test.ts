/**
 * The authorization matrix: every HTTP route of the server's own route table, every MCP method and `aos_*` tool of
 * the gateway, and every CLI command that writes in local mode, tried as each principal and compared cell by cell
 * with the table declared here. A route, method, tool or command without a row fails the test, so nothing new ships
 * without someone deciding who may use it. One SQLite store, one real server (Fastify inject), the real CLI program.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { CommanderError } from 'commander';
import type { Command } from 'commander';
import { loadConfigFile } from '@autonomy-os/core';
import type { Agent, Engine, Human } from '@autonomy-os/core';
import { buildServer, toHttpError } from '@autonomy-os/server';
import type { AosServer } from '@autonomy-os/server';
import { buildProgram } from '../packages/cli/src/program.js';
import { BUILTIN_TOOLS } from '../packages/server/src/mcp/builtin-tools.js';
import { RESPONSES } from '../packages/server/src/wire-schemas.js';
import { createAgentMcpServer } from '../packages/server/src/mcp/agent-mcp-server.js';
import { backends } from './helpers/backends.js';
import type { TestStore } from './helpers/backends.js';
import {
  PAYMENTS_KEY,
  SUPPORT_DESK,
  seedSupportDesk,
  startPayments,
  supportDeskEngine,
} from './helpers/support-desk.js';
import type { Payments } from './helpers/support-desk.js';

/** Who tries each cell, in the order of the table's columns. */
const PRINCIPALS = ['none', 'agent', 'revoked', 'approver', 'auditor', 'viewer', 'owner', 'admin'] as const;
type Principal = (typeof PRINCIPALS)[number];
/** One status per principal, in {@link PRINCIPALS} order. */
type Cells = readonly [number, number, number, number, number, number, number, number];

/** The humans and agents behind the columns. */
const WHO = {
  agent: 'bot', // role support, tier 2, owned by owen
  revoked: 'gone', // revoked after its token was issued
  approver: 'frank', // approvers:finance
  auditor: 'audrey', // auditors
  viewer: 'vic', // no group
  owner: 'owen', // no group; owns the agent bot and the workflows below (pinned on their runs)
  admin: 'adam', // admins
} as const;

const sqlite = backends.find((b) => b.name === 'sqlite')!;
let t: TestStore;
let payments: Payments;
let engine: Engine;
let server: AosServer;
let configFile: string;
let tmp: string;
const tokens: Partial<Record<Principal, string>> = {};
let uniq = 0;
const next = (prefix: string) => `${prefix}-${++uniq}`;

const human = (id: string): Promise<Human> => t.store.humans.require(id);
const agent = (id: string): Promise<Agent> => t.store.agents.require(id);

/** A fresh run of `hold` (waiting at its approval step), started by the admin. */
async function holdRun(): Promise<string> {
  const run = await engine.workflows.start('hold', {}, await human(WHO.admin));
  await engine.workflows.drain();
  return run.id;
}

/** A fresh run of `ask` whose worker task the worker escalated to the run's owner. */
async function escalatedTask(): Promise<{ id: string; runId: string }> {
  const run = await engine.workflows.start('ask', {}, await human(WHO.admin));
  const worker = await agent('worker-1');
  await engine.workflows.drain();
  const task = await engine.workflows.tasks.claim(worker);
  if (!task) throw new Error(`no task to claim: ${JSON.stringify(await engine.workflows.get(run.id))}`);
  await engine.workflows.tasks.fail(worker, task.id, { message: 'which one?', escalate: true });
  return { id: task.id, runId: run.id };
}

/** A fresh refund by the agent over 100: it waits for a finance approver. */
async function pendingApproval(): Promise<{ id: string; actionId: string }> {
  const view = await engine.actions.submit(await agent(WHO.agent), {
    tool: 'payments.refund',
    input: { orderId: next('o'), amount: 200 },
  });
  return { id: view.approvalId as string, actionId: view.id };
}

/** A fresh refund by the agent that executed (and can be undone). */
async function executedRefund(): Promise<string> {
  const view = await engine.actions.submit(await agent(WHO.agent), {
    tool: 'payments.refund',
    input: { orderId: next('o'), amount: 20 },
  });
  return view.id;
}

async function freshAgent(tier: 0 | 1 | 2 | 3 = 0): Promise<string> {
  const id = next('spare');
  await t.store.agents.create({ id, role: 'support', tier, owner: WHO.owner }, 'operator:test');
  return id;
}

interface RouteRow {
  cells: Cells;
  /** Path parameters, made fresh for each cell when the route changes what it touches. */
  params?: () => Promise<Record<string, string>>;
  body?: () => unknown;
  /** A stream (SSE): only the status is read, over a real connection. */
  stream?: boolean;
  headers?: Record<string, string>;
}

const VIEWER_PASSWORD = 'the viewer signs in here';

let shared: { actionId: string; runId: string; taskId: string; taskRunId: string; approvalId: string };

/**
 * Cancels the runs a row's cells left waiting (all but the shared ones), so each row starts from the same state and
 * the drain after it stays short.
 */
async function settle(): Promise<void> {
  const admin = await human(WHO.admin);
  for (const r of await engine.workflows.list({ status: 'running', limit: 1000 }))
    if (r.id !== shared.runId && r.id !== shared.taskRunId) await engine.workflows.cancel(r.id, admin);
  await engine.workflows.drain();
}

// What each principal gets from each route. 401: not authenticated; 403: authenticated, not allowed; 400/404/409:
// allowed past authorization, then refused for the request itself (the cell proves the check passed).
//                                        none agent revkd apprv audit view  owner admin
const ANY_HUMAN_READ: Cells = /*      */ [401, 403, 401, 200, 200, 200, 200, 200];
const AGENT_ONLY: Cells = /*          */ [401, 200, 401, 403, 403, 403, 403, 403];
const ADMIN_ONLY: Cells = /*          */ [401, 403, 401, 403, 403, 403, 403, 200];
const RUN_MANAGER: Cells = /*         */ [401, 403, 401, 403, 403, 403, 200, 200];
const PUBLIC: Cells = /*              */ [200, 200, 200, 200, 200, 200, 200, 200];

const ROUTES: Record<string, RouteRow> = {
  'GET /healthz': { cells: PUBLIC },
  // The console's static files (a fixture build here): public; the API behind them authorizes every call.
  'GET /': { cells: PUBLIC },
  'GET /index.html': { cells: PUBLIC },
  'GET /v1/openapi.json': { cells: PUBLIC },
  'GET /.well-known/oauth-protected-resource': { cells: PUBLIC },
  'GET /.well-known/oauth-protected-resource/mcp': { cells: PUBLIC },
  // Open here: the server binds to loopback and `server.metrics.auth` is `auto` (see http-guards.test.ts otherwise).
  'GET /metrics': { cells: PUBLIC },
  'GET /v1/whoami': { cells: [401, 200, 401, 200, 200, 200, 200, 200] },
  'POST /v1/actions': {
    cells: [401, 201, 401, 403, 403, 403, 403, 403],
    body: () => ({ tool: 'payments.get_order', input: { orderId: next('o') } }),
  },
  // Only an agent opens a session for itself.
  'POST /v1/sessions': { cells: [401, 201, 401, 403, 403, 403, 403, 403] },
  // Agents see their own actions; humans all of them.
  'GET /v1/actions': { cells: [401, 200, 401, 200, 200, 200, 200, 200] },
  'GET /v1/actions/:id': {
    cells: [401, 200, 401, 200, 200, 200, 200, 200],
    params: async () => ({ id: shared.actionId }),
  },
  'GET /v1/actions/:id/receipt': {
    cells: [401, 200, 401, 200, 200, 200, 200, 200],
    params: async () => ({ id: shared.actionId }),
  },
  // The agent's owner or an admin undoes an action.
  'POST /v1/actions/:id/undo': {
    cells: [401, 403, 401, 403, 403, 403, 201, 201],
    params: async () => ({ id: await executedRefund() }),
    body: () => ({ reason: 'matrix' }),
  },
  // Sign-in takes no bearer token: any request carrying one (an agent's above all) is refused; none signs in.
  'POST /v1/auth/sessions': {
    cells: [201, 403, 403, 403, 403, 403, 403, 403],
    body: () => ({ human: WHO.viewer, password: VIEWER_PASSWORD }),
  },
  // Signing out ends a sign-in session; the matrix's API tokens are not sessions, so every principal is refused.
  'DELETE /v1/auth/sessions/current': { cells: [401, 403, 401, 403, 403, 403, 403, 403] },
  // Public: what the sign-in page offers. The OIDC flow is not configured here, so it answers 404 to everyone
  // (routes/oidc-sign-in.test.ts drives it against a real provider).
  'GET /v1/auth/methods': { cells: [200, 200, 200, 200, 200, 200, 200, 200] },
  'GET /v1/auth/oidc/start': { cells: [404, 404, 404, 404, 404, 404, 404, 404] },
  'GET /v1/auth/oidc/callback': { cells: [404, 404, 404, 404, 404, 404, 404, 404] },
  'GET /v1/approvals': { cells: ANY_HUMAN_READ },
  'GET /v1/approvals/:id': { cells: ANY_HUMAN_READ, params: async () => ({ id: shared.approvalId }) },
  // Only finance approvers decide; the agent's owner is barred and admins are not approvers.
  'POST /v1/approvals/:id/approve': {
    cells: [401, 403, 401, 200, 403, 403, 403, 403],
    params: async () => ({ id: (await pendingApproval()).id }),
    body: () => ({}),
  },
  'POST /v1/approvals/:id/deny': {
    cells: [401, 403, 401, 200, 403, 403, 403, 403],
    params: async () => ({ id: (await pendingApproval()).id }),
    body: () => ({}),
  },
  'GET /v1/agents': { cells: ANY_HUMAN_READ },
  'POST /v1/agents': {
    cells: [401, 403, 401, 403, 403, 403, 403, 201],
    body: () => ({ id: next('new'), role: 'support', tier: 0, owner: WHO.owner }),
  },
  'GET /v1/agents/:id': { cells: ANY_HUMAN_READ, params: async () => ({ id: WHO.agent }) },
  // The owner may pause their own agent; everything else about agents is for admins.
  'POST /v1/agents/:id/pause': {
    cells: [401, 403, 401, 403, 403, 403, 200, 200],
    params: async () => ({ id: await freshAgent() }),
    body: () => ({}),
  },
  'POST /v1/agents/:id/resume': {
    cells: [401, 403, 401, 403, 403, 403, 403, 200],
    params: async () => {
      const id = await freshAgent();
      await t.store.agents.setStatus(id, 'pause', 'operator:test');
      return { id };
    },
    body: () => ({}),
  },
  'POST /v1/agents/:id/kill': {
    cells: ADMIN_ONLY,
    params: async () => ({ id: await freshAgent() }),
    body: () => ({}),
  },
  'POST /v1/agents/:id/revoke': {
    cells: ADMIN_ONLY,
    params: async () => ({ id: await freshAgent() }),
    body: () => ({}),
  },
  // Promotion is for admins other than the owner, and must be earned: with no gating suite it is refused (409).
  'POST /v1/agents/:id/promote': {
    cells: [401, 403, 401, 403, 403, 403, 403, 409],
    params: async () => ({ id: await freshAgent() }),
    body: () => ({ tier: 1 }),
  },
  'GET /v1/agents/:id/evals': { cells: ANY_HUMAN_READ, params: async () => ({ id: WHO.agent }) },
  'GET /v1/evals/runs': { cells: ANY_HUMAN_READ },
  'GET /v1/evals/runs/:id': {
    cells: [401, 403, 401, 404, 404, 404, 404, 404],
    params: async () => ({ id: 'evr_none' }),
  },
  'GET /v1/evals/coverage': { cells: ANY_HUMAN_READ },
  // Lowering a tier is an admin's word; raising one is a promotion (POST /v1/agents/:id/promote), refused here (409).
  'POST /v1/agents/:id/tier': {
    cells: ADMIN_ONLY,
    params: async () => ({ id: await freshAgent(2) }),
    body: () => ({ tier: 1, reason: 'matrix' }),
  },
  'GET /v1/killswitch': { cells: ANY_HUMAN_READ },
  'POST /v1/killswitch': { cells: ADMIN_ONLY, body: () => ({ active: false, agent: 'nobody' }) },
  // The tool catalogue is readable by anyone authenticated.
  'GET /v1/tools': { cells: [401, 200, 401, 200, 200, 200, 200, 200] },
  // 409: the definition is not quarantined; the admin got past the check.
  'POST /v1/tools/:name/approve': {
    cells: [401, 403, 401, 403, 403, 403, 403, 409],
    params: async () => ({ name: 'payments.refund' }),
    body: () => ({}),
  },
  'GET /v1/budgets': { cells: ANY_HUMAN_READ },
  'GET /v1/reports/summary': { cells: ANY_HUMAN_READ },
  'GET /v1/audit/verify': { cells: [401, 403, 401, 403, 200, 403, 403, 200] },
  'GET /v1/audit': { cells: [401, 403, 401, 403, 200, 403, 403, 200] },
  'GET /v1/audit/checkpoint': { cells: [401, 403, 401, 403, 200, 403, 403, 200] },
  'POST /v1/audit/export': { cells: [401, 403, 401, 403, 200, 403, 403, 200], body: () => ({}) },
  'GET /v1/policies': { cells: ANY_HUMAN_READ },
  'POST /v1/policies/replay': {
    cells: [401, 403, 401, 403, 200, 403, 403, 200],
    body: () => ({ policies: [], days: 1 }),
  },
  'GET /v1/events': { cells: ANY_HUMAN_READ, stream: true },
  'GET /v1/workflows': { cells: ANY_HUMAN_READ },
  'POST /v1/workflows/:name/runs': {
    cells: [401, 403, 401, 403, 403, 403, 201, 201],
    params: async () => ({ name: 'hold' }),
    body: () => ({ input: {} }),
  },
  'GET /v1/runs': { cells: ANY_HUMAN_READ },
  'GET /v1/runs/:id': { cells: ANY_HUMAN_READ, params: async () => ({ id: shared.runId }) },
  'POST /v1/runs/:id/cancel': {
    cells: RUN_MANAGER,
    params: async () => ({ id: await holdRun() }),
    body: () => ({ reason: 'matrix' }),
  },
  'POST /v1/runs/:id/signals': {
    cells: [401, 403, 401, 403, 403, 403, 201, 201],
    params: async () => ({ id: shared.runId }),
    body: () => ({ name: 'go', data: null }),
  },
  // 409: the run has not failed; the manager got past the check.
  'POST /v1/runs/:id/retry': {
    cells: [401, 403, 401, 403, 403, 403, 409, 409],
    params: async () => ({ id: shared.runId }),
    body: () => ({}),
  },
  'POST /v1/runs/:id/pause': {
    cells: RUN_MANAGER,
    params: async () => ({ id: await holdRun() }),
    body: () => ({}),
  },
  'POST /v1/runs/:id/resume': {
    cells: RUN_MANAGER,
    params: async () => {
      const id = await holdRun();
      await engine.workflows.pause(id, await human(WHO.admin));
      return { id };
    },
    body: () => ({}),
  },
  // A workflow approval step: its group decides (finance approvers), whoever manages the run.
  'POST /v1/runs/:id/steps/:step/approve': {
    cells: [401, 403, 401, 200, 403, 403, 403, 403],
    params: async () => ({ id: await holdRun(), step: 'approve' }),
    body: () => ({}),
  },
  'POST /v1/runs/:id/steps/:step/deny': {
    cells: [401, 403, 401, 200, 403, 403, 403, 403],
    params: async () => ({ id: await holdRun(), step: 'approve' }),
    body: () => ({}),
  },
  // 409: no unknown outcome to resolve; the manager got past the check.
  'POST /v1/runs/:id/steps/:step/resolve': {
    cells: [401, 403, 401, 403, 403, 403, 409, 409],
    params: async () => ({ id: shared.runId, step: 'approve' }),
    body: () => ({ outcome: 'failed' }),
  },
  // Run context: any human, or an agent that works on the run (bot does not).
  'GET /v1/runs/:id/context': { cells: ANY_HUMAN_READ, params: async () => ({ id: shared.runId }) },
  'GET /v1/runs/:id/context/:key': {
    cells: [401, 403, 401, 404, 404, 404, 404, 404],
    params: async () => ({ id: shared.runId, key: 'missing' }),
  },
  'PUT /v1/runs/:id/context/:key': {
    cells: [401, 403, 401, 200, 200, 200, 200, 200],
    params: async () => ({ id: shared.runId, key: next('k') }),
    body: () => ({ value: 1 }),
  },
  'POST /v1/runs/:id/messages': {
    cells: [401, 403, 401, 403, 403, 403, 403, 403],
    params: async () => ({ id: shared.runId }),
    body: () => ({ toRole: 'support', body: 'hi' }),
  },
  'GET /v1/runs/:id/messages': { cells: ANY_HUMAN_READ, params: async () => ({ id: shared.runId }) },
  'GET /v1/messages': { cells: AGENT_ONLY },
  'GET /v1/leases': { cells: ANY_HUMAN_READ },
  // 204: no task for bot's role.
  'POST /v1/tasks/next': { cells: [401, 204, 401, 403, 403, 403, 403, 403], body: () => ({}) },
  // Task routes for agents: the shared task is escalated, held by worker-1, not by bot; 409 (not claimed) comes before
  // any check of who holds it (see docs/security.md, gaps).
  'POST /v1/tasks/:id/heartbeat': {
    cells: [401, 409, 401, 403, 403, 403, 403, 403],
    params: async () => ({ id: shared.taskId }),
    body: () => ({}),
  },
  'POST /v1/tasks/:id/complete': {
    cells: [401, 409, 401, 403, 403, 403, 403, 403],
    params: async () => ({ id: shared.taskId }),
    body: () => ({ output: {} }),
  },
  'POST /v1/tasks/:id/fail': {
    cells: [401, 409, 401, 403, 403, 403, 403, 403],
    params: async () => ({ id: shared.taskId }),
    body: () => ({ message: 'no' }),
  },
  'POST /v1/tasks/:id/delegate': {
    cells: [401, 409, 401, 403, 403, 403, 403, 403],
    params: async () => ({ id: shared.taskId }),
    body: () => ({ role: 'support', input: {} }),
  },
  'POST /v1/tasks/:id/handoff': {
    cells: [401, 409, 401, 403, 403, 403, 403, 403],
    params: async () => ({ id: shared.taskId }),
    body: () => ({ toRole: 'support', context: 'over to you' }),
  },
  'GET /v1/tasks/:id': {
    cells: [401, 403, 401, 200, 200, 200, 200, 200],
    params: async () => ({ id: shared.taskId }),
  },
  'GET /v1/tasks': { cells: ANY_HUMAN_READ },
  // An escalated task is decided by the run's owner or an admin (mayManageRun).
  'POST /v1/tasks/:id/resolve': {
    cells: RUN_MANAGER,
    params: async () => ({ id: (await escalatedTask()).id }),
    body: () => ({ output: {} }),
  },
  'POST /v1/tasks/:id/reject': {
    cells: RUN_MANAGER,
    params: async () => ({ id: (await escalatedTask()).id }),
    body: () => ({ message: 'not ours' }),
  },
  // A signature, not a bearer token, authenticates a webhook (hooks.test.ts): a bearer token changes nothing, and a
  // workflow without a webhook trigger is 404 for everyone.
  'POST /v1/hooks/workflows/:name': {
    cells: [404, 404, 404, 404, 404, 404, 404, 404],
    params: async () => ({ name: 'hold' }),
    body: () => ({}),
  },
  // The MCP endpoint is for agents; GET and DELETE have nothing to do in the stateless gateway (405).
  'POST /mcp': {
    cells: [401, 200, 401, 403, 403, 403, 403, 403],
    body: () => ({ jsonrpc: '2.0', id: 1, method: 'ping' }),
    headers: { accept: 'application/json, text/event-stream' },
  },
  'GET /mcp': { cells: [401, 405, 401, 403, 403, 403, 403, 403] },
  'DELETE /mcp': { cells: [401, 405, 401, 403, 403, 403, 403, 403] },
};

/** What the agent gets from an MCP method or tool: a result, a tool error (`isError`), or a JSON-RPC error code. */
type McpOutcome = 'result' | 'tool_error' | number;
interface McpRow {
  /** HTTP status of `POST /mcp` per principal. */
  cells: Cells;
  agent: McpOutcome;
  params?: Record<string, unknown> | (() => Record<string, unknown>);
}
//                                   none agent revkd apprv audit view  owner admin
const MCP_AGENTS: Cells = /*      */ [401, 200, 401, 403, 403, 403, 403, 403];

// Every JSON-RPC method the gateway handles. Humans never reach MCP (403); a revoked agent is not authenticated.
const MCP_METHODS: Record<string, McpRow> = {
  initialize: {
    cells: MCP_AGENTS,
    agent: 'result',
    params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 'matrix', version: '1' } },
  },
  ping: { cells: MCP_AGENTS, agent: 'result' },
  'tools/list': { cells: MCP_AGENTS, agent: 'result' },
  'tools/call': { cells: MCP_AGENTS, agent: 'result', params: { name: 'aos_whoami', arguments: {} } },
};

// Every built-in tool, called by the agent bot (role support, in no run): its own state and governed requests
// answer; task and run tools refuse what bot does not hold, never showing another agent's data: -32602 (the task is
// not bot's to answer), -32600 (bot does not work on the run), or a tool error (aos_task_status).
const MCP_TOOLS: Record<string, McpRow> = {
  aos_whoami: { cells: MCP_AGENTS, agent: 'result', params: {} },
  aos_approval_status: {
    cells: MCP_AGENTS,
    agent: 'result',
    params: () => ({ approvalId: shared.approvalId }),
  },
  aos_request_approval: {
    cells: MCP_AGENTS,
    agent: 'result',
    params: () => ({ tool: 'payments.refund', input: { orderId: next('o'), amount: 5 }, reason: 'matrix' }),
  },
  aos_escalate: { cells: MCP_AGENTS, agent: 'result', params: { note: 'matrix' } },
  aos_context_get: {
    cells: MCP_AGENTS,
    agent: -32600,
    params: () => ({ runId: shared.runId, key: 'k' }),
  },
  aos_context_set: {
    cells: MCP_AGENTS,
    agent: -32600,
    params: () => ({ runId: shared.runId, key: 'k', value: 1 }),
  },
  aos_send_message: {
    cells: MCP_AGENTS,
    agent: -32600,
    params: () => ({ runId: shared.runId, toRole: 'support', body: 'hi' }),
  },
  aos_read_messages: { cells: MCP_AGENTS, agent: 'result', params: {} },
  aos_next_task: { cells: MCP_AGENTS, agent: 'result', params: { waitSec: 0 } },
  aos_complete_task: {
    cells: MCP_AGENTS,
    agent: -32602,
    params: () => ({ taskId: shared.taskId, output: {} }),
  },
  aos_fail_task: {
    cells: MCP_AGENTS,
    agent: -32602,
    params: () => ({ taskId: shared.taskId, message: 'no' }),
  },
  aos_delegate: {
    cells: MCP_AGENTS,
    agent: -32602,
    params: () => ({ taskId: shared.taskId, role: 'support', input: {} }),
  },
  aos_task_status: { cells: MCP_AGENTS, agent: 'tool_error', params: () => ({ taskId: shared.taskId }) },
  aos_handoff: {
    cells: MCP_AGENTS,
    agent: -32602,
    params: () => ({ taskId: shared.taskId, toRole: 'support', context: 'over to you' }),
  },
};

/** One JSON-RPC request to `/mcp` as `who`: the HTTP status and, when answered, the outcome. */
async function mcpCall(
  who: Principal,
  method: string,
  params: Record<string, unknown> | undefined,
): Promise<{ status: number; outcome?: McpOutcome }> {
  const res = await request('POST', '/mcp', who, {
    body: () => ({ jsonrpc: '2.0', id: 1, method, ...(params ? { params } : {}) }),
    headers: { accept: 'application/json, text/event-stream', 'mcp-protocol-version': '2025-06-18' },
  });
  if (res.status !== 200) return { status: res.status };
  const data = res.body.split('\n').find((l) => l.startsWith('data: '));
  const msg = JSON.parse(data ? data.slice(6) : res.body) as {
    result?: { isError?: boolean };
    error?: { code: number };
  };
  return {
    status: res.status,
    outcome: msg.error ? msg.error.code : msg.result?.isError ? 'tool_error' : 'result',
  };
}

/** A local-mode command and who its write is checked against. */
type CliRow =
  /** Reads only, or runs a front (serve, mcp stdio) that authenticates each request itself: not tried here. */
  | 'read'
  | {
      /**
       * `human`: acts as `--as` (env AOS_AS), checked by the engine's rules, as a token would be. `operator`: takes
       * no `--as`; whoever can open the store administers it (docs/security.md), so every `--as` is refused.
       */
      kind: 'human' | 'operator';
      args: () => Promise<string[]>;
      cells: Cells;
    };

// Each principal's result as the HTTP front would say it: 200 done, 400 bad input (no --as, unknown option), 403
// refused, 404 no such human (an agent is not a human), 409 allowed but not possible now.
//                                       none agent revkd apprv audit view  owner admin
const OPERATOR: Cells = /*           */ [200, 400, 400, 400, 400, 400, 400, 400];
const CLI_RUN_MANAGER: Cells = /*    */ [400, 404, 404, 403, 403, 403, 200, 200];
const cfg = () => ['--config', configFile];
const operator = (args: () => Promise<string[]>, cells: Cells = OPERATOR): CliRow => ({
  kind: 'operator',
  args,
  cells,
});
const asHuman = (cells: Cells, args: () => Promise<string[]>): CliRow => ({ kind: 'human', args, cells });

const CLI: Record<string, CliRow> = {
  init: operator(async () => ['init']),
  serve: 'read',
  // Serves its own throwaway organisation with tokens it issues itself, like serve: not tried here.
  demo: 'read',
  'config validate': 'read',
  'config schema': 'read',
  'agents create': operator(async () => [
    'agents',
    'create',
    next('cli'),
    '--role',
    'support',
    '--owner',
    WHO.owner,
  ]),
  'agents list': 'read',
  'agents show': 'read',
  'agents pause': operator(async () => ['agents', 'pause', await freshAgent()]),
  'agents resume': operator(async () => {
    const id = await freshAgent();
    await t.store.agents.setStatus(id, 'pause', 'operator:test');
    return ['agents', 'resume', id];
  }),
  'agents revoke': operator(async () => ['agents', 'revoke', await freshAgent()]),
  'agents kill': operator(async () => ['agents', 'kill', await freshAgent()]),
  // An admin other than the owner, and earned: with no gating suite configured the admin is refused (409).
  'agents promote': asHuman([400, 404, 404, 403, 403, 403, 403, 409], async () => [
    'agents',
    'promote',
    await freshAgent(),
    '--tier',
    '1',
    ...cfg(),
  ]),
  'eval run': operator(async () => {
    const file = path.join(tmp, `${next('suite')}.yaml`);
    fs.writeFileSync(
      file,
      JSON.stringify({
        name: 'matrix',
        agent: { type: 'transcript', agent: WHO.agent },
        cases: [
          {
            id: 'c',
            category: 'c',
            task: 't',
            transcript: [],
            assert: [{ type: 'trajectory:step-count', max: 0 }],
          },
        ],
      }),
    );
    return ['eval', 'run', file];
  }),
  'eval capture': 'read',
  'eval coverage': 'read',
  'humans add': operator(async () => ['humans', 'add', next('h')]),
  'humans list': 'read',
  'humans set-password': operator(async () => [
    'humans',
    'set-password',
    WHO.owner,
    '--password-env',
    'AOS_MATRIX_PASSWORD',
  ]),
  'tokens issue': operator(async () => ['tokens', 'issue', '--human', WHO.viewer]),
  'tokens list': 'read',
  'tokens revoke': operator(async () => [
    'tokens',
    'revoke',
    (await t.store.tokens.issue({ subjectType: 'human', subjectId: WHO.viewer }, 'operator:test')).info.id,
  ]),
  'tokens verify': 'read',
  'audit verify': 'read',
  'audit checkpoint': operator(async () => [
    'audit',
    'checkpoint',
    '--out',
    path.join(tmp, `${next('cp')}.json`),
  ]),
  'audit export': 'read',
  'audit key': 'read',
  'audit list': 'read',
  report: 'read',
  'actions list': 'read',
  'actions show': 'read',
  explain: 'read',
  'approvals list': 'read',
  'approvals show': 'read',
  // Finance approvers decide; the agent's owner is barred; admins are not approvers.
  'approvals approve': asHuman([400, 404, 404, 200, 403, 403, 403, 403], async () => [
    'approvals',
    'approve',
    (await pendingApproval()).id,
    ...cfg(),
  ]),
  'approvals deny': asHuman([400, 404, 404, 200, 403, 403, 403, 403], async () => [
    'approvals',
    'deny',
    (await pendingApproval()).id,
    ...cfg(),
  ]),
  'killswitch on': operator(async () => ['killswitch', 'on', '--agent', 'nobody']),
  'killswitch off': operator(async () => ['killswitch', 'off', '--agent', 'nobody']),
  'killswitch list': 'read',
  // The agent's owner or an admin.
  undo: asHuman(CLI_RUN_MANAGER, async () => ['undo', await executedRefund(), ...cfg()]),
  'tools list': 'read',
  'tools sync': operator(async () => ['tools', 'sync', ...cfg()]),
  // 409 for the operator: the definition is not quarantined.
  'tools approve': operator(
    async () => ['tools', 'approve', 'payments.refund'],
    [409, 400, 400, 400, 400, 400, 400, 400],
  ),
  'secrets set': operator(async () => ['secrets', 'set', next('matrix'), '--value', 'v']),
  'secrets list': 'read',
  'secrets delete': operator(async () => {
    const name = next('matrix');
    return ['secrets', 'set', name, '--value', 'v', '&&', 'secrets', 'delete', name];
  }),
  'policy check': 'read',
  'policy test': 'read',
  'policy replay': 'read',
  'policy validate': 'read',
  'mcp stdio': 'read',
  'workflows validate': 'read',
  'workflows list': 'read',
  'runs start': asHuman(CLI_RUN_MANAGER, async () => ['runs', 'start', 'hold', ...cfg()]),
  'runs list': 'read',
  'runs show': 'read',
  'runs cancel': asHuman(CLI_RUN_MANAGER, async () => ['runs', 'cancel', await holdRun(), ...cfg()]),
  'runs pause': asHuman(CLI_RUN_MANAGER, async () => ['runs', 'pause', await holdRun(), ...cfg()]),
  'runs resume': asHuman(CLI_RUN_MANAGER, async () => {
    const id = await holdRun();
    await engine.workflows.pause(id, await human(WHO.admin));
    return ['runs', 'resume', id, ...cfg()];
  }),
  'runs signal': asHuman(CLI_RUN_MANAGER, async () => ['runs', 'signal', shared.runId, 'go', ...cfg()]),
  // 409 for the managers: the run has not failed.
  'runs retry': asHuman([400, 404, 404, 403, 403, 403, 409, 409], async () => [
    'runs',
    'retry',
    shared.runId,
    ...cfg(),
  ]),
  'runs resolve': asHuman([400, 404, 404, 403, 403, 403, 409, 409], async () => [
    'runs',
    'resolve',
    shared.runId,
    'approve',
    '--outcome',
    'failed',
    ...cfg(),
  ]),
  // The step's group decides the approval step.
  'runs approve': asHuman([400, 404, 404, 200, 403, 403, 403, 403], async () => [
    'runs',
    'approve',
    await holdRun(),
    'approve',
    ...cfg(),
  ]),
  'runs deny': asHuman([400, 404, 404, 200, 403, 403, 403, 403], async () => [
    'runs',
    'deny',
    await holdRun(),
    'approve',
    ...cfg(),
  ]),
  // Any human may write a run's shared context (its --as is attributed, not checked against the run's owner).
  'runs context': asHuman([400, 404, 404, 200, 200, 200, 200, 200], async () => [
    'runs',
    'context',
    shared.runId,
    next('k'),
    '--set',
    '1',
  ]),
  'runs messages': 'read',
  'runs leases': 'read',
  'tasks list': 'read',
  'tasks resolve': asHuman(CLI_RUN_MANAGER, async () => [
    'tasks',
    'resolve',
    (await escalatedTask()).id,
    ...cfg(),
  ]),
  'tasks reject': asHuman(CLI_RUN_MANAGER, async () => [
    'tasks',
    'reject',
    (await escalatedTask()).id,
    '--message',
    'not ours',
    ...cfg(),
  ]),
};

/** The names of the program's leaf commands (`runs cancel`), walked from the real `aos` program. */
function leafCommands(c: Command, prefix: string[] = []): string[] {
  if (!c.commands.length) return [prefix.join(' ')];
  return c.commands.flatMap((sub) => leafCommands(sub, [...prefix, sub.name()]));
}

/** Runs one `aos` command line in this process, as the binary would; answers the HTTP-like status of its end. */
async function cli(args: string[]): Promise<number> {
  const program = buildProgram();
  const quiet = (c: Command): void => {
    c.configureOutput({ writeOut: () => undefined, writeErr: () => undefined });
    c.commands.forEach(quiet);
  };
  quiet(program);
  const out = vi.spyOn(process.stdout, 'write').mockImplementation(() => true);
  try {
    await program.parseAsync(['node', 'aos', '--data', t.dataDir, ...args]);
    return 200;
  } catch (err) {
    return err instanceof CommanderError ? 400 : toHttpError(err).status;
  } finally {
    out.mockRestore();
  }
}

/** The run and step kinds the matrix needs, owned by `owen`. */
function writeWorkflows(dir: string): void {
  fs.mkdirSync(dir, { recursive: true });
  fs.writeFileSync(
    path.join(dir, 'hold.yaml'),
    [
      'name: hold',
      'version: 1',
      `owner: ${WHO.owner}`,
      'steps:',
      '  approve: { kind: approval, group: approvers:finance, prompt: go on? }',
      '  go: { kind: wait, event: go, dependsOn: [approve] }',
      '',
    ].join('\n'),
  );
  fs.writeFileSync(
    path.join(dir, 'ask.yaml'),
    [
      'name: ask',
      'version: 1',
      `owner: ${WHO.owner}`,
      'steps:',
      '  work: { kind: task, role: worker }',
      '',
    ].join('\n'),
  );
}

function fill(url: string, params: Record<string, string>): string {
  return url.replace(/:([A-Za-z]+)/g, (_m, k: string) => encodeURIComponent(params[k] ?? `no-${k}`));
}

async function request(
  method: string,
  url: string,
  who: Principal,
  row: Pick<RouteRow, 'body' | 'headers' | 'stream'>,
): Promise<{ status: number; body: string }> {
  const token = tokens[who];
  const headers: Record<string, string> = {
    ...(token ? { authorization: `Bearer ${token}` } : {}),
    ...row.headers,
  };
  const body = row.body?.();
  if (row.stream) {
    const base = server.app.server.address() as { port: number };
    const ac = new AbortController();
    const res = await fetch(`http://127.0.0.1:${base.port}${url}`, { headers, signal: ac.signal });
    ac.abort();
    return { status: res.status, body: '' };
  }
  const res = await server.app.inject({
    method: method as 'GET',
    url,
    headers: { ...headers, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    ...(body === undefined ? {} : { payload: JSON.stringify(body) }),
  });
  return { status: res.statusCode, body: res.body };
}

beforeAll(async () => {
  // The in-process CLI must see only the --as a cell gives it, and talk to the store, not a server.
  for (const k of ['AOS_AS', 'AOS_URL', 'AOS_TOKEN', 'AOS_DATABASE_URL']) delete process.env[k];
  t = await sqlite.create();
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'aos-authz-'));
  payments = await startPayments();
  await seedSupportDesk(t);
  const s = t.store;
  await s.humans.add({ id: WHO.auditor, groups: ['auditors'] }, 'operator:test');
  await s.humans.add({ id: WHO.viewer }, 'operator:test');
  await s.humans.setPassword(WHO.viewer, VIEWER_PASSWORD, 'operator:test');
  process.env.AOS_MATRIX_PASSWORD = 'a password for the matrix';
  await s.humans.add({ id: WHO.owner }, 'operator:test');
  await s.humans.add({ id: WHO.admin, groups: ['admins'] }, 'operator:test');
  await s.agents.create({ id: WHO.agent, role: 'support', tier: 2, owner: WHO.owner }, 'operator:test');
  await s.agents.create({ id: WHO.revoked, role: 'support', tier: 2, owner: WHO.owner }, 'operator:test');
  await s.agents.create({ id: 'worker-1', role: 'worker', tier: 1, owner: WHO.owner }, 'operator:test');
  writeWorkflows(path.join(tmp, 'workflows'));
  configFile = path.join(tmp, 'aos.yaml');
  fs.writeFileSync(
    configFile,
    fs
      .readFileSync(path.join(SUPPORT_DESK, 'aos.yaml'), 'utf8')
      .replaceAll('http://127.0.0.1:7431', payments.url)
      .replace('policies: ./policies', `policies: ${path.join(SUPPORT_DESK, 'policies')}`) +
      // The rate limit on failed authentication is off: the matrix sends hundreds of refusals from one address on
      // purpose (the limit has its own tests in packages/server/src/http-guards.test.ts).
      `\nworkflows: { dir: ./workflows, maxTasksPerAgent: 1000 }\nserver: { port: 0, authFailures: { max: 0 } }\n`,
  );
  process.env.AOS_SECRET_PAYMENTS_API_KEY = PAYMENTS_KEY;
  engine = await supportDeskEngine(t, loadConfigFile(configFile));
  const consoleDir = path.join(tmp, 'console');
  fs.mkdirSync(consoleDir);
  fs.writeFileSync(path.join(consoleDir, 'index.html'), '<!doctype html><title>console</title>');
  server = buildServer({ engine, version: 'test', consoleDir });
  await server.app.listen({ host: '127.0.0.1', port: 0 });
  for (const p of PRINCIPALS) {
    if (p === 'none') continue;
    const id = WHO[p];
    const subjectType = p === 'agent' || p === 'revoked' ? 'agent' : 'human';
    tokens[p] = (await s.tokens.issue({ subjectType, subjectId: id }, 'operator:test')).token;
  }
  await s.agents.setStatus(WHO.revoked, 'revoke', 'operator:test');
  const approval = await pendingApproval();
  shared = {
    actionId: approval.actionId,
    approvalId: approval.id,
    runId: await holdRun(),
    taskId: '',
    taskRunId: '',
  };
  const task = await escalatedTask();
  shared.taskId = task.id;
  shared.taskRunId = task.runId;
});

afterAll(async () => {
  delete process.env.AOS_SECRET_PAYMENTS_API_KEY;
  delete process.env.AOS_MATRIX_PASSWORD;
  await server?.close();
  await engine?.close();
  await payments?.close();
  await t?.cleanup();
  if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
});

describe('the authorization matrix', () => {
  it('has a row for every route of the server and no row for a route it does not have', () => {
    const table = server.routes.map((r) => `${r.method} ${r.url}`).sort();
    expect(Object.keys(ROUTES).sort()).toEqual(table);
  });

  it('documents every route of the server in /v1/openapi.json, and no route it does not have', async () => {
    // The console's static files are not API operations.
    const api = server.routes
      .map((r) => `${r.method} ${r.url}`)
      .filter((k) => k !== 'GET /' && k !== 'GET /index.html')
      .sort();
    const doc = JSON.parse((await request('GET', '/v1/openapi.json', 'none', {})).body) as {
      paths: Record<string, Record<string, unknown>>;
    };
    const documented = Object.entries(doc.paths)
      .flatMap(([p, ops]) =>
        Object.keys(ops).map((m) => `${m.toUpperCase()} ${p.replace(/\{(\w+)\}/g, ':$1')}`),
      )
      .sort();
    expect(documented).toEqual(api);
  });

  it('answers every route as declared for each principal', async () => {
    const got: Record<string, number[]> = {};
    const drift: string[] = [];
    const parsed = new Set<string>();
    for (const route of server.routes) {
      const key = `${route.method} ${route.url}`;
      const row = ROUTES[key];
      if (!row) continue;
      got[key] = [];
      for (const who of PRINCIPALS) {
        const url = fill(route.url, (await row.params?.()) ?? {});
        const res = await request(route.method, url, who, row);
        got[key].push(res.status);
        // The answer's published zod schema (wire-schemas.ts) must describe it exactly: drift fails here.
        const answer = RESPONSES[key];
        if (answer && String(res.status) === answer.status) {
          const result = answer.schema.safeParse(JSON.parse(res.body));
          if (!result.success) drift.push(`${key} as ${who}: ${result.error.message}`);
          parsed.add(key);
        }
      }
      await settle();
    }
    const want = Object.fromEntries(Object.entries(ROUTES).map(([k, r]) => [k, [...r.cells]]));
    expect(got).toEqual(want);
    expect(drift).toEqual([]);
    // Every schema met at least one real answer, so none of these checks is vacuous.
    expect([...parsed].sort()).toEqual(Object.keys(RESPONSES).sort());
  });

  it('has a row for every MCP method the gateway handles and every aos_* tool it offers', async () => {
    const mcp = createAgentMcpServer({
      engine,
      agent: await agent(WHO.agent),
      sessionId: undefined,
      naming: 'dotted',
      version: 'test',
    });
    // The SDK's own table of request handlers: what the gateway answers, not a list kept by hand.
    const handled = [
      ...(mcp.server as unknown as { _requestHandlers: Map<string, unknown> })._requestHandlers.keys(),
    ];
    expect(Object.keys(MCP_METHODS).sort()).toEqual(handled.sort());
    expect(Object.keys(MCP_TOOLS).sort()).toEqual([...BUILTIN_TOOLS.keys()].sort());
  });

  it('answers every MCP method and aos_* tool as declared for each principal', async () => {
    const got: Record<string, unknown[]> = {};
    const want: Record<string, unknown[]> = {};
    const rows: [string, string, McpRow, (p: Record<string, unknown>) => Record<string, unknown>][] = [
      ...Object.entries(MCP_METHODS).map(
        ([m, r]) =>
          [m, m, r, (p: Record<string, unknown>) => p] as [
            string,
            string,
            McpRow,
            (p: Record<string, unknown>) => Record<string, unknown>,
          ],
      ),
      ...Object.entries(MCP_TOOLS).map(
        ([name, r]) =>
          [
            `tools/call ${name}`,
            'tools/call',
            r,
            (p: Record<string, unknown>) => ({ name, arguments: p }),
          ] as [string, string, McpRow, (p: Record<string, unknown>) => Record<string, unknown>],
      ),
    ];
    for (const [key, method, row, wrap] of rows) {
      got[key] = [];
      for (const who of PRINCIPALS) {
        const p = typeof row.params === 'function' ? row.params() : row.params;
        const r = await mcpCall(who, method, p === undefined ? undefined : wrap(p));
        got[key].push(r.status);
        if (who === 'agent') got[key].push(r.outcome);
      }
      want[key] = [row.cells[0], row.cells[1], row.agent, ...row.cells.slice(2)];
    }
    expect(got).toEqual(want);
  });

  it('has a row for every command of the aos program', () => {
    expect(Object.keys(CLI).sort()).toEqual(leafCommands(buildProgram()).sort());
  });

  it('answers every local-mode write as declared for each --as', async () => {
    const got: Record<string, number[]> = {};
    const want: Record<string, number[]> = {};
    for (const [name, row] of Object.entries(CLI)) {
      if (row === 'read') continue;
      got[name] = [];
      for (const who of PRINCIPALS) {
        const args = await row.args();
        const as = who === 'none' ? [] : ['--as', WHO[who]];
        // `a && b`: a set-up command first (the secret to delete), then the one under test.
        const split = args.indexOf('&&');
        if (split >= 0) await cli(args.slice(0, split));
        got[name].push(await cli([...(split >= 0 ? args.slice(split + 1) : args), ...as]));
      }
      want[name] = [...row.cells];
      await settle();
    }
    expect(got).toEqual(want);
  });
});
