import { AosError, NotFoundError, SystemError, UserError } from '../errors.js';
import { secretRefNames } from '../secrets/secret-store.js';
import type { SecretStore } from '../secrets/secret-store.js';
import { SecretRedactor } from './secret-redactor.js';
import type { CallToolOptions, Connector, ToolAnnotations, ToolDefinition, ToolResult } from './types.js';
import { UpstreamPool, checkHeaderValue } from './upstream-pool.js';
import type { UpstreamResponse } from './upstream-pool.js';
import { withTimeout } from './with-timeout.js';

/** HTTP methods an operation may use. */
export type HttpMethod = 'GET' | 'HEAD' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';

const METHODS: readonly HttpMethod[] = ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE'];

/**
 * One HTTP operation exposed as a tool.
 *
 * Templates: `{field}` is replaced by the input field (URL-encoded in `url`), `${secret:NAME}` by a secret. The
 * substitution is a single pass, so an input value that looks like `${secret:X}` stays literal text — an agent cannot
 * make the connector expand a secret into a request.
 *
 * @example
 * { name: 'refund', method: 'POST', url: 'https://pay.example.com/refunds/{orderId}',
 *   headers: { 'X-Api-Key': '${secret:pay_key}' }, body: { amount: '{amount}', note: 'agent refund {orderId}' },
 *   inputSchema: { type: 'object', properties: { orderId: { type: 'string' }, amount: { type: 'number' } } } }
 */
export interface HttpOperation {
  /** The tool name, unique within the connector. */
  name: string;
  /** What the operation does. */
  description?: string;
  method: HttpMethod;
  /** Absolute http(s) URL template, for example `https://api.example.com/refunds/{orderId}`. */
  url: string;
  /** JSON Schema of the input; default `{ type: 'object' }`. */
  inputSchema?: Record<string, unknown>;
  /** JSON Schema of the structured output, if known. */
  outputSchema?: Record<string, unknown>;
  /**
   * The JSON body: `'input'` sends the input minus the fields used in the URL path and query; a record maps body
   * fields to templates, where a template that is exactly `{field}` keeps the input value's JSON type. Default:
   * `'input'` for POST, PUT and PATCH, no body for GET and DELETE.
   */
  body?: 'input' | Record<string, string>;
  /** Sends this one input field's value as the whole JSON body (a body that is not an object); wins over `body`. */
  bodyField?: string;
  /** Request headers; values may contain `${secret:NAME}` and `{field}`. */
  headers?: Record<string, string>;
  /** Input fields sent as query parameters (arrays repeat the parameter; absent fields are skipped). */
  query?: string[];
  /** Request headers filled from input fields (header name → field); absent fields are skipped. */
  headerParams?: Record<string, string>;
  /** `read` or `write`; default `read` for GET and HEAD, `write` otherwise. Becomes `annotations.readOnlyHint`. */
  effect?: 'read' | 'write';
  /** MCP-style annotations published with the tool definition. */
  annotations?: ToolAnnotations;
}

/** Configuration of an {@link HttpConnector}. */
export interface HttpConnectorConfig {
  /** The connector id, unique in the organisation. */
  id: string;
  operations: HttpOperation[];
}

/** Runtime collaborators and limits for an {@link HttpConnector}. */
export interface HttpConnectorOptions {
  /** Resolves `${secret:NAME}` at call time (so a rotated secret applies to the next call). */
  secrets?: SecretStore;
  /** Default per-call timeout in milliseconds; default 30 000. */
  timeoutMs?: number;
  /** Larger responses fail with `upstream_error`; default 10 MiB. */
  maxResponseBytes?: number;
  /**
   * Credentials computed at call time (an OpenAPI security scheme: a basic header, an OAuth token), added after the
   * operation's own headers and query. Every value is scrubbed from responses and errors like a secret.
   */
  credentials?: (operation: HttpOperation) => Promise<HttpCredentials>;
  /**
   * Keep-alive connections shared with other connectors (an OpenAPI connector passes its own to each document
   * version); whoever created it closes it. Default: a pool of this connector's, closed by {@link HttpConnector.close}.
   */
  pool?: UpstreamPool;
}

/** Headers and query parameters that authenticate one request; each value is treated as a secret. */
export interface HttpCredentials {
  headers?: Record<string, string>;
  query?: Record<string, string>;
}

const PLACEHOLDER = /\$\{secret:([^}]*)\}|\{([A-Za-z_][A-Za-z0-9_]*)\}/g;
const WHOLE_FIELD = /^\{([A-Za-z_][A-Za-z0-9_]*)\}$/;
const MAX_ERROR_TEXT = 2_000;

/** A request ready to send: header names in lower case, values checked. */
interface BuiltRequest {
  url: URL;
  method: HttpMethod;
  headers: Map<string, string>;
  body?: string;
}

interface FillContext {
  input: Record<string, unknown>;
  secrets: Map<string, string>;
  used: Set<string>;
  encode: boolean;
}

/**
 * A connector whose tools are HTTP operations from configuration, called over keep-alive connections (one bounded
 * pool per upstream origin, see {@link UpstreamPool}).
 *
 * A 2xx JSON response becomes `structuredContent` (wrapped as `{ value }` when it is not an object) plus one text
 * item; any other status resolves with `isError: true` and the status. Redirects are not followed, so injected
 * headers never travel to another host. Secret values are scrubbed from responses and errors before they leave.
 *
 * @example
 * const pay = new HttpConnector({ id: 'pay', operations: [refundOperation] }, { secrets });
 * await pay.callTool('refund', { orderId: 'A-17', amount: 20 }, { timeoutMs: 5000 });
 */
export class HttpConnector implements Connector {
  readonly id: string;
  readonly #operations: Map<string, HttpOperation>;
  /** The secrets each operation's templates name, found once: operations do not change after construction. */
  readonly #secretNames = new Map<string, string[]>();
  readonly #options: HttpConnectorOptions;
  readonly #redactor = new SecretRedactor();
  readonly #pool: UpstreamPool;
  readonly #ownsPool: boolean;

  constructor(config: HttpConnectorConfig, options: HttpConnectorOptions = {}) {
    if (typeof config.id !== 'string' || config.id === '') {
      throw new UserError('must be a non-empty string', { field: 'id' });
    }
    this.id = config.id;
    this.#options = options;
    this.#ownsPool = options.pool === undefined;
    this.#pool = options.pool ?? new UpstreamPool();
    this.#operations = new Map();
    if (!Array.isArray(config.operations)) {
      throw new UserError('must be a list', { field: `connectors.${config.id}.operations` });
    }
    config.operations.forEach((operation, index) => {
      const at = `connectors.${config.id}.operations[${index}]`;
      validateOperation(operation, at, options.secrets !== undefined);
      if (this.#operations.has(operation.name))
        throw new UserError('duplicate operation name', { field: `${at}.name` });
      this.#operations.set(operation.name, operation);
      const templates = [
        operation.url,
        ...Object.values(operation.headers ?? {}),
        ...(typeof operation.body === 'object' ? Object.values(operation.body) : []),
      ];
      this.#secretNames.set(operation.name, [...new Set(templates.flatMap(secretRefNames))]);
    });
  }

  listTools(): Promise<ToolDefinition[]> {
    return Promise.resolve([...this.#operations.values()].map(httpToolDefinition));
  }

  async callTool(
    name: string,
    input: Record<string, unknown>,
    options: CallToolOptions = {},
  ): Promise<ToolResult> {
    const operation = this.#operations.get(name);
    if (operation === undefined) throw new NotFoundError('tool', `${this.id}.${name}`);
    if (typeof input !== 'object' || input === null || Array.isArray(input)) {
      throw new UserError('must be an object', { field: 'input' });
    }
    const request = await this.#buildRequest(operation, input);
    // Trace context travels as W3C headers; configured headers of the same name win.
    for (const [k, v] of Object.entries(options.trace ?? {})) {
      const key = k.toLowerCase();
      if (!request.headers.has(key)) request.headers.set(key, checkHeaderValue(k, v));
    }
    const what = `HTTP operation ${this.id}.${name}`;
    const headers = Object.fromEntries(request.headers);
    try {
      return await withTimeout(
        async (signal) => {
          const response = await this.#pool.request({
            url: request.url,
            method: request.method,
            headers,
            ...(request.body !== undefined ? { body: request.body } : {}),
            signal,
            maxResponseBytes: this.#options.maxResponseBytes ?? 10 * 1024 * 1024,
            what,
          });
          return this.#toResult(response);
        },
        { timeoutMs: options.timeoutMs ?? this.#options.timeoutMs ?? 30_000, signal: options.signal, what },
      );
    } catch (error) {
      if (error instanceof AosError) throw error;
      // The reason is the transport's code (ECONNREFUSED, certificate errors, UND_ERR_SOCKET…), or its cause's;
      // the URL is never included.
      const { code, cause } = error as { code?: unknown; cause?: { code?: unknown } };
      const reason =
        typeof code === 'string'
          ? code
          : typeof cause?.code === 'string'
            ? cause.code
            : error instanceof Error
              ? error.message
              : 'error';
      throw new SystemError(`${what} could not reach the upstream: ${this.#redactor.redact(reason)}`, {
        code: 'upstream_unavailable',
      });
    }
  }

  /** Ends this connector's keep-alive connections (a shared pool is left to its owner). */
  async close(): Promise<void> {
    if (this.#ownsPool) await this.#pool.close();
  }

  async #buildRequest(operation: HttpOperation, input: Record<string, unknown>): Promise<BuiltRequest> {
    const secrets = await this.#resolveSecrets(operation);
    const used = new Set<string>();
    const url = new URL(fill(operation.url, { input, secrets, used, encode: true }));
    for (const field of operation.query ?? []) {
      used.add(field);
      const value = input[field];
      if (value === undefined || value === null) continue;
      for (const item of Array.isArray(value) ? value : [value])
        url.searchParams.append(field, scalar(item, field));
    }
    for (const field of Object.values(operation.headerParams ?? {})) used.add(field);
    if (operation.bodyField !== undefined) used.add(operation.bodyField);
    // What fetch sent by default; compressed answers are still decoded (see UpstreamPool).
    const headers = new Map([
      ['accept', 'application/json'],
      ['user-agent', 'node'],
    ]);
    const set = (key: string, value: string): void => {
      headers.set(key.toLowerCase(), checkHeaderValue(key, value));
    };
    for (const [key, field] of Object.entries(operation.headerParams ?? {})) {
      const value = input[field];
      if (value === undefined || value === null) continue;
      try {
        set(key, scalar(value, field));
      } catch (error) {
        if (error instanceof AosError) throw error;
        throw new UserError('does not make a valid header value', { field: `input.${field}` });
      }
    }
    for (const [key, template] of Object.entries(operation.headers ?? {})) {
      try {
        set(key, fill(template, { input, secrets, used: new Set(), encode: false }));
      } catch (error) {
        if (error instanceof AosError) throw error;
        // The value (which may hold a secret) is not echoed.
        throw new UserError('does not make a valid header value', {
          field: `${operation.name}.headers.${key}`,
        });
      }
    }
    if (this.#options.credentials) {
      const credentials = await this.#options.credentials(operation);
      for (const [key, value] of Object.entries(credentials.headers ?? {})) {
        this.#redactor.add(value);
        set(key, value);
      }
      for (const [key, value] of Object.entries(credentials.query ?? {})) {
        this.#redactor.add(value);
        url.searchParams.set(key, value);
      }
    }
    const bodySpec =
      operation.body ?? (['POST', 'PUT', 'PATCH'].includes(operation.method) ? 'input' : undefined);
    const request: BuiltRequest = { url, method: operation.method, headers };
    if (operation.bodyField !== undefined) {
      const value = input[operation.bodyField];
      if (value !== undefined) {
        headers.set('content-type', 'application/json');
        request.body = JSON.stringify(value);
      }
    } else if (bodySpec !== undefined) {
      let body: Record<string, unknown>;
      if (bodySpec === 'input') {
        body = Object.fromEntries(Object.entries(input).filter(([key]) => !used.has(key)));
      } else {
        body = {};
        for (const [key, template] of Object.entries(bodySpec)) {
          const whole = WHOLE_FIELD.exec(template);
          if (whole) {
            const value = input[whole[1]!];
            if (value !== undefined) body[key] = value;
          } else {
            body[key] = fill(template, { input, secrets, used: new Set(), encode: false });
          }
        }
      }
      headers.set('content-type', 'application/json');
      request.body = JSON.stringify(body);
    }
    return request;
  }

  async #resolveSecrets(operation: HttpOperation): Promise<Map<string, string>> {
    const values = new Map<string, string>();
    for (const name of this.#secretNames.get(operation.name) ?? []) {
      const value = await this.#options.secrets?.get(name);
      if (value === undefined) {
        throw new UserError(`unknown secret '${name}'`, {
          code: 'unknown_secret',
          field: `connectors.${this.id}.operations.${operation.name}`,
        });
      }
      this.#redactor.add(value);
      values.set(name, value);
    }
    return values;
  }

  #toResult(response: UpstreamResponse): ToolResult {
    const text = this.#redactor.redact(response.body.toString('utf8'));
    const isJson = /\bjson\b/i.test(response.contentType);
    let parsed: unknown = text;
    if (isJson && text !== '') {
      try {
        parsed = JSON.parse(text);
      } catch {
        parsed = text;
      }
    }
    if (response.status < 200 || response.status > 299) {
      const status = `HTTP ${response.status}${response.statusText ? ` ${response.statusText}` : ''}`;
      const detail = text === '' ? '' : `: ${text.slice(0, MAX_ERROR_TEXT)}`;
      return {
        content: [{ type: 'text', text: `upstream answered ${status}${detail}` }],
        structuredContent: { status: response.status, body: parsed },
        isError: true,
      };
    }
    const result: ToolResult = { content: [{ type: 'text', text }], isError: false };
    if (isJson && typeof parsed === 'object' && parsed !== null && !Array.isArray(parsed)) {
      result.structuredContent = parsed;
    } else if (isJson && text !== '' && parsed !== text) {
      result.structuredContent = { value: parsed };
    }
    return result;
  }
}

/** Replaces `${secret:NAME}` and `{field}` in one pass. */
function fill(template: string, context: FillContext): string {
  return template.replace(PLACEHOLDER, (_match, secret: string | undefined, field: string | undefined) => {
    const value = secret !== undefined ? secretValue(context, secret) : inputValue(context, field ?? '');
    if (!context.encode) return value;
    // '.' and '..' survive encoding and would be resolved as dot segments, moving the request to another path.
    if (secret === undefined && (value === '.' || value === '..')) {
      throw new UserError("must not be '.' or '..'", { field: `input.${field ?? ''}` });
    }
    return encodeURIComponent(value);
  });
}

function secretValue(context: FillContext, name: string): string {
  const value = context.secrets.get(name);
  // Fail closed: a reference nobody resolved (an operation changed after construction) never sends an empty secret.
  if (value === undefined) throw new SystemError(`secret '${name}' was not resolved for this request`);
  return value;
}

function inputValue(context: FillContext, field: string): string {
  context.used.add(field);
  const value = context.input[field];
  if (value === undefined || value === null) throw new UserError('is required', { field: `input.${field}` });
  return scalar(value, field);
}

function scalar(value: unknown, field: string): string {
  if (typeof value === 'string' || typeof value === 'number' || typeof value === 'boolean')
    return String(value);
  throw new UserError('must be a string, number or boolean', { field: `input.${field}` });
}

function validateOperation(operation: HttpOperation, at: string, hasSecrets: boolean): void {
  if (typeof operation !== 'object' || operation === null)
    throw new UserError('must be an object', { field: at });
  if (typeof operation.name !== 'string' || !/^[A-Za-z0-9_.-]{1,128}$/.test(operation.name)) {
    throw new UserError('must be 1-128 letters, digits, _, . or -', { field: `${at}.name` });
  }
  if (!METHODS.includes(operation.method)) {
    throw new UserError(`must be one of ${METHODS.join(', ')}`, { field: `${at}.method` });
  }
  let url: URL;
  try {
    url = new URL(String(operation.url).replace(PLACEHOLDER, 'x'));
  } catch {
    throw new UserError('must be an absolute URL template', { field: `${at}.url` });
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new UserError('must be an http or https URL', { field: `${at}.url` });
  }
  if (url.username !== '' || url.password !== '') {
    throw new UserError('must not carry credentials; use headers with ${secret:NAME}', {
      field: `${at}.url`,
    });
  }
  // Input must never choose where the request (and its secret headers) goes.
  const origin = /^[a-z]+:\/\/[^/?#]*/i.exec(String(operation.url))?.[0] ?? '';
  if (origin.includes('{')) {
    throw new UserError('must not have placeholders in the scheme, host or port', { field: `${at}.url` });
  }
  const templates: [string, unknown][] = [[`${at}.url`, operation.url]];
  for (const [key, value] of Object.entries(operation.headers ?? {}))
    templates.push([`${at}.headers.${key}`, value]);
  if (operation.body !== undefined && operation.body !== 'input') {
    if (typeof operation.body !== 'object' || operation.body === null || Array.isArray(operation.body)) {
      throw new UserError("must be 'input' or a map of field templates", { field: `${at}.body` });
    }
    for (const [key, value] of Object.entries(operation.body)) templates.push([`${at}.body.${key}`, value]);
  }
  for (const [field, template] of templates) {
    if (typeof template !== 'string') throw new UserError('must be a string', { field });
    if (!hasSecrets && secretRefNames(template).length > 0) {
      throw new UserError('refers to a secret but the connector has no secret store', { field });
    }
  }
  if (
    operation.query !== undefined &&
    !(Array.isArray(operation.query) && operation.query.every((q) => typeof q === 'string'))
  ) {
    throw new UserError('must be a list of input field names', { field: `${at}.query` });
  }
  if (operation.effect !== undefined && operation.effect !== 'read' && operation.effect !== 'write') {
    throw new UserError("must be 'read' or 'write'", { field: `${at}.effect` });
  }
}

/** The MCP-shaped tool definition an HTTP operation is offered as (what `listTools` answers for it). */
export function httpToolDefinition(operation: HttpOperation): ToolDefinition {
  const effect =
    operation.effect ??
    (operation.annotations?.readOnlyHint === undefined
      ? operation.method === 'GET' || operation.method === 'HEAD'
        ? 'read'
        : 'write'
      : undefined);
  const annotations: ToolAnnotations = { ...operation.annotations };
  if (effect !== undefined) annotations.readOnlyHint = effect === 'read';
  const def: ToolDefinition = {
    name: operation.name,
    inputSchema: operation.inputSchema ?? { type: 'object' },
    annotations,
  };
  if (operation.description !== undefined) def.description = operation.description;
  if (operation.outputSchema !== undefined) def.outputSchema = operation.outputSchema;
  return def;
}
