import { STATUS_CODES } from 'node:http';
import { brotliDecompressSync, gunzipSync, inflateRawSync, inflateSync } from 'node:zlib';

import type { Agent } from 'undici';

import { SystemError } from '../errors.js';

/** Options for an {@link UpstreamPool}. */
export interface UpstreamPoolOptions {
  /** Most connections open at once to one upstream origin; further requests queue. Default 64. */
  connectionsPerOrigin?: number;
  /** How long an idle keep-alive connection is kept, in milliseconds (the upstream's own hint may shorten it). Default 4 000. */
  keepAliveTimeoutMs?: number;
}

/** One HTTP request through an {@link UpstreamPool}. */
export interface UpstreamRequest {
  url: URL;
  method: string;
  /** Header names in lower case, values already checked with {@link checkHeaderValue}. */
  headers: Record<string, string>;
  body?: string;
  /** Aborts the request, and the reading of its body. */
  signal: AbortSignal;
  /** Larger bodies (after decoding) fail with `upstream_error`. */
  maxResponseBytes: number;
  /** What is being called, for error messages (for example `HTTP operation pay.refund`). */
  what: string;
}

/** The answer of an upstream: status, headers and the whole (decoded) body. */
export interface UpstreamResponse {
  status: number;
  statusText: string;
  /** The `content-type` header, or `''`. */
  contentType: string;
  body: Buffer;
}

// Loaded on the first upstream call: every CLI command imports core, and undici takes longer to load than most.
let agentClass: Promise<typeof Agent> | undefined;

/**
 * Keep-alive connections to upstream HTTP origins, one bounded pool per origin (undici's `Agent`), with undici's
 * lean `request()` rather than `fetch` (no web streams, no Request/Response objects per call).
 *
 * Redirects are never followed (so injected headers never travel to another host); bodies compressed with gzip,
 * deflate or br are decoded, as `fetch` did. Closing lets requests in flight finish, then ends every connection; a
 * request after that fails with `connector_closed`.
 *
 * @example
 * const pool = new UpstreamPool();
 * const res = await pool.request({ url: new URL('https://api.example.com/x'), method: 'GET', headers: {},
 *   signal, maxResponseBytes: 1 << 20, what: 'HTTP operation api.x' });
 * await pool.close();
 */
export class UpstreamPool {
  readonly #options: UpstreamPoolOptions;
  #agent: Promise<Agent> | undefined;
  #closed = false;

  constructor(options: UpstreamPoolOptions = {}) {
    const connections = options.connectionsPerOrigin ?? 64;
    if (!Number.isInteger(connections) || connections < 1) {
      throw new SystemError('connectionsPerOrigin must be a positive integer');
    }
    this.#options = options;
  }

  /** Sends the request and reads the whole answer; rejects with the transport's error when it cannot. */
  async request(req: UpstreamRequest): Promise<UpstreamResponse> {
    if (this.#closed) {
      throw new SystemError(`${req.what}: the connector is closed`, { code: 'connector_closed' });
    }
    agentClass ??= import('undici').then((undici) => undici.Agent);
    this.#agent ??= agentClass.then(
      (AgentClass) =>
        new AgentClass({
          connections: this.#options.connectionsPerOrigin ?? 64,
          keepAliveTimeout: this.#options.keepAliveTimeoutMs ?? 4_000,
          maxRedirections: 0,
        }),
    );
    const agent = await this.#agent;
    const response = await agent.request({
      origin: req.url.origin,
      path: `${req.url.pathname}${req.url.search}`,
      method: req.method as 'GET',
      headers: req.headers,
      body: req.body ?? null,
      signal: req.signal,
    });
    const { body } = response;
    const chunks: Buffer[] = [];
    let size = 0;
    for await (const chunk of body as AsyncIterable<Buffer>) {
      size += chunk.byteLength;
      if (size > req.maxResponseBytes) {
        body.destroy();
        throw tooLarge(req);
      }
      chunks.push(chunk);
    }
    const contentType = headerOf(response.headers['content-type']);
    return {
      status: response.statusCode,
      statusText: STATUS_CODES[response.statusCode] ?? '',
      contentType,
      body: decode(Buffer.concat(chunks), headerOf(response.headers['content-encoding']), req),
    };
  }

  /**
   * Refuses new requests and ends every connection once the requests in flight are answered (each is still bounded
   * by its caller's timeout): a call already sent upstream finishes, so its outcome can be recorded.
   */
  async close(): Promise<void> {
    this.#closed = true;
    const agent = this.#agent;
    this.#agent = undefined;
    if (agent) await (await agent).close();
  }
}

const HEADER_NAME = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
// What the Fetch standard refuses in a header value (after trimming): NUL, CR, LF and anything past one byte.
const BAD_HEADER_VALUE = /[\0\r\n\u0100-\uffff]/;

/**
 * The value a header is sent with, as `Headers.set` normalises it (leading and trailing whitespace removed).
 *
 * @throws TypeError when the name is not a token or the value holds NUL, CR, LF or a character past U+00FF.
 */
export function checkHeaderValue(name: string, value: string): string {
  if (!HEADER_NAME.test(name)) throw new TypeError('invalid header name');
  const trimmed = value.replace(/^[\t\n\r ]+|[\t\n\r ]+$/g, '');
  if (BAD_HEADER_VALUE.test(trimmed)) throw new TypeError('invalid header value');
  return trimmed;
}

function headerOf(value: string | string[] | undefined): string {
  return Array.isArray(value) ? value.join(', ') : (value ?? '');
}

function tooLarge(req: UpstreamRequest): SystemError {
  return new SystemError(`${req.what} answered more than ${req.maxResponseBytes} bytes`, {
    code: 'upstream_error',
  });
}

/** Undoes a content coding; an unknown one leaves the bytes as they are, as `fetch` did. */
function decode(body: Buffer, encoding: string, req: UpstreamRequest): Buffer {
  const coding = encoding.trim().toLowerCase();
  if (body.byteLength === 0 || coding === '' || coding === 'identity') return body;
  const limit = { maxOutputLength: req.maxResponseBytes };
  try {
    if (coding === 'gzip' || coding === 'x-gzip') return gunzipSync(body, limit);
    // Servers send deflate both zlib-wrapped (as the spec says) and raw.
    if (coding === 'deflate')
      return (body[0]! & 0x0f) === 8 ? inflateSync(body, limit) : inflateRawSync(body, limit);
    if (coding === 'br') return brotliDecompressSync(body, limit);
  } catch (error) {
    if ((error as { code?: unknown }).code === 'ERR_BUFFER_TOO_LARGE') throw tooLarge(req);
    throw new SystemError(`${req.what} answered a body that does not decode as ${coding}`, {
      code: 'upstream_error',
    });
  }
  return body;
}
