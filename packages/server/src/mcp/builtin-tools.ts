import type { CallToolResult, Tool } from '@modelcontextprotocol/sdk/types.js';
import { z } from 'zod';
import { parseInput } from '@autonomy-os/core';
import type { Agent, Engine } from '@autonomy-os/core';
import { COORDINATION_TOOLS } from './coordination-tools.js';
import { TASK_TOOLS } from './task-tools.js';
import { toolInputSchema } from './tool-input-schema.js';

/** What a built-in tool runs with. */
export interface BuiltinContext {
  engine: Engine;
  /** The authenticated caller, as loaded for this request. */
  agent: Agent;
  /** Why the agent may not act now (paused, kill switch), if so. */
  blocked: string | undefined;
  /** Submits an action through the pipeline and waits for approval like tools/call does. */
  submit(request: {
    tool: string;
    input: Record<string, unknown>;
    reason?: string | undefined;
    forceApproval?: boolean;
  }): Promise<CallToolResult>;
}

/** A tool the control plane itself offers over MCP. */
export interface BuiltinTool {
  /** The schema that validates the tool's arguments; `definition.inputSchema` is derived from it. */
  input: z.ZodObject;
  definition: Tool;
  /**
   * `self` tools only read the caller's own state and stay available when the agent is paused or stopped by a kill
   * switch (so it can find out why). `governed` tools are hidden and refused then.
   */
  kind: 'self' | 'governed';
  run(args: Record<string, unknown>, ctx: BuiltinContext): Promise<CallToolResult>;
}

const json = (value: Record<string, unknown>): CallToolResult => ({
  content: [{ type: 'text', text: JSON.stringify(value) }],
  structuredContent: value,
});

const whoamiInput = z.object({}).strict();
const approvalStatusInput = z
  .object({ approvalId: z.string().min(1).max(100).describe('The approvalId a held call answered.') })
  .strict();
const requestApprovalInput = z
  .object({
    tool: z.string().min(1).max(200).describe('The tool to call, e.g. payments.refund.'),
    input: z.record(z.string(), z.unknown()).default({}).describe("The tool's arguments."),
    reason: z.string().min(1, 'is required').max(4000).describe('Why, for the approver.'),
  })
  .strict();
const escalateInput = z
  .object({
    note: z.string().min(1, 'is required').max(4000).describe('What a human should look at and why.'),
    actionId: z.string().min(1).max(100).optional().describe('One of your actions this is about.'),
  })
  .strict();

const whoami: BuiltinTool = {
  kind: 'self',
  input: whoamiInput,
  definition: {
    name: 'aos_whoami',
    title: 'Who am I',
    description:
      'Your own identity in Autonomy OS: id, role, tier, owner, environments, status, and the budgets that apply to you with what is used.',
    inputSchema: toolInputSchema(whoamiInput),
    annotations: { readOnlyHint: true, idempotentHint: true, openWorldHint: false },
  },
  async run(_args, { engine, agent, blocked }) {
    const a = (await engine.store.agents.get(agent.id)) ?? agent;
    const applicable = new Set(engine.budgets.applicable(a).map((b) => `${b.scope}/${b.period}`));
    const budgets = (await engine.budgets.usage())
      .filter((b) => applicable.has(`${b.scope}/${b.period}`))
      .map((b) => ({
        scope: b.scope,
        period: b.period,
        periodStart: b.periodStart,
        ...(b.calls !== undefined ? { calls: b.calls } : {}),
        ...(b.cost !== undefined ? { cost: b.cost } : {}),
        used: b.used,
        onExceed: b.onExceed,
      }));
    return json({
      id: a.id,
      role: a.role,
      tier: a.tier,
      owner: a.owner,
      environments: a.environments,
      status: a.status,
      ...(blocked ? { blocked } : {}),
      budgets,
    });
  },
};

const approvalStatus: BuiltinTool = {
  kind: 'self',
  input: approvalStatusInput,
  definition: {
    name: 'aos_approval_status',
    title: 'Approval status',
    description:
      "The status of an approval request for one of your own actions and, once it ran, the action's result.",
    inputSchema: toolInputSchema(approvalStatusInput),
    annotations: { readOnlyHint: true, idempotentHint: true, openWorldHint: false },
  },
  async run(args, { engine, agent }) {
    const { approvalId } = parseInput(approvalStatusInput, args, 'arguments');
    const approval = await engine.approvals.get(approvalId);
    const action = approval?.actionId ? await engine.actions.get(approval.actionId) : undefined;
    // Another agent's approval looks exactly like one that does not exist.
    if (!approval || !action || action.agentId !== agent.id) {
      return { ...json({ status: 'not_found', approvalId }), isError: true };
    }
    return json({
      approvalId,
      status: approval.status,
      group: approval.group,
      expiresAt: approval.expiresAt,
      actionId: action.id,
      tool: action.tool,
      actionStatus: action.status,
      ...(action.result ? { result: action.result } : {}),
      ...(action.error ? { error: action.error } : {}),
    });
  },
};

const requestApproval: BuiltinTool = {
  kind: 'governed',
  input: requestApprovalInput,
  definition: {
    name: 'aos_request_approval',
    title: 'Ask a human first',
    description:
      'Calls a tool only after a human approves it, even where policy would allow it outright. Use when unsure. Policy still applies: a call it denies stays denied.',
    inputSchema: toolInputSchema(requestApprovalInput),
    annotations: { readOnlyHint: false, destructiveHint: false, openWorldHint: true },
  },
  async run(args, ctx) {
    const r = parseInput(requestApprovalInput, args, 'arguments');
    return ctx.submit({ tool: r.tool, input: r.input, reason: r.reason, forceApproval: true });
  },
};

const escalate: BuiltinTool = {
  kind: 'governed',
  input: escalateInput,
  definition: {
    name: 'aos_escalate',
    title: 'Escalate to a human',
    description:
      'Tells the humans responsible for you that something needs their attention (recorded in the audit log and shown live). Optionally names one of your actions.',
    inputSchema: toolInputSchema(escalateInput),
    annotations: { readOnlyHint: false, destructiveHint: false, idempotentHint: false, openWorldHint: false },
  },
  async run(args, { engine, agent }) {
    const r = parseInput(escalateInput, args, 'arguments');
    if (r.actionId) {
      const a = await engine.actions.get(r.actionId);
      if (!a || a.agentId !== agent.id) {
        return { ...json({ status: 'not_found', actionId: r.actionId }), isError: true };
      }
    }
    const record = await engine.store.db.tx((tx) =>
      engine.store.audit.append(tx, {
        actor: `agent:${agent.id}`,
        type: 'escalation.requested',
        subject: r.actionId ? `action:${r.actionId}` : `agent:${agent.id}`,
        payload: { agentId: agent.id, owner: agent.owner, note: r.note, actionId: r.actionId ?? null },
      }),
    );
    engine.events.publish(
      'escalation.requested',
      {
        agentId: agent.id,
        owner: agent.owner,
        note: r.note,
        actionId: r.actionId ?? null,
        auditSeq: record.seq,
      },
      r.actionId ? `action:${r.actionId}` : `agent:${agent.id}`,
    );
    return json({ status: 'escalated', owner: agent.owner, auditSeq: record.seq });
  },
};

/**
 * What a built-in is for, which decides who is offered it (`mcp.builtins`): `core` to every agent, `tasks` to
 * workers (agents whose role takes workflow tasks), `coordination` (a run's context and messages) likewise.
 */
export type BuiltinGroup = 'core' | 'tasks' | 'coordination';

/** The built-in tools, by name. Their names have no dot, so they never collide with `<connector>.<tool>`. */
export const BUILTIN_TOOLS: ReadonlyMap<string, BuiltinTool> = new Map(
  [whoami, approvalStatus, requestApproval, escalate, ...COORDINATION_TOOLS, ...TASK_TOOLS].map((t) => [
    t.definition.name,
    t,
  ]),
);

const TASK_NAMES = new Set(TASK_TOOLS.map((t) => t.definition.name));
const COORDINATION_NAMES = new Set(COORDINATION_TOOLS.map((t) => t.definition.name));

/** The group of a built-in tool. */
export function builtinGroup(name: string): BuiltinGroup {
  if (TASK_NAMES.has(name)) return 'tasks';
  if (COORDINATION_NAMES.has(name)) return 'coordination';
  return 'core';
}
