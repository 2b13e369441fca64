import { z } from 'zod';
import { idSchema } from '../identity/ids.js';

/** `${secret:NAME}`, and nothing else: a model API key never sits in a config file. */
const secretRefSchema = z
  .string()
  .regex(/^\$\{secret:[A-Za-z_][A-Za-z0-9_.-]{0,127}\}$/, 'must be a secret reference like ${secret:NAME}');

/** The model an LLM agent thinks with: an OpenAI-compatible chat-completions API or Anthropic's Messages API. */
export const modelConfigSchema = z
  .object({
    /**
     * `openai`: any OpenAI-compatible `/chat/completions` API (OpenAI, Azure OpenAI, Ollama, vLLM, LM Studio);
     * `anthropic`: Anthropic's `/v1/messages`.
     */
    provider: z.enum(['openai', 'anthropic']),
    /** The model name the API expects, e.g. `gpt-4.1-mini`, `claude-sonnet-4-5`, `llama3.1`. */
    model: z.string().min(1).max(200),
    /**
     * The API's base URL. Default `https://api.openai.com/v1` (openai) or `https://api.anthropic.com/v1`
     * (anthropic); `http://127.0.0.1:11434/v1` for a local Ollama, an Azure deployment URL for Azure OpenAI.
     */
    baseUrl: z.string().url().optional(),
    /** The API key, as a secret reference (`${secret:NAME}`); leave out for a local server that needs none. */
    apiKey: secretRefSchema.optional(),
    /** Azure OpenAI: the `api-version` query parameter; the key is then sent as `api-key`, not a bearer token. */
    apiVersion: z.string().min(1).max(40).optional(),
    /** How long one model call may take. */
    timeoutMs: z.number().int().min(100).max(600_000).default(60_000),
    /** Largest answer per model call, in tokens. */
    maxTokens: z.number().int().min(1).max(200_000).default(1024),
    temperature: z.number().min(0).max(2).optional(),
    /** Cost units charged to the agent's budgets per million tokens in and out (0 = tokens are counted only). */
    price: z
      .object({
        inputPerMillion: z.number().min(0).max(1_000_000).default(0),
        outputPerMillion: z.number().min(0).max(1_000_000).default(0),
      })
      .strict()
      .default({ inputPerMillion: 0, outputPerMillion: 0 }),
  })
  .strict();
export type ModelConfig = z.infer<typeof modelConfigSchema>;

/** A built-in LLM agent: a registered agent (identity, role, owner, tier, budget) that a model drives. */
export const llmAgentSchema = z
  .object({
    /** The id of a registered agent (`aos agents create`); the model acts under its identity and authority. */
    agent: idSchema,
    /** The agent's role; when given, start-up checks it against the registered agent's. */
    role: idSchema.optional(),
    model: modelConfigSchema,
    /** What the agent is for and how it should behave. */
    systemPrompt: z.string().min(1).max(50_000),
    /**
     * The tools the model may see, as `<connector>.<tool>` names or patterns (`payments.*`); default every tool the
     * agent may call. Policy still decides every call.
     */
    tools: z
      .array(
        z
          .string()
          .regex(
            /^[A-Za-z0-9_*-]{1,64}(\.[A-Za-z0-9_*-]{1,64})?$/,
            'must be <connector>.<tool> or a pattern',
          ),
      )
      .optional(),
    /** Most model turns in one task. */
    maxSteps: z.number().int().min(1).max(200).default(12),
    /** Most wall-clock time for one task, in seconds. */
    maxRunSec: z.number().int().min(1).max(86_400).default(300),
    /** Retries of a failed step (model down, slow or answering garbage), with exponential back-off. */
    retries: z
      .object({
        attempts: z.number().int().min(0).max(20).default(3),
        backoffMs: z.number().int().min(1).max(60_000).default(500),
        maxBackoffMs: z.number().int().min(1).max(600_000).default(10_000),
      })
      .strict()
      .default({ attempts: 3, backoffMs: 500, maxBackoffMs: 10_000 }),
    /** Take workflow tasks of the agent's role from the task queue (worker mode). */
    takesTasks: z.boolean().default(true),
  })
  .strict();
export type LlmAgentConfig = z.infer<typeof llmAgentSchema>;
