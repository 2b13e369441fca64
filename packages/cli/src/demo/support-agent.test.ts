import { describe, expect, it } from 'vitest';
import { demoModelFromEnv, pickSupportAgent } from './support-agent.js';

describe('demoModelFromEnv', () => {
  it.each([
    [{}, undefined],
    [{ OPENAI_API_KEY: 'sk-x' }, { provider: 'openai', model: 'gpt-4.1-mini' }],
    [
      { ANTHROPIC_API_KEY: 'ak-x', OPENAI_API_KEY: 'sk-x' },
      { provider: 'anthropic', model: 'claude-sonnet-4-5' },
    ],
    [
      { AOS_DEMO_MODEL_URL: 'http://127.0.0.1:11434/v1', AOS_DEMO_MODEL: 'qwen3', ANTHROPIC_API_KEY: 'ak-x' },
      { provider: 'openai', model: 'qwen3', baseUrl: 'http://127.0.0.1:11434/v1' },
    ],
  ])('picks the model from %j', (env, expected) => {
    const got = demoModelFromEnv(env);
    if (!expected) return expect(got).toBeUndefined();
    expect(got?.model).toMatchObject(expected);
  });

  it('keeps the key out of the model config: only a secret reference is in it', () => {
    const got = demoModelFromEnv({ OPENAI_API_KEY: 'sk-very-secret-key' });
    expect(got?.apiKey).toBe('sk-very-secret-key');
    expect(JSON.stringify(got?.model)).not.toContain('sk-very-secret-key');
    expect(got?.model.apiKey).toBe('${secret:demo-model-key}');
    expect(got?.label).not.toContain('sk-');
  });

  it('needs no key for a local model server', () => {
    expect(
      demoModelFromEnv({ AOS_DEMO_MODEL_URL: 'http://127.0.0.1:11434/v1' })?.model.apiKey,
    ).toBeUndefined();
  });
});

describe('pickSupportAgent', () => {
  it('keeps the rule agent when no engine is given (the checked scenario), whatever the environment', async () => {
    const agent = await pickSupportAgent({
      url: 'http://127.0.0.1:1',
      agentId: 'support-bot',
      token: 'aos_x',
      kbDir: '/tmp',
      env: { OPENAI_API_KEY: 'sk-x' },
    });
    expect(agent.kind).toBe('rule agent');
  });
});
