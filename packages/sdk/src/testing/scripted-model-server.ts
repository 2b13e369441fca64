import crypto from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';

/** A tool call the script makes the model answer; `arguments` as a string is sent as is (it may be garbage). */
export interface ScriptedToolCall {
  name: string;
  arguments?: unknown;
  id?: string;
}

/** Token counts to report; by default about 4 characters a token of the request and the answer. */
export interface ScriptedUsage {
  input: number;
  output: number;
}

/** What the scripted model answers to the request that is seen. */
export interface ScriptedRequest {
  provider: 'openai' | 'anthropic';
  /** The request body as sent. */
  body: Record<string, unknown>;
  /** The tool names the request offered, in order. */
  tools: string[];
}

/**
 * One answer of the script, used by one model request in order:
 * - `{ text }`: a final answer (no tool call);
 * - `{ toolCalls, text? }`: the model calls tools;
 * - `{ status, body? }`: an HTTP error (e.g. 500, 429, 401) with the API's error shape, or `body` as given;
 * - `{ raw }`: a 200 with this body text as is (not JSON, or JSON of the wrong shape);
 * - `{ delayMs, then }`: answers `then` after a delay (a slow model);
 * - `{ hangUp: true }`: closes the connection without an answer (a model API that went away);
 * - a function of the request, answering one of the above.
 */
export type ScriptStep =
  | { text: string; usage?: ScriptedUsage }
  | { toolCalls: ScriptedToolCall[]; text?: string; usage?: ScriptedUsage }
  | { status: number; body?: unknown }
  | { raw: string }
  | { delayMs: number; then: ScriptStep }
  | { hangUp: true }
  | ((request: ScriptedRequest) => ScriptStep);

/** Options for {@link startScriptedModelServer}. */
export interface ScriptedModelServerOptions {
  /** The answers, in order. When they run out, the model answers a final text saying so. */
  script: ScriptStep[];
  /** The key requests must carry (Bearer or `api-key` for OpenAI, `x-api-key` for Anthropic); default any or none. */
  apiKey?: string;
  /** Port on 127.0.0.1; default a free one. */
  port?: number;
}

/** A running scripted model server. */
export interface ScriptedModelServer {
  /** `http://127.0.0.1:<port>`; the APIs are under `/v1` (use `${url}/v1` as an agent's `baseUrl`). */
  url: string;
  /** Every chat request received, in order (rejected ones too). */
  requests: ScriptedRequest[];
  /** How many script steps have been used. */
  used(): number;
  /** Adds answers to the end of the script. */
  push(...steps: ScriptStep[]): void;
  close(): Promise<void>;
}

/** What OpenAI's and Anthropic's APIs accept as a tool name. */
const TOOL_NAME = /^[a-zA-Z0-9_-]{1,64}$/;

const openAiError = (
  message: string,
  param: string | null,
  code: string | null,
  type = 'invalid_request_error',
) => ({
  error: { message, type, param, code },
});
const anthropicError = (type: string, message: string) => ({
  type: 'error',
  error: { type, message },
  request_id: `req_${crypto.randomBytes(12).toString('hex')}`,
});

/** The 400 the real API answers for the first tool name it would refuse, or undefined. */
function badToolName(provider: ScriptedRequest['provider'], body: Record<string, unknown>): unknown {
  const tools = Array.isArray(body.tools) ? (body.tools as Record<string, unknown>[]) : [];
  for (const [i, t] of tools.entries()) {
    const name = provider === 'openai' ? (t.function as { name?: unknown } | undefined)?.name : t.name;
    if (typeof name === 'string' && TOOL_NAME.test(name)) continue;
    if (provider === 'anthropic')
      return anthropicError(
        'invalid_request_error',
        typeof name === 'string' && name.length > 64
          ? `tools.${i}.custom.name: String should have at most 64 characters`
          : `tools.${i}.custom.name: String should match pattern '^[a-zA-Z0-9_-]{1,64}$'`,
      );
    const param = `tools[${i}].function.name`;
    return typeof name === 'string' && name.length > 64
      ? openAiError(
          `Invalid '${param}': string too long. Expected a string with maximum length 64, but got a string with length ${name.length} instead.`,
          param,
          'string_above_max_length',
        )
      : openAiError(
          `Invalid '${param}': string does not match pattern. Expected a string that matches the pattern '^[a-zA-Z0-9_-]+$'.`,
          param,
          'invalid_value',
        );
  }
  if (provider === 'openai') {
    const messages = Array.isArray(body.messages) ? (body.messages as Record<string, unknown>[]) : [];
    for (const [i, m] of messages.entries()) {
      const calls = Array.isArray(m.tool_calls) ? (m.tool_calls as { function?: { name?: unknown } }[]) : [];
      for (const [j, c] of calls.entries()) {
        const name = c.function?.name;
        if (typeof name === 'string' && TOOL_NAME.test(name)) continue;
        const param = `messages[${i}].tool_calls[${j}].function.name`;
        return openAiError(
          `Invalid '${param}': string does not match pattern. Expected a string that matches the pattern '^[a-zA-Z0-9_-]+$'.`,
          param,
          'invalid_value',
        );
      }
    }
  }
  return undefined;
}

const tokens = (text: string) => Math.max(1, Math.ceil(text.length / 4));

function toolNames(provider: ScriptedRequest['provider'], body: Record<string, unknown>): string[] {
  const tools = Array.isArray(body.tools) ? (body.tools as Record<string, unknown>[]) : [];
  return tools.map((t) =>
    String(
      provider === 'openai' ? ((t.function as { name?: unknown } | undefined)?.name ?? '') : (t.name ?? ''),
    ),
  );
}

function reply(
  provider: ScriptedRequest['provider'],
  step: { text?: string; toolCalls?: ScriptedToolCall[]; usage?: ScriptedUsage },
  body: Record<string, unknown>,
): unknown {
  const model = typeof body.model === 'string' ? body.model : 'scripted';
  const calls = (step.toolCalls ?? []).map((c) => ({
    id: c.id ?? `call_${crypto.randomBytes(8).toString('hex')}`,
    name: c.name,
    arguments: c.arguments === undefined ? {} : c.arguments,
  }));
  const usage = step.usage ?? {
    input: tokens(JSON.stringify(body)),
    output: tokens((step.text ?? '') + JSON.stringify(calls)),
  };
  if (provider === 'openai')
    return {
      id: `chatcmpl-${crypto.randomBytes(12).toString('hex')}`,
      object: 'chat.completion',
      created: Math.floor(Date.now() / 1000),
      model,
      choices: [
        {
          index: 0,
          message: {
            role: 'assistant',
            content: step.text ?? null,
            ...(calls.length
              ? {
                  tool_calls: calls.map((c) => ({
                    id: c.id,
                    type: 'function',
                    function: {
                      name: c.name,
                      arguments: typeof c.arguments === 'string' ? c.arguments : JSON.stringify(c.arguments),
                    },
                  })),
                }
              : {}),
          },
          finish_reason: calls.length ? 'tool_calls' : 'stop',
        },
      ],
      usage: {
        prompt_tokens: usage.input,
        completion_tokens: usage.output,
        total_tokens: usage.input + usage.output,
      },
    };
  return {
    id: `msg_${crypto.randomBytes(12).toString('hex')}`,
    type: 'message',
    role: 'assistant',
    model,
    content: [
      ...(step.text ? [{ type: 'text', text: step.text }] : []),
      ...calls.map((c) => ({
        type: 'tool_use',
        id: c.id.replace(/^call_/, 'toolu_'),
        name: c.name,
        input: c.arguments,
      })),
    ],
    stop_reason: calls.length ? 'tool_use' : 'end_turn',
    stop_sequence: null,
    usage: { input_tokens: usage.input, output_tokens: usage.output },
  };
}

/**
 * Starts a model API double on 127.0.0.1 that answers from a script: OpenAI-compatible `POST /v1/chat/completions`
 * and Anthropic-compatible `POST /v1/messages` (and `GET /v1/models` for key checks), with usage figures. Like the
 * real APIs it answers 401 to a wrong key and 400 to a tool name outside `^[a-zA-Z0-9_-]{1,64}$`, in their error
 * shapes, so a test catches a name a real model API would refuse. Node only.
 *
 * @example
 * const model = await startScriptedModelServer({
 *   script: [{ toolCalls: [{ name: 'payments_get_order', arguments: { orderId: 'o-1', aos_reason: 'look it up' } }] },
 *            { text: 'Done.' }],
 * });
 * // llmAgents: [{ agent: 'support-llm', model: { provider: 'openai', model: 'm', baseUrl: `${model.url}/v1` }, … }]
 */
export async function startScriptedModelServer(
  options: ScriptedModelServerOptions,
): Promise<ScriptedModelServer> {
  const script = [...options.script];
  let used = 0;
  const requests: ScriptedRequest[] = [];
  const send = (res: http.ServerResponse, status: number, body: unknown) => {
    res.writeHead(status, { 'content-type': 'application/json' });
    res.end(JSON.stringify(body));
  };

  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      void (async () => {
        const url = new URL(req.url ?? '/', 'http://127.0.0.1');
        const provider: ScriptedRequest['provider'] | undefined =
          url.pathname === '/v1/chat/completions' || url.pathname.endsWith('/chat/completions')
            ? 'openai'
            : url.pathname === '/v1/messages'
              ? 'anthropic'
              : undefined;
        const isModels = req.method === 'GET' && url.pathname === '/v1/models';
        const anthropicStyle =
          req.headers['anthropic-version'] !== undefined || req.headers['x-api-key'] !== undefined;
        const style: ScriptedRequest['provider'] = provider ?? (anthropicStyle ? 'anthropic' : 'openai');
        if (options.apiKey !== undefined) {
          const bearer = /^Bearer (.+)$/.exec(String(req.headers.authorization ?? ''))?.[1];
          const given =
            style === 'anthropic'
              ? req.headers['x-api-key']
              : (bearer ?? (req.headers['api-key'] as string | undefined));
          if (given !== options.apiKey) {
            return style === 'anthropic'
              ? send(res, 401, anthropicError('authentication_error', 'invalid x-api-key'))
              : send(
                  res,
                  401,
                  given
                    ? openAiError('Incorrect API key provided.', null, 'invalid_api_key')
                    : openAiError("You didn't provide an API key.", null, null),
                );
          }
        }
        if (isModels)
          return send(
            res,
            200,
            style === 'anthropic'
              ? { data: [{ type: 'model', id: 'scripted', display_name: 'Scripted' }], has_more: false }
              : { object: 'list', data: [{ id: 'scripted', object: 'model', owned_by: 'autonomy-os' }] },
          );
        if (req.method !== 'POST' || !provider)
          return send(
            res,
            404,
            openAiError(`Unknown request URL: ${req.method} ${url.pathname}.`, null, 'unknown_url'),
          );
        let body: Record<string, unknown>;
        try {
          const parsed: unknown = JSON.parse(Buffer.concat(chunks).toString('utf8'));
          if (!parsed || typeof parsed !== 'object' || Array.isArray(parsed))
            throw new Error('not an object');
          body = parsed as Record<string, unknown>;
        } catch {
          return provider === 'anthropic'
            ? send(
                res,
                400,
                anthropicError(
                  'invalid_request_error',
                  'There was an error parsing the body of your request.',
                ),
              )
            : send(res, 400, openAiError('We could not parse the JSON body of your request.', null, null));
        }
        const request: ScriptedRequest = { provider, body, tools: toolNames(provider, body) };
        requests.push(request);
        const refused = badToolName(provider, body);
        if (refused) return send(res, 400, refused);
        let step: ScriptStep | undefined = script[used];
        if (step === undefined) step = { text: 'The script has no more answers.' };
        else used++;
        for (let depth = 0; depth < 10; depth++) {
          if (typeof step === 'function') step = step(request);
          else if ('delayMs' in step) {
            await new Promise((r) => setTimeout(r, step && 'delayMs' in step ? step.delayMs : 0));
            if (res.destroyed || req.destroyed) return;
            step = step.then;
          } else break;
        }
        if (typeof step === 'function' || 'delayMs' in step)
          return send(res, 500, { error: 'script nests too deep' });
        if ('hangUp' in step) return req.socket.destroy();
        if ('raw' in step) {
          res.writeHead(200, { 'content-type': 'application/json' });
          return res.end(step.raw);
        }
        if ('status' in step)
          return send(
            res,
            step.status,
            step.body ??
              (provider === 'anthropic'
                ? anthropicError(
                    step.status === 529 ? 'overloaded_error' : 'api_error',
                    'Internal server error',
                  )
                : openAiError(
                    'The server had an error while processing your request.',
                    null,
                    null,
                    'server_error',
                  )),
          );
        return send(res, 200, reply(provider, step, body));
      })().catch(() => {
        if (!res.headersSent) send(res, 500, { error: 'scripted model server failed' });
      });
    });
  });
  await new Promise<void>((resolve) => server.listen(options.port ?? 0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    used: () => used,
    push: (...steps) => {
      script.push(...steps);
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
