import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import type { Transport } from '@modelcontextprotocol/sdk/shared/transport.js';
import { AosClient } from '@autonomy-os/sdk';
import { startScriptedModelServer } from '@autonomy-os/sdk/testing';
import type { ScriptStep, ScriptedModelServer } from '@autonomy-os/sdk/testing';
import { startLiveDemo } from './helpers/demo.js';
import type { DemoStartLine, LiveDemo } from './helpers/demo.js';

// The runnable guides of docs/integrations/ (examples/integrations/), each run as a user would, as its own process,
// against one `aos demo --json` (no generated work: --limit 0) and one scripted model server. Every guide shows an
// allowed call, a denied call naming the policy, and a call held for approval that completes after a REST approval.

const root = fileURLToPath(new URL('..', import.meta.url));
const guides = path.join(root, 'examples/integrations');

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

let demo: LiveDemo;
let info: DemoStartLine;
let model: ScriptedModelServer;
let dataDir: string;

/** Runs a guide to its end with the demo's settings in its environment. */
function runGuide(command: string, args: string[], env: Record<string, string> = {}): Promise<Run> {
  return new Promise((resolve) => {
    const child = spawn(command, args, {
      cwd: root,
      env: {
        ...process.env,
        AOS_URL: info.url,
        AOS_AGENT_TOKEN: info.agents['support-bot'] as string,
        AOS_APPROVER_TOKEN: info.approverToken,
        OPENAI_BASE_URL: `${model.url}/v1`,
        OPENAI_API_KEY: 'sk-scripted',
        MODEL: 'scripted',
        ...env,
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), 90_000);
    child.on('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

/** The last stdout line of a guide, parsed. */
function lastJson(run: Run): Record<string, unknown> {
  const line = run.stdout.trim().split('\n').at(-1) ?? '';
  try {
    return JSON.parse(line) as Record<string, unknown>;
  } catch {
    throw new Error(`no JSON line (exit ${run.code}):\n${run.stdout}\n${run.stderr}`);
  }
}

/** The text of every tool result the model was sent, in order. */
function toolResultsSeen(body: Record<string, unknown>): string[] {
  const messages = (body.messages ?? []) as { role: string; content: unknown }[];
  return messages
    .filter((m) => m.role === 'tool')
    .map((m) => (typeof m.content === 'string' ? m.content : JSON.stringify(m.content)));
}

/**
 * What the model does in every guide: look the order up (allowed), refund 900 (over the 500 support may refund at
 * all: denied), refund 150 (over 100: held for a support approver), then report the tool results it was given.
 */
function supportScript(orderId: string, sep: string, prefix = ''): ScriptStep[] {
  return [
    { toolCalls: [{ name: `${prefix}erp${sep}get_order`, arguments: { orderId } }] },
    {
      toolCalls: [
        { name: `${prefix}erp${sep}refund`, arguments: { orderId, amount: 900, note: 'damaged parcel' } },
      ],
    },
    {
      toolCalls: [
        { name: `${prefix}erp${sep}refund`, arguments: { orderId, amount: 150, note: 'damaged parcel' } },
      ],
    },
    (req) => ({ text: `Tool results: ${toolResultsSeen(req.body).join(' | ')}` }),
  ];
}

/** Checks what the model saw: the order, the denial naming its policy, and the refund made after the approval. */
function expectGovernedAnswers(finalOutput: unknown, orderId: string) {
  // Frameworks hand tool results to the model as they like (text, or the content blocks as JSON): unescape first.
  const text = String(finalOutput).replaceAll('\\', '');
  expect(text).toContain(`"orderId":"${orderId}"`);
  expect(text).toMatch(/Denied by builtin:default-deny: no policy permits erp\.refund/);
  expect(text).toMatch(/"status":"refunded"/);
}

beforeAll(async () => {
  dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'aos-guides-'));
  demo = await startLiveDemo(['demo', '--json', '--port', '0', '--limit', '0'], {
    env: { AOS_DATA: path.join(dataDir, 'aos') },
  });
  info = demo.line;
  model = await startScriptedModelServer({ script: [], apiKey: 'sk-scripted' });
});

afterAll(async () => {
  await model?.close();
  await demo?.stop();
  fs.rmSync(dataDir, { recursive: true, force: true });
});

describe('integration guides against aos demo', () => {
  // The Agents SDK offers `erp.refund` to the model as `erp_refund` by itself; Mastra's MCPClient prefixes its server
  // name (`aos_erp.refund`) and its Agent offers that as `aos_erp_refund`; the other two guides map to `erp__refund`.
  it.each([
    ['openai-agents', 'o-11', '_', ''],
    ['langchain', 'o-12', '__', ''],
    ['vercel-ai', 'o-13', '__', ''],
    ['mastra', 'o-18', '_', 'aos_'],
  ])(
    '%s: the order is read, the 900 refund denied by its policy, the 150 refund made after approval',
    async (guide, orderId, sep, prefix) => {
      const first = model.requests.length;
      model.push(...supportScript(orderId, sep, prefix));
      const run = await runGuide(process.execPath, [path.join(guides, guide, 'agent.mjs')], {
        ORDER_ID: orderId,
      });
      const out = lastJson(run);
      expect(run.code, run.stderr).toBe(0);
      expect(out.approvalId).toMatch(/^apr_/);
      expectGovernedAnswers(out.finalOutput, orderId);
      // The model was offered the two tools the guide needs, under names model APIs accept.
      expect(model.requests.slice(first).map((r) => r.tools.sort())).toContainEqual([
        `${prefix}erp${sep}get_order`,
        `${prefix}erp${sep}refund`,
      ]);
    },
  );

  it('curl: REST allows the read, denies the 900 refund naming the policy, runs the 150 refund once approved', async () => {
    const run = await runGuide('bash', [path.join(guides, 'curl/governed-calls.sh')], { ORDER_ID: 'o-14' });
    expect(run.code, run.stderr).toBe(0);
    const line = (label: string) => {
      const found = run.stdout.split('\n').find((l) => l.startsWith(`${label}: `));
      if (!found) throw new Error(`no ${label} line:\n${run.stdout}\n${run.stderr}`);
      return JSON.parse(found.slice(label.length + 2)) as Record<string, never>;
    };
    expect(line('allowed')).toMatchObject({ outcome: 'allowed', status: 'succeeded' });
    expect(line('denied')).toMatchObject({
      outcome: 'denied',
      decision: { policies: ['builtin:default-deny'] },
    });
    expect(line('held')).toMatchObject({
      outcome: 'pending_approval',
      decision: { policies: ['support-refunds', 'large-refund'] },
    });
    expect(line('approved')).toMatchObject({ approval: { status: 'approved' } });
    expect(line('action')).toMatchObject({
      status: 'succeeded',
      result: { structuredContent: { status: 'refunded' } },
    });
    expect(line('mcp')).toMatchObject({ result: { isError: false, structuredContent: { orderId: 'o-14' } } });
  });

  it('aos-client: the SDK client sees the same three outcomes and the refund made after approval', async () => {
    const run = await runGuide(process.execPath, [path.join(guides, 'aos-client/client.mjs')], {
      ORDER_ID: 'o-15',
    });
    expect(run.code, run.stderr).toBe(0);
    expect(run.stdout).toMatch(/^allowed by support-read: .*"orderId":"o-15"/m);
    expect(run.stdout).toMatch(/^denied by builtin:default-deny: no policy permits erp\.refund$/m);
    expect(run.stdout).toMatch(/^pending_approval: approval apr_\w+ \(support-refunds, large-refund\)$/m);
    expect(lastJson(run)).toMatchObject({ status: 'succeeded', result: { status: 'refunded', amount: 150 } });
  });

  /** An .mcp.json entry as Claude Code reads it, with `${VAR}` taken from the environment. */
  type McpJsonEntry =
    | { type: 'http'; url: string; headers?: Record<string, string> }
    | { type: 'stdio'; command: string; args?: string[]; env?: Record<string, string> };

  const mcpJson = JSON.parse(fs.readFileSync(path.join(guides, 'claude/.mcp.json'), 'utf8')) as {
    mcpServers: Record<string, McpJsonEntry>;
  };

  it.each(Object.keys(mcpJson.mcpServers))(
    'claude .mcp.json %s: the documented entry, run by the official SDK client, is governed',
    async (name) => {
      const vars: Record<string, string> = {
        AOS_URL: info.url,
        AOS_AGENT_TOKEN: info.agents['support-bot'] as string,
      };
      const expand = (v: string) => v.replace(/\$\{(\w+)\}/g, (_, k: string) => vars[k] ?? '');
      const expandAll = (o: Record<string, string> = {}) =>
        Object.fromEntries(Object.entries(o).map(([k, v]) => [k, expand(v)]));
      const entry = mcpJson.mcpServers[name] as McpJsonEntry;
      const transport: Transport =
        entry.type === 'http'
          ? new StreamableHTTPClientTransport(new URL(expand(entry.url)), {
              requestInit: { headers: expandAll(entry.headers) },
            })
          : new StdioClientTransport({
              command: entry.command,
              args: (entry.args ?? []).map(expand),
              env: expandAll(entry.env),
              cwd: root,
              stderr: 'pipe',
            });
      const client = new Client({ name: 'claude-config-check', version: '1.0.0' });
      await client.connect(transport);
      try {
        const orderId = name === 'autonomy-os' ? 'o-16' : 'o-17';
        const names = (await client.listTools()).tools.map((t) => t.name);
        expect(names).toEqual(expect.arrayContaining(['erp.get_order', 'erp.refund']));
        const read = await client.callTool({ name: 'erp.get_order', arguments: { orderId } });
        expect(read).toMatchObject({ isError: false, structuredContent: { orderId } });
        const denied = await client.callTool({ name: 'erp.refund', arguments: { orderId, amount: 900 } });
        expect(denied).toMatchObject({
          isError: true,
          structuredContent: { status: 'denied', policies: ['builtin:default-deny'] },
        });
        const approver = new AosClient({ url: info.url, token: info.approverToken });
        const approve = (async () => {
          for (;;) {
            const { approvals } = await approver.listApprovals('pending');
            const held = approvals.find((a) => a.evidence.input.orderId === orderId);
            if (held) return approver.approve(held.id, { bindingHash: held.bindingHash });
            await new Promise((r) => setTimeout(r, 200));
          }
        })();
        const refund = await client.callTool({ name: 'erp.refund', arguments: { orderId, amount: 150 } });
        await approve;
        expect(refund).toMatchObject({ isError: false, structuredContent: { orderId, status: 'refunded' } });
      } finally {
        await client.close();
      }
    },
  );
});
