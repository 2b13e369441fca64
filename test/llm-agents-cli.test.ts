import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { startScriptedModelServer } from '@autonomy-os/sdk/testing';
import type { ScriptedModelServer } from '@autonomy-os/sdk/testing';
import { aos } from './helpers/cli.js';
import { MODEL_KEY } from './helpers/llm-agents.js';
import { startServe } from './helpers/serve.js';
import type { ServeProcess } from './helpers/serve.js';

describe('aos serve with LLM agents', () => {
  let model: ScriptedModelServer | undefined;
  let serve: ServeProcess | undefined;
  let dir: string | undefined;
  afterEach(async () => {
    await serve?.stop();
    await model?.close();
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  it('reports at start-up an agent whose key the model API rejects, naming it and not the key, and starts the others', async () => {
    model = await startScriptedModelServer({ apiKey: MODEL_KEY, script: [] });
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'aos-llm-cli-'));
    const wrong = 'sk-wrong-key-printed-nowhere-77';
    const env = { AOS_DATA: dir, AOS_SECRET_MODEL_KEY: MODEL_KEY, AOS_SECRET_OTHER_KEY: wrong };
    for (const args of [
      ['init'],
      ['humans', 'add', 'fiona'],
      ['agents', 'create', 'support-llm', '--role', 'support', '--owner', 'fiona', '--tier', '2'],
      ['agents', 'create', 'other-llm', '--role', 'support', '--owner', 'fiona', '--tier', '1'],
    ])
      expect(aos(args, env).code, args.join(' ')).toBe(0);
    const config = path.join(dir, 'aos.yaml');
    const agent = (id: string, secret: string) =>
      `  - agent: ${id}\n    systemPrompt: Help customers.\n    model: { provider: openai, model: m, baseUrl: '${model!.url}/v1', apiKey: '\${secret:${secret}}' }\n`;
    fs.writeFileSync(
      config,
      `llmAgents:\n${agent('support-llm', 'model-key')}${agent('other-llm', 'other-key')}`,
    );
    serve = await startServe(['serve', '--config', config, '--port', '0', '--quiet'], env);
    for (let i = 0; i < 100 && !/LLM agents:/.test(serve.output()); i++)
      await new Promise((r) => setTimeout(r, 100));
    const out = serve.output();
    expect(out).toContain("LLM agent 'other-llm': the model API rejected its API key");
    expect(out).toContain('LLM agents: support-llm\n');
    expect(out).not.toContain(wrong);
    expect(out).not.toContain(MODEL_KEY);
  });
});
