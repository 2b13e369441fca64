import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startScriptedModelServer } from '@autonomy-os/sdk/testing';
import type { ScriptStep, ScriptedModelServer } from '@autonomy-os/sdk/testing';
import { AOS_BIN } from './helpers/cli.js';

// The runnable guides of docs/integrations/ (examples/integrations/), each run as a user would, as its own process,
// against one `aos demo --json` (no generated work: --limit 0) and one scripted model server. Every guide shows an
// allowed call, a denied call naming the policy, and a call held for approval that completes after a REST approval.

const root = fileURLToPath(new URL('..', import.meta.url));
const guides = path.join(root, 'examples/integrations');

interface DemoInfo {
  url: string;
  mcpUrl: string;
  adminToken: string;
  approverToken: string;
  agents: Record<string, string>;
}

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

let demo: ChildProcess;
let info: DemoInfo;
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
function supportScript(orderId: string): ScriptStep[] {
  return [
    { toolCalls: [{ name: 'erp__get_order', arguments: { orderId } }] },
    { toolCalls: [{ name: 'erp__refund', arguments: { orderId, amount: 900, note: 'damaged parcel' } }] },
    { toolCalls: [{ name: 'erp__refund', arguments: { orderId, amount: 150, note: 'damaged parcel' } }] },
    (req) => ({ text: `Tool results: ${toolResultsSeen(req.body).join(' | ')}` }),
  ];
}

/** Checks what the model saw: the order, the denial naming its policy, and the refund made after the approval. */
function expectGovernedAnswers(finalOutput: unknown, orderId: string) {
  const text = String(finalOutput);
  expect(text).toContain(`"orderId":"${orderId}"`);
  expect(text).toMatch(/Denied by builtin:default-deny: no policy permits erp\.refund/);
  expect(text).toMatch(/"status":"refunded"/);
}

beforeAll(async () => {
  dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'aos-guides-'));
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    AOS_DATABASE_URL: '',
    AOS_DATA: path.join(dataDir, 'aos'),
  };
  for (const k of ['OPENAI_API_KEY', 'ANTHROPIC_API_KEY', 'AOS_DEMO_MODEL_URL']) delete env[k];
  demo = spawn(process.execPath, [AOS_BIN, 'demo', '--json', '--port', '0', '--limit', '0'], {
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stderr = '';
  demo.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
  info = await new Promise<DemoInfo>((resolve, reject) => {
    let out = '';
    demo.stdout?.on('data', (d: Buffer) => {
      out += d.toString();
      const nl = out.indexOf('\n');
      if (nl >= 0) resolve(JSON.parse(out.slice(0, nl)) as DemoInfo);
    });
    demo.on('exit', (code) => reject(new Error(`aos demo exited ${code}: ${stderr}`)));
  });
  model = await startScriptedModelServer({ script: [], apiKey: 'sk-scripted' });
});

afterAll(async () => {
  await model?.close();
  if (demo && demo.exitCode === null) {
    const exited = new Promise((r) => demo.once('exit', r));
    demo.kill('SIGTERM');
    await exited;
  }
  fs.rmSync(dataDir, { recursive: true, force: true });
});

describe('integration guides against aos demo', () => {
  it.each([
    ['openai-agents', 'o-11'],
    ['langchain', 'o-12'],
  ])(
    '%s: the order is read, the 900 refund denied by its policy, the 150 refund made after approval',
    async (guide, orderId) => {
      const first = model.requests.length;
      model.push(...supportScript(orderId));
      const run = await runGuide(process.execPath, [path.join(guides, guide, 'agent.mjs')], {
        ORDER_ID: orderId,
      });
      const out = lastJson(run);
      expect(run.code, run.stderr).toBe(0);
      expect(out.approvalId).toMatch(/^apr_/);
      expectGovernedAnswers(out.finalOutput, orderId);
      // The model was offered the two tools the guide needs, under names model APIs accept.
      expect(model.requests.slice(first).map((r) => r.tools.sort())).toContainEqual([
        'erp__get_order',
        'erp__refund',
      ]);
    },
  );
});
