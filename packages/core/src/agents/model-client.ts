import { AosError } from '../errors.js';

/** A tool as a model is offered it: a model-safe name, a description and a JSON Schema of its arguments. */
export interface ModelTool {
  name: string;
  description: string;
  parameters: Record<string, unknown>;
}

/** A tool call as the model made it; `arguments` is the raw text the model wrote (it may not be JSON). */
export interface ModelToolCall {
  id: string;
  name: string;
  arguments: string;
}

/** One message of a conversation, in a form every provider is translated from. */
export type ModelMessage =
  | { role: 'user'; text: string }
  | { role: 'assistant'; text: string; toolCalls: ModelToolCall[] }
  | { role: 'tool'; callId: string; name: string; text: string; isError: boolean };

/** Tokens a model call used, as the API reported them. */
export interface ModelUsage {
  inputTokens: number;
  outputTokens: number;
}

/** A model's answer to one turn. */
export interface ModelReply {
  text: string;
  toolCalls: ModelToolCall[];
  usage: ModelUsage;
  /** Why the model stopped, as the API says it (`stop`, `tool_calls`, `end_turn`, `tool_use`, `max_tokens`…). */
  stopReason: string;
}

/** What one model turn is asked. */
export interface ModelRequest {
  system: string;
  messages: readonly ModelMessage[];
  tools: readonly ModelTool[];
  signal?: AbortSignal;
}

/** A model API: one turn at a time, and a start-up check that the key is accepted. */
export interface ModelClient {
  complete(request: ModelRequest): Promise<ModelReply>;
  /** Resolves when the API accepts the key and answers; throws a {@link ModelApiError} otherwise. */
  check(signal?: AbortSignal): Promise<void>;
}

/**
 * A model API call that failed: down, slow, refused, or answered something that is not a valid reply. `retryable`
 * says whether trying again may help (a 401 or a 400 will not). Messages never carry the API key.
 */
export class ModelApiError extends AosError {
  readonly retryable: boolean;
  readonly status: number | undefined;
  constructor(
    code: 'model_unreachable' | 'model_timeout' | 'model_rejected_key' | 'model_error' | 'model_bad_reply',
    message: string,
    options: { retryable: boolean; status?: number; cause?: unknown },
  ) {
    super(code, message, options.cause === undefined ? {} : { cause: options.cause });
    this.retryable = options.retryable;
    this.status = options.status;
  }
}
