import { AgentRuntime, EnvSecretStore, llmAgentSchema } from '@autonomy-os/core';
import type { AgentToolGateway, Engine, LlmAgentConfig } from '@autonomy-os/core';
import type { z } from 'zod';

/** The key the scripted model server expects in these tests (never a real one). */
export const MODEL_KEY = 'sk-scripted-test-key-0123456789abcdef';

/** An LLM agent config for the support desk, as `aos.yaml` would give it, with changes. */
export function llmAgentConfig(
  baseUrl: string,
  patch: Partial<z.input<typeof llmAgentSchema>> & { provider?: 'openai' | 'anthropic' } = {},
): LlmAgentConfig {
  const { provider = 'openai', ...rest } = patch;
  return llmAgentSchema.parse({
    agent: 'support-llm',
    role: 'support',
    systemPrompt: 'You are a support agent. Look orders up, refund when it is right, and say why.',
    model: {
      provider,
      model: provider === 'openai' ? 'gpt-test' : 'claude-test',
      baseUrl,
      apiKey: '${secret:model-key}',
      price: { inputPerMillion: 10_000, outputPerMillion: 50_000 },
    },
    retries: { attempts: 3, backoffMs: 1, maxBackoffMs: 5 },
    ...rest,
  });
}

/** Registers the LLM agent of the support desk (support role, tier 2, owned by fiona). */
export async function createLlmAgent(engine: Engine): Promise<void> {
  await engine.store.agents.create(
    { id: 'support-llm', role: 'support', tier: 2, owner: 'fiona', environments: ['dev'] },
    'operator:test',
  );
}

/** A runtime for one agent config, its key in an environment secret store. */
export function llmRuntime(
  engine: Engine,
  config: LlmAgentConfig,
  options: { key?: string | undefined; gateway?: (sessionId: string) => Promise<AgentToolGateway> } = {},
): Promise<AgentRuntime> {
  const key = 'key' in options ? options.key : MODEL_KEY;
  return AgentRuntime.create({
    engine,
    secrets: new EnvSecretStore({ env: key === undefined ? {} : { AOS_SECRET_MODEL_KEY: key } }),
    agents: [config],
    ...(options.gateway ? { gateway: (_agent, sessionId) => options.gateway!(sessionId) } : {}),
  });
}
