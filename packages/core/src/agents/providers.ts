import { z } from 'zod';
import type { ModelConfig } from '../config/llm-agent-config.js';
import { SecretRedactor } from '../connectors/secret-redactor.js';
import { ModelApiError } from './model-client.js';
import type { ModelClient, ModelMessage, ModelReply, ModelRequest } from './model-client.js';
import { modelFetch } from './model-http.js';

/** What a provider needs besides its config: the resolved key (never logged) and the fetch wrapper's options. */
export interface ModelClientOptions {
  config: ModelConfig;
  /** The resolved API key, if the config names one. */
  apiKey: string | undefined;
}

const usageNumber = z.number().int().min(0).catch(0);

const openAiReply = z.object({
  choices: z
    .array(
      z.object({
        finish_reason: z.string().nullish(),
        message: z.object({
          content: z.string().nullish(),
          tool_calls: z
            .array(
              z.object({
                id: z.string().min(1),
                function: z.object({ name: z.string(), arguments: z.string().nullish() }),
              }),
            )
            .nullish(),
        }),
      }),
    )
    .min(1),
  usage: z.object({ prompt_tokens: usageNumber, completion_tokens: usageNumber }).partial().nullish(),
});

const anthropicReply = z.object({
  content: z.array(
    z.union([
      z.object({ type: z.literal('text'), text: z.string() }),
      z.object({ type: z.literal('tool_use'), id: z.string().min(1), name: z.string(), input: z.unknown() }),
      z.object({ type: z.string() }).loose(),
    ]),
  ),
  stop_reason: z.string().nullish(),
  usage: z.object({ input_tokens: usageNumber, output_tokens: usageNumber }).partial().nullish(),
});

function badReply(provider: string, error: z.ZodError): ModelApiError {
  const first = error.issues[0];
  return new ModelApiError(
    'model_bad_reply',
    `the ${provider} API answered a reply of the wrong shape (${first ? `${first.path.join('.') || 'body'}: ${first.message}` : 'invalid'})`,
    { retryable: true },
  );
}

/**
 * The start-up check asks for the model list. A server that has none at that path (an Azure deployment URL, some
 * proxies) answers 404 or 405 after accepting the key, which is all the check is for.
 */
async function tolerateNoModelList(call: Promise<unknown>): Promise<void> {
  try {
    await call;
  } catch (err) {
    if (err instanceof ModelApiError && (err.status === 404 || err.status === 405)) return;
    throw err;
  }
}

function trimSlash(url: string): string {
  return url.replace(/\/+$/, '');
}

/** An OpenAI-compatible chat-completions API: OpenAI, Azure OpenAI, Ollama, vLLM, LM Studio. */
export class OpenAiModelClient implements ModelClient {
  readonly #config: ModelConfig;
  readonly #key: string | undefined;
  readonly #redactor = new SecretRedactor();
  readonly #base: string;

  constructor(options: ModelClientOptions) {
    this.#config = options.config;
    this.#key = options.apiKey;
    if (options.apiKey) this.#redactor.add(options.apiKey);
    this.#base = trimSlash(options.config.baseUrl ?? 'https://api.openai.com/v1');
  }

  #url(path: string): string {
    const v = this.#config.apiVersion;
    return `${this.#base}${path}${v ? `?api-version=${encodeURIComponent(v)}` : ''}`;
  }

  #headers(): Record<string, string> {
    if (!this.#key) return {};
    return this.#config.apiVersion ? { 'api-key': this.#key } : { authorization: `Bearer ${this.#key}` };
  }

  static messages(system: string, messages: readonly ModelMessage[]): unknown[] {
    const out: unknown[] = [{ role: 'system', content: system }];
    for (const m of messages) {
      if (m.role === 'user') out.push({ role: 'user', content: m.text });
      else if (m.role === 'assistant')
        out.push({
          role: 'assistant',
          content: m.text || null,
          ...(m.toolCalls.length
            ? {
                tool_calls: m.toolCalls.map((c) => ({
                  id: c.id,
                  type: 'function',
                  function: { name: c.name, arguments: c.arguments },
                })),
              }
            : {}),
        });
      else out.push({ role: 'tool', tool_call_id: m.callId, content: m.text });
    }
    return out;
  }

  async complete(request: ModelRequest): Promise<ModelReply> {
    const body = await modelFetch(this.#url('/chat/completions'), {
      headers: this.#headers(),
      body: {
        model: this.#config.model,
        messages: OpenAiModelClient.messages(request.system, request.messages),
        ...(request.tools.length
          ? {
              tools: request.tools.map((t) => ({
                type: 'function',
                function: { name: t.name, description: t.description, parameters: t.parameters },
              })),
            }
          : {}),
        max_tokens: this.#config.maxTokens,
        ...(this.#config.temperature !== undefined ? { temperature: this.#config.temperature } : {}),
      },
      timeoutMs: this.#config.timeoutMs,
      signal: request.signal,
      redactor: this.#redactor,
    });
    const parsed = openAiReply.safeParse(body);
    if (!parsed.success) throw badReply('openai', parsed.error);
    const choice = parsed.data.choices[0];
    if (!choice)
      throw new ModelApiError('model_bad_reply', 'the openai API answered no choice', { retryable: true });
    return {
      text: choice.message.content ?? '',
      toolCalls: (choice.message.tool_calls ?? []).map((c) => ({
        id: c.id,
        name: c.function.name,
        arguments: c.function.arguments ?? '',
      })),
      usage: {
        inputTokens: parsed.data.usage?.prompt_tokens ?? 0,
        outputTokens: parsed.data.usage?.completion_tokens ?? 0,
      },
      stopReason: choice.finish_reason ?? 'stop',
    };
  }

  async check(signal?: AbortSignal): Promise<void> {
    await tolerateNoModelList(
      modelFetch(this.#url('/models'), {
        method: 'GET',
        headers: this.#headers(),
        timeoutMs: this.#config.timeoutMs,
        signal,
        redactor: this.#redactor,
      }),
    );
  }
}

/** Anthropic's Messages API. */
export class AnthropicModelClient implements ModelClient {
  static readonly VERSION = '2023-06-01';
  readonly #config: ModelConfig;
  readonly #key: string | undefined;
  readonly #redactor = new SecretRedactor();
  readonly #base: string;

  constructor(options: ModelClientOptions) {
    this.#config = options.config;
    this.#key = options.apiKey;
    if (options.apiKey) this.#redactor.add(options.apiKey);
    this.#base = trimSlash(options.config.baseUrl ?? 'https://api.anthropic.com/v1');
  }

  #headers(): Record<string, string> {
    return {
      'anthropic-version': AnthropicModelClient.VERSION,
      ...(this.#key ? { 'x-api-key': this.#key } : {}),
    };
  }

  /** Our messages as Anthropic's: tool results go in a user message, consecutive ones in the same one. */
  static messages(messages: readonly ModelMessage[]): unknown[] {
    const out: { role: string; content: unknown }[] = [];
    for (const m of messages) {
      if (m.role === 'user') out.push({ role: 'user', content: m.text });
      else if (m.role === 'assistant') {
        const content: unknown[] = [];
        if (m.text) content.push({ type: 'text', text: m.text });
        for (const c of m.toolCalls) {
          let input: unknown = {};
          try {
            input = JSON.parse(c.arguments);
          } catch {
            /* the model's own unparsable arguments go back as {}; the tool result says what was wrong */
          }
          content.push({
            type: 'tool_use',
            id: c.id,
            name: c.name,
            input: input && typeof input === 'object' && !Array.isArray(input) ? input : {},
          });
        }
        out.push({ role: 'assistant', content });
      } else {
        const block = { type: 'tool_result', tool_use_id: m.callId, content: m.text, is_error: m.isError };
        const last = out[out.length - 1];
        if (last && last.role === 'user' && Array.isArray(last.content))
          (last.content as unknown[]).push(block);
        else out.push({ role: 'user', content: [block] });
      }
    }
    return out;
  }

  async complete(request: ModelRequest): Promise<ModelReply> {
    const body = await modelFetch(`${this.#base}/messages`, {
      headers: this.#headers(),
      body: {
        model: this.#config.model,
        max_tokens: this.#config.maxTokens,
        system: request.system,
        messages: AnthropicModelClient.messages(request.messages),
        ...(request.tools.length
          ? {
              tools: request.tools.map((t) => ({
                name: t.name,
                description: t.description,
                input_schema: t.parameters,
              })),
            }
          : {}),
        ...(this.#config.temperature !== undefined ? { temperature: this.#config.temperature } : {}),
      },
      timeoutMs: this.#config.timeoutMs,
      signal: request.signal,
      redactor: this.#redactor,
    });
    const parsed = anthropicReply.safeParse(body);
    if (!parsed.success) throw badReply('anthropic', parsed.error);
    const text: string[] = [];
    const toolCalls: ModelReply['toolCalls'] = [];
    for (const block of parsed.data.content) {
      if (block.type === 'text' && 'text' in block && typeof block.text === 'string') text.push(block.text);
      else if (block.type === 'tool_use' && 'id' in block && typeof block.id === 'string')
        toolCalls.push({
          id: block.id,
          name: String((block as { name: unknown }).name),
          arguments: JSON.stringify((block as { input?: unknown }).input ?? {}),
        });
    }
    return {
      text: text.join('\n'),
      toolCalls,
      usage: {
        inputTokens: parsed.data.usage?.input_tokens ?? 0,
        outputTokens: parsed.data.usage?.output_tokens ?? 0,
      },
      stopReason: parsed.data.stop_reason ?? 'end_turn',
    };
  }

  async check(signal?: AbortSignal): Promise<void> {
    await tolerateNoModelList(
      modelFetch(`${this.#base}/models`, {
        method: 'GET',
        headers: this.#headers(),
        timeoutMs: this.#config.timeoutMs,
        signal,
        redactor: this.#redactor,
      }),
    );
  }
}

/** The client for a model config. */
export function createModelClient(options: ModelClientOptions): ModelClient {
  return options.config.provider === 'anthropic'
    ? new AnthropicModelClient(options)
    : new OpenAiModelClient(options);
}
