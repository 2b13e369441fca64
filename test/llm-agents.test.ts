import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { EngineToolGateway, createEngine, EnvSecretStore, parseWorkflow } from '@autonomy-os/core';
import type { AgentToolGateway, Engine } from '@autonomy-os/core';
import { startScriptedModelServer } from '@autonomy-os/sdk/testing';
import type { ScriptStep, ScriptedModelServer, ScriptedUsage } from '@autonomy-os/sdk/testing';
import { backends } from './helpers/backends.js';
import type { TestStore } from './helpers/backends.js';
import {
  PAYMENTS_KEY,
  seedSupportDesk,
  startPayments,
  supportDeskConfig,
  supportDeskEngine,
} from './helpers/support-desk.js';
import type { Payments } from './helpers/support-desk.js';
import { MODEL_KEY, createLlmAgent, llmAgentConfig, llmRuntime } from './helpers/llm-agents.js';

const getOrder = (orderId = 'o-1', usage?: ScriptedUsage): ScriptStep => ({
  toolCalls: [{ name: 'payments_get_order', arguments: { orderId, aos_reason: 'look the order up' } }],
  ...(usage ? { usage } : {}),
});

describe.each(backends)('built-in LLM agents on $name', (backend) => {
  let t: TestStore;
  let payments: Payments;
  let engine: Engine;
  let model: ScriptedModelServer | undefined;

  beforeEach(async (ctx) => {
    if (!backend.enabled) return ctx.skip();
    t = await backend.create();
    payments = await startPayments();
    await seedSupportDesk(t);
    engine = await supportDeskEngine(t, supportDeskConfig(payments.url));
    await createLlmAgent(engine);
  });
  afterEach(async () => {
    await model?.close();
    model = undefined;
    await engine?.close();
    await payments?.close();
    await t?.cleanup();
  });

  const serve = async (script: ScriptStep[]) => {
    model = await startScriptedModelServer({ apiKey: MODEL_KEY, script });
    return model;
  };
  const audited = async (type: string) =>
    (await engine.store.audit.list({ limit: 1000 })).filter((r) => r.type === type);
  const status = async () => (await engine.store.agents.get('support-llm'))?.status;

  it.each(['openai', 'anthropic'] as const)(
    'acts through the pipeline with a %s model and meters its tokens',
    async (provider) => {
      const m = await serve([
        getOrder('o-1', { input: 1000, output: 100 }),
        { text: 'Order o-1 is delivered.', usage: { input: 1000, output: 100 } },
      ]);
      const runtime = await llmRuntime(engine, llmAgentConfig(`${m.url}/v1`, { provider }));
      const result = await runtime.run('support-llm', { input: { ticket: 1, order: 'o-1' } });
      expect(result).toMatchObject({ status: 'completed', output: 'Order o-1 is delivered.', steps: 2 });
      expect(result.actions).toEqual([
        expect.objectContaining({
          tool: 'payments.get_order',
          status: 'succeeded',
          reason: 'look the order up',
        }),
      ]);
      expect(payments.calls('GET /orders/:id')).toBe(1);
      // The second turn carries the tool result back in the provider's own form.
      const second = m.requests[1]?.body.messages as { role: string; content: unknown }[];
      expect(JSON.stringify(second)).toContain(provider === 'openai' ? '"role":"tool"' : '"tool_result"');
      // 1000 in at 10,000 a million and 100 out at 50,000 a million: 15 units a turn.
      expect(result.usage).toEqual({ inputTokens: 2000, outputTokens: 200, cost: 30 });
      expect(await engine.budgets.spentWithTokens('agent:support-llm', 'total')).toMatchObject({
        tokensIn: 2000,
        tokensOut: 200,
        cost: 30,
      });
      expect(await audited('agent.task_finished')).toHaveLength(1);
      // The key went to the model API and nowhere else.
      expect(JSON.stringify(await engine.store.audit.list({ limit: 1000 }))).not.toContain(MODEL_KEY);
      expect(JSON.stringify(result)).not.toContain(MODEL_KEY);
    },
  );

  it.each<[string, ScriptStep, string]>([
    [
      'a tool it was not offered',
      { toolCalls: [{ name: 'payments_wire_money', arguments: { aos_reason: 'x' } }] },
      "no tool named 'payments_wire_money'",
    ],
    [
      'arguments that are not JSON',
      { toolCalls: [{ name: 'payments_get_order', arguments: 'orderId: o-1' }] },
      'not JSON',
    ],
    [
      'arguments that are not an object',
      { toolCalls: [{ name: 'payments_get_order', arguments: '[1,2]' }] },
      'must be a JSON object',
    ],
    [
      'arguments that fail the schema',
      { toolCalls: [{ name: 'payments_get_order', arguments: { orderId: 42, aos_reason: 'x' } }] },
      'fail its schema',
    ],
    [
      'a call without its reason',
      { toolCalls: [{ name: 'payments_get_order', arguments: { orderId: 'o-1' } }] },
      'aos_reason',
    ],
    ['a reply that is not JSON', { raw: '<html>bad gateway</html>' }, 'not JSON'],
    ['a reply of the wrong shape', { raw: '{"choices": []}' }, 'wrong shape'],
    ['a server error', { status: 500 }, 'answered 500'],
    ['a hang-up', { hangUp: true }, 'cannot reach'],
  ])('records a step that gets %s, retries it and goes on', async (_name, garbage, message) => {
    const m = await serve([garbage, getOrder(), { text: 'done' }]);
    const runtime = await llmRuntime(engine, llmAgentConfig(`${m.url}/v1`));
    const result = await runtime.run('support-llm', { input: 'look up o-1' });
    expect(result.status).toBe('completed');
    expect(result.failures).toHaveLength(1);
    expect(result.failures[0]).toMatchObject({ step: 1, attempt: 1 });
    expect(result.failures[0]?.message).toContain(message);
    expect(result.actions.map((a) => a.status)).toEqual(['succeeded']);
    const failed = await audited('agent.step_failed');
    expect(failed.map((r) => r.payload)).toEqual([
      expect.objectContaining({ step: 1, attempt: 1, message: result.failures[0]?.message }),
    ]);
    expect(await status()).toBe('active');
    // Garbage never reached the pipeline: the only action is the good call.
    expect((await engine.actions.list({ agentId: 'support-llm' })).length).toBe(1);
  });

  it('times a slow model out and retries', async () => {
    const m = await serve([{ delayMs: 3000, then: { text: 'too late' } }, { text: 'on time' }]);
    const runtime = await llmRuntime(
      engine,
      llmAgentConfig(`${m.url}/v1`, {
        model: { ...llmAgentConfig(m.url).model, baseUrl: `${m.url}/v1`, timeoutMs: 200 },
      }),
    );
    const result = await runtime.run('support-llm', { input: 'hello' });
    expect(result).toMatchObject({ status: 'completed', output: 'on time' });
    expect(result.failures.map((f) => f.code)).toEqual(['model_timeout']);
  });

  it('pauses an agent whose model keeps failing and tells its owner', async () => {
    const m = await serve([
      { status: 503 },
      { status: 503 },
      { status: 503 },
      { status: 503 },
      { text: 'never' },
    ]);
    const runtime = await llmRuntime(engine, llmAgentConfig(`${m.url}/v1`));
    const result = await runtime.run('support-llm', { input: 'hello' });
    expect(result.status).toBe('failed');
    expect(result.reason).toContain('step 1 failed 4 time(s)');
    expect(result.failures).toHaveLength(4);
    expect(m.used()).toBe(4);
    expect(await status()).toBe('paused');
    const [escalation] = await audited('agent.escalated');
    expect(escalation?.payload as Record<string, unknown>).toMatchObject({ owner: 'fiona', paused: true });
    expect(String((escalation?.payload as { reason?: string }).reason)).toContain('503');
  });

  it('fails a down model without crashing, then pauses the agent', async () => {
    const m = await serve([]);
    const url = `${m.url}/v1`;
    await m.close();
    model = undefined;
    const runtime = await llmRuntime(
      engine,
      llmAgentConfig(url, { retries: { attempts: 1, backoffMs: 1, maxBackoffMs: 1 } }),
    );
    const result = await runtime.run('support-llm', { input: 'hello' });
    expect(result.status).toBe('failed');
    expect(result.failures.map((f) => f.code)).toEqual(['model_unreachable', 'model_unreachable']);
    expect(await status()).toBe('paused');
  });

  it('does not retry a request the model API refuses as bad, and pauses the agent', async () => {
    const m = await serve([{ status: 400 }]);
    const runtime = await llmRuntime(engine, llmAgentConfig(`${m.url}/v1`));
    const result = await runtime.run('support-llm', { input: 'hello' });
    expect(result.status).toBe('failed');
    expect(result.failures).toHaveLength(1);
    expect(await status()).toBe('paused');
  });

  it.each(['openai', 'anthropic'] as const)(
    'reports a rejected %s key at start-up, naming the agent and not the key',
    async (provider) => {
      const m = await serve([]);
      const wrong = 'sk-wrong-key-that-must-not-leak-42';
      const runtime = await llmRuntime(engine, llmAgentConfig(`${m.url}/v1`, { provider }), { key: wrong });
      const [check] = await runtime.check();
      expect(check).toMatchObject({ agent: 'support-llm', ok: false, code: 'model_rejected_key' });
      expect(check?.problem).toContain("LLM agent 'support-llm'");
      expect(check?.problem).not.toContain(wrong);
      const records = await engine.store.audit.list({ limit: 1000 });
      expect(records.some((r) => r.type === 'agent.model_check_failed')).toBe(true);
      expect(JSON.stringify(records)).not.toContain(wrong);
    },
  );

  it('talks to an Azure-style deployment URL with an api-key header, whose start-up check has no model list', async () => {
    const m = await serve([{ text: 'hello from a deployment' }]);
    const base = llmAgentConfig(`${m.url}/v1/deployments/d1`);
    const config = { ...base, model: { ...base.model, apiVersion: '2024-10-21' } };
    const runtime = await llmRuntime(engine, config);
    expect(await runtime.check()).toEqual([{ agent: 'support-llm', ok: true }]);
    expect(await runtime.run('support-llm', { input: 'hi' })).toMatchObject({
      status: 'completed',
      output: 'hello from a deployment',
    });
    const wrong = await llmRuntime(engine, config, { key: 'sk-not-this-one' });
    expect((await wrong.check())[0]).toMatchObject({ ok: false, code: 'model_rejected_key' });
  });

  it('reports a missing key at start-up, naming the agent', async () => {
    const m = await serve([]);
    const runtime = await llmRuntime(engine, llmAgentConfig(`${m.url}/v1`), { key: undefined });
    const [check] = await runtime.check();
    expect(check).toMatchObject({ agent: 'support-llm', ok: false, code: 'model_key_missing' });
    expect(check?.problem).toContain("LLM agent 'support-llm'");
    expect(check?.problem).toContain('model-key');
    await expect(runtime.run('support-llm', { input: 'x' })).rejects.toThrow(/model-key/);
  });

  it('reports an agent that is not registered', async () => {
    const m = await serve([]);
    const runtime = await llmRuntime(engine, { ...llmAgentConfig(`${m.url}/v1`), agent: 'ghost' });
    expect((await runtime.check())[0]).toMatchObject({ agent: 'ghost', ok: false, code: 'agent_unknown' });
  });

  it.each<[string, (e: Engine) => Promise<unknown>, RegExp]>([
    [
      'the kill switch',
      (e) => e.killSwitches.set({ scope: 'role:support', active: true, reason: 'incident 42' }, 'ada'),
      /kill switch role:support is engaged: incident 42/,
    ],
    [
      'a pause',
      (e) => e.store.agents.setStatus('support-llm', 'pause', 'operator:test'),
      /support-llm is paused/,
    ],
  ])('stops its loop under %s', async (_name, stop, why) => {
    const m = await serve([getOrder(), getOrder(), getOrder(), { text: 'done' }]);
    let calls = 0;
    const runtime = await llmRuntime(engine, llmAgentConfig(`${m.url}/v1`), {
      gateway: async (sessionId): Promise<AgentToolGateway> => {
        const agent = await engine.store.agents.require('support-llm');
        const inner = new EngineToolGateway({ deps: engine, actions: engine.actions, agent, sessionId });
        return {
          listTools: () => inner.listTools(),
          blocked: () => inner.blocked(),
          close: () => inner.close(),
          call: async (c) => {
            const r = await inner.call(c);
            if (++calls === 1) await stop(engine);
            return r;
          },
        };
      },
    });
    const result = await runtime.run('support-llm', { input: 'look up o-1 three times' });
    expect(result.status).toBe('stopped');
    expect(result.reason).toMatch(why);
    expect(m.used()).toBe(1);
    expect(payments.calls('GET /orders/:id')).toBe(1);
  });

  it('stops at the step cap and at the wall-clock cap', async () => {
    const m = await serve([getOrder(), getOrder(), getOrder(), { delayMs: 5000, then: { text: 'late' } }]);
    const capped = await llmRuntime(engine, llmAgentConfig(`${m.url}/v1`, { maxSteps: 2 }));
    const steps = await capped.run('support-llm', { input: 'x' });
    expect(steps).toMatchObject({ status: 'stopped', steps: 2 });
    expect(steps.reason).toContain('step cap of 2');
    const timed = await llmRuntime(engine, llmAgentConfig(`${m.url}/v1`, { maxRunSec: 1 }));
    const clock = await timed.run('support-llm', { input: 'x' });
    expect(clock.status).toBe('stopped');
    expect(clock.reason).toContain('wall-clock cap of 1s');
    expect(await status()).toBe('active');
  });

  it('stops before a model call once its budget is used up', async () => {
    const m = await serve([getOrder('o-1', { input: 1_000_000, output: 0 }), { text: 'never asked' }]);
    await engine.close();
    engine = await supportDeskEngine(
      t,
      supportDeskConfig(payments.url, (raw) => {
        raw.budgets = [{ scope: 'agent:support-llm', period: 'day', cost: 5000 }];
      }),
    );
    const runtime = await llmRuntime(engine, llmAgentConfig(`${m.url}/v1`));
    const result = await runtime.run('support-llm', { input: 'x' });
    expect(result.status).toBe('stopped');
    expect(result.reason).toContain('budget agent:support-llm (day) is used up');
    expect(m.used()).toBe(1);
  });

  it('fails a task whose tools cannot be reached, without throwing', async () => {
    const m = await serve([{ text: 'never asked' }]);
    const runtime = await llmRuntime(engine, llmAgentConfig(`${m.url}/v1`), {
      gateway: () => Promise.reject(new Error('connection refused')),
    });
    const result = await runtime.run('support-llm', { input: 'x' });
    expect(result).toMatchObject({ status: 'failed' });
    expect(result.reason).toContain('connection refused');
    expect(m.used()).toBe(0);
  });

  it('takes a worker task of its role from the queue and completes it with its answer', async () => {
    const m = await serve([getOrder('o-1'), { text: 'Order o-1: 420, delivered.' }]);
    await engine.close();
    const workflow = parseWorkflow({
      name: 'ticket-triage',
      version: 1,
      owner: 'olivia',
      steps: { answer: { kind: 'task', role: 'support' } },
    });
    engine = await createEngine({
      store: t.store,
      config: supportDeskConfig(payments.url, (raw) => {
        raw.llmAgents = [
          { ...llmAgentConfig(`${m.url}/v1`), model: { ...llmAgentConfig(`${m.url}/v1`).model } },
        ];
      }),
      secrets: new EnvSecretStore({
        env: { AOS_SECRET_PAYMENTS_API_KEY: PAYMENTS_KEY, AOS_SECRET_MODEL_KEY: MODEL_KEY },
      }),
      workflows: [workflow],
    });
    await engine.start({ background: false });
    // The other support agents are paused, so the queue hands the task to the LLM agent.
    for (const id of ['refund-bot', 'reader', 'intern'])
      await engine.store.agents.setStatus(id, 'pause', 'operator:test');
    expect(engine.llmAgents.ids()).toEqual(['support-llm']);
    expect(await engine.llmAgents.check()).toEqual([{ agent: 'support-llm', ok: true }]);
    const run = await engine.workflows.start(
      'ticket-triage',
      { ticket: 7, order: 'o-1' },
      {
        id: 'olivia',
        displayName: 'olivia',
        groups: [],
        createdAt: '2026-01-01T00:00:00.000Z',
      },
    );
    await engine.workflows.drain();
    const taken = await engine.llmAgents.workOnce('support-llm');
    expect(taken?.result.status).toBe('completed');
    expect(await engine.llmAgents.workOnce('support-llm')).toBeUndefined();
    // The model saw the task's input.
    const [, user] = m.requests[0]?.body.messages as { content: string }[];
    expect(JSON.parse(user?.content ?? '')).toEqual({ ticket: 7, order: 'o-1' });
    await engine.workflows.drain();
    const done = await engine.workflows.get(run.id);
    expect(done.status).toBe('completed');
    expect(done.steps.answer?.output).toMatchObject({ text: 'Order o-1: 420, delivered.' });
  });
});
