import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import { z } from 'zod';
import { participantOf, parseInput } from '@autonomy-os/core';
import type { Agent } from '@autonomy-os/core';
import type { BuiltinTool } from './builtin-tools.js';
import { toolInputSchema } from './tool-input-schema.js';

const json = (value: Record<string, unknown>): CallToolResult => ({
  content: [{ type: 'text', text: JSON.stringify(value) }],
  structuredContent: value,
});

const self = (agent: Agent) =>
  participantOf({ kind: 'agent', id: agent.id, agent, via: 'token', credentialId: '' });

const contextGetInput = z
  .object({
    runId: z.string().min(1).max(100).describe('The run.'),
    key: z.string().min(1).max(100).optional().describe('One entry; omit for all.'),
  })
  .strict();
const contextSetInput = z
  .object({
    runId: z.string().min(1).max(100).describe('The run.'),
    key: z.string().min(1).max(100).describe('Entry name: letters, digits, ., _, - or :.'),
    value: z.unknown().describe('Any JSON value.'),
    expectVersion: z.number().int().min(0).optional().describe('The version you read.'),
  })
  .strict();
const sendInput = z
  .object({
    runId: z.string().min(1).max(100).describe('The run you both work on.'),
    to: z.string().min(1).max(100).optional().describe('An agent id.'),
    toRole: z.string().min(1).max(100).optional().describe('A role, instead of to.'),
    body: z.unknown().describe('The message: text or any JSON value.'),
  })
  .strict();
const readInput = z
  .object({ runId: z.string().min(1).max(100).optional().describe('Only this run’s messages.') })
  .strict();

const contextGet: BuiltinTool = {
  kind: 'governed',
  input: contextGetInput,
  definition: {
    name: 'aos_context_get',
    title: "Read a run's shared context",
    description:
      'Reads the shared context (blackboard) of a workflow run you work on: one entry by key, or every entry. Each entry has its value, version and who wrote it.',
    inputSchema: toolInputSchema(contextGetInput),
    annotations: { readOnlyHint: true, idempotentHint: true, openWorldHint: false },
  },
  async run(args, { engine, agent }) {
    const r = parseInput(contextGetInput, args, 'arguments');
    const ctx = engine.coordination.context;
    if (r.key) return json({ entry: await ctx.get(r.runId, r.key, self(agent)) });
    return json({ entries: await ctx.list(r.runId, self(agent)) });
  },
};

const contextSet: BuiltinTool = {
  kind: 'governed',
  input: contextSetInput,
  definition: {
    name: 'aos_context_set',
    title: "Write a run's shared context",
    description:
      'Writes one named entry of the shared context of a workflow run you work on (recorded with your name, versioned and audited). Pass expectVersion (the version you read; 0 for a new key) to fail instead of overwriting a newer write.',
    inputSchema: toolInputSchema(contextSetInput),
    annotations: { readOnlyHint: false, destructiveHint: false, idempotentHint: false, openWorldHint: false },
  },
  async run(args, { engine, agent }) {
    const r = parseInput(contextSetInput, args, 'arguments');
    return json({ entry: await engine.coordination.context.write(r, self(agent)) });
  },
};

const sendMessage: BuiltinTool = {
  kind: 'governed',
  input: sendInput,
  definition: {
    name: 'aos_send_message',
    title: 'Message another agent',
    description:
      'Sends a message to another agent (to: its id) or to every agent of a role (toRole) working on the same workflow run. Recorded and audited.',
    inputSchema: toolInputSchema(sendInput),
    annotations: { readOnlyHint: false, destructiveHint: false, idempotentHint: false, openWorldHint: false },
  },
  async run(args, { engine, agent }) {
    const r = parseInput(sendInput, args, 'arguments');
    return json({ message: await engine.coordination.messages.send(r, self(agent)) });
  },
};

// Governed, not self: a paused or stopped agent sees only its identity and approvals, and takes no new work.
const readMessages: BuiltinTool = {
  kind: 'governed',
  input: readInput,
  definition: {
    name: 'aos_read_messages',
    title: 'Read my messages',
    description:
      'Your unread messages (to you and to your role), oldest first, optionally of one run. They are marked read.',
    inputSchema: toolInputSchema(readInput),
    annotations: { readOnlyHint: false, destructiveHint: false, idempotentHint: false, openWorldHint: false },
  },
  async run(args, { engine, agent }) {
    const r = parseInput(readInput, args, 'arguments');
    const messages = await engine.coordination.messages.inbox(agent, {
      unread: true,
      markRead: true,
      ...(r.runId ? { runId: r.runId } : {}),
    });
    return json({ messages });
  },
};

/** The coordination built-ins: the run context and messages between agents. */
export const COORDINATION_TOOLS: readonly BuiltinTool[] = [contextGet, contextSet, sendMessage, readMessages];
