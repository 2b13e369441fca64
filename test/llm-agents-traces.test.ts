import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Engine } from '@autonomy-os/core';
import { startScriptedModelServer } from '@autonomy-os/sdk/testing';
import type { ScriptedModelServer } from '@autonomy-os/sdk/testing';
import { backends } from './helpers/backends.js';
import type { TestStore } from './helpers/backends.js';
import { MODEL_KEY, createLlmAgent, llmAgentConfig, llmRuntime } from './helpers/llm-agents.js';
import { startOtlpReceiver } from './helpers/otlp-receiver.js';
import type { OtlpReceiver } from './helpers/otlp-receiver.js';
import {
  seedSupportDesk,
  startPayments,
  supportDeskConfig,
  supportDeskEngine,
} from './helpers/support-desk.js';
import type { Payments } from './helpers/support-desk.js';

const sqlite = backends.find((b) => b.name === 'sqlite');
if (!sqlite) throw new Error('no sqlite backend');

describe('invoke_agent spans of built-in LLM agents', () => {
  let t: TestStore;
  let payments: Payments;
  let engine: Engine;
  let receiver: OtlpReceiver;
  let model: ScriptedModelServer;

  beforeAll(async () => {
    receiver = await startOtlpReceiver();
    t = await sqlite.create();
    payments = await startPayments();
    await seedSupportDesk(t);
    engine = await supportDeskEngine(
      t,
      supportDeskConfig(payments.url, (raw) => {
        raw.telemetry = { traces: { endpoint: receiver.url } };
      }),
    );
    await createLlmAgent(engine);
    model = await startScriptedModelServer({
      apiKey: MODEL_KEY,
      script: [
        {
          toolCalls: [
            { name: 'payments_get_order', arguments: { orderId: 'o-1', aos_reason: 'look it up' } },
          ],
          usage: { input: 1000, output: 100 },
        },
        { text: 'Order o-1 is delivered.', usage: { input: 1200, output: 30 } },
      ],
    });
  }, 60_000);
  afterAll(async () => {
    await model?.close();
    await engine?.close();
    await payments?.close();
    await t?.cleanup();
    await receiver?.close();
  });

  it('records one invoke_agent span per run, with model and token usage, parent of its governed calls', async () => {
    const runtime = await llmRuntime(engine, llmAgentConfig(`${model.url}/v1`));
    const result = await runtime.run('support-llm', { input: 'Is order o-1 delivered?' });
    expect(result.status).toBe('completed');
    await engine.tracing.flush();
    const runs = receiver.spans.filter((s) => s.attributes['aos.agent.run.id'] === result.runId);
    expect(runs).toHaveLength(1);
    const run = runs[0];
    expect(run?.name).toBe('invoke_agent support-llm');
    expect(run?.parentSpanId).toBeUndefined();
    expect(run?.attributes).toMatchObject({
      'gen_ai.operation.name': 'invoke_agent',
      'gen_ai.provider.name': 'openai',
      'gen_ai.agent.id': 'support-llm',
      'gen_ai.agent.name': 'support-llm',
      'gen_ai.request.model': 'gpt-test',
      'gen_ai.usage.input_tokens': 2200,
      'gen_ai.usage.output_tokens': 130,
    });
    const [call] = result.actions;
    const action = await engine.actions.get(call?.actionId as string);
    expect(action?.traceId).toBe(run?.traceId);
    expect(action?.parentSpanId).toBe(run?.spanId);
    const tool = receiver.spans.find((s) => s.spanId === action?.spanId);
    expect(tool?.name).toBe('execute_tool payments.get_order');
    expect(tool?.parentSpanId).toBe(run?.spanId);
  });
});
