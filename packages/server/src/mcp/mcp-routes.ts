import crypto from 'node:crypto';
import { Readable } from 'node:stream';
import type { ReadableStream as WebReadableStream } from 'node:stream/web';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import { createMcpHandler, isLegacyRequest } from '@modelcontextprotocol/server';
import { ErrorCode } from '@modelcontextprotocol/sdk/types.js';
import { AuthenticationError, UserError } from '@autonomy-os/core';
import type { Authenticator, Engine, Principal } from '@autonomy-os/core';
import { bearerOf } from '../auth.js';
import { checkJsonBody } from '../body-limits.js';
import { TooManyFailuresError, toHttpError } from '../errors.js';
import type { RequestGuards } from '../guards.js';
import { createAgentMcpServer } from './agent-mcp-server.js';
import { jsonRpcErrorBody } from './errors.js';
import { createModernMcpServer } from './modern-mcp-server.js';
import type { ModernMcpServerOptions } from './modern-mcp-server.js';
import { requestedSession, toolNamingOf } from './request-context.js';

/** Where RFC 9728 metadata lives, relative to the server's origin. */
export const PROTECTED_RESOURCE_PATH = '/.well-known/oauth-protected-resource';

/** Session ids we hand out and accept: visible ASCII, as the Streamable HTTP spec requires. */
const SESSION_ID = /^[\x21-\x7e]{1,128}$/;

/** A Host header as RFC 9110 allows it: a DNS name, an IPv4 address or a bracketed IPv6 address, and a port. */
const HOST =
  /^(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*|\[[0-9A-Fa-f:.]{2,45}\])(?::\d{1,5})?$/;

/**
 * The authority this server is reached at: the Host header when it is well-formed, otherwise the address the
 * connection came in on (or the configured one). A malformed Host (quotes, spaces) is never echoed into a header or
 * the metadata.
 */
function authorityOf(engine: Engine, req: FastifyRequest): string {
  if (HOST.test(req.host)) return req.host;
  const { localAddress, localPort } = req.socket;
  const address = localAddress ?? engine.config.server.host;
  const port = localPort ?? engine.config.server.port;
  return `${address.includes(':') ? `[${address}]` : address}:${port}`;
}

/** What `/mcp` and its RFC 9728 metadata say about this server. */
function resourceOf(engine: Engine, req: FastifyRequest): { resource: string; metadataUrl: string } {
  const configured = engine.config.mcp.resource;
  const origin = configured ? new URL(configured).origin : `${req.protocol}://${authorityOf(engine, req)}`;
  return { resource: configured ?? `${origin}/mcp`, metadataUrl: `${origin}${PROTECTED_RESOURCE_PATH}` };
}

/**
 * `POST /mcp` (MCP Streamable HTTP, stateless) and its OAuth protected-resource metadata (RFC 9728).
 *
 * Every request is authenticated on its own with the same {@link Authenticator} as REST; the MCP session id is only
 * a label that groups calls for the pipeline's session memory, never proof of identity. Nothing of a session is
 * kept in this node's memory, so requests of one session may land on any node.
 */
export function registerMcpRoutes(
  app: FastifyInstance,
  engine: Engine,
  authenticator: Authenticator,
  version: string,
  guards: RequestGuards,
): void {
  const metadata = async (req: FastifyRequest) => {
    const { resource } = resourceOf(engine, req);
    return {
      resource,
      ...(engine.config.oidc ? { authorization_servers: [engine.config.oidc.issuer] } : {}),
      bearer_methods_supported: ['header'],
      resource_name: 'Autonomy OS MCP gateway',
    };
  };
  app.get(PROTECTED_RESOURCE_PATH, metadata);
  app.get(`${PROTECTED_RESOURCE_PATH}/mcp`, metadata);

  // Longest a request may stay open: the approval wait plus the slowest connector, plus slack. Past it the
  // response is closed (the action itself stays recorded and is never lost).
  const requestLimitMs =
    engine.config.mcp.approvalWaitMs +
    Math.max(30_000, ...engine.config.connectors.map((c) => c.timeoutMs)) +
    10_000;

  // One 2026-07-28 handler for every request (its event bus, notifier and listen router are built once); only the
  // SDK server is per request, because the SDK refuses one server across exchanges. The factory finds what the
  // request was authenticated as through the web Request it is handed.
  const modernRequests = new WeakMap<Request, ModernMcpServerOptions>();
  const modernHandler = createMcpHandler(
    ({ requestInfo }) => {
      const options = requestInfo === undefined ? undefined : modernRequests.get(requestInfo);
      // Fail closed: a request this route did not authenticate gets no server.
      if (!options) throw new Error('MCP request without an authenticated context');
      return createModernMcpServer(options);
    },
    {
      legacy: 'reject',
      onerror: (err) => app.log.debug({ err: err.message }, 'MCP request refused'),
    },
  );
  app.addHook('onClose', () => modernHandler.close());

  const refuse = (reply: FastifyReply, status: number, code: number, message: string, extra = {}) =>
    reply.code(status).headers(extra).send(jsonRpcErrorBody(code, message));

  const authenticate = async (req: FastifyRequest, reply: FastifyReply): Promise<Principal | undefined> => {
    try {
      await guards.authFailures.check(req.ip);
    } catch (err) {
      if (!(err instanceof TooManyFailuresError)) throw err;
      await refuse(reply, 429, -32000, err.message, { 'retry-after': String(err.retryAfterSec) });
      return undefined;
    }
    try {
      return await authenticator.authenticate(bearerOf(req));
    } catch (err) {
      if (!(err instanceof AuthenticationError)) throw err;
      await guards.authFailures.fail(req.ip);
      req.log.info({ reason: err.message }, 'MCP authentication failed');
      const { metadataUrl } = resourceOf(engine, req);
      await refuse(reply, 401, -32001, 'authentication required: a valid agent bearer token', {
        'www-authenticate': `Bearer resource_metadata="${metadataUrl}"`,
      });
      return undefined;
    }
  };

  // Its own scope, so the body arrives as text whatever the content type: authentication comes before parsing,
  // and a body that is not JSON gets a JSON-RPC parse error rather than a generic one.
  app.register(async (scope) => {
    scope.removeAllContentTypeParsers();
    scope.addContentTypeParser('*', { parseAs: 'string' }, (_req, body, done) => done(null, body));
    scope.setErrorHandler((err, req, reply) => {
      const { status, body } = toHttpError(err);
      if (status >= 500) req.log.error({ err }, 'MCP request failed');
      void reply
        .code(status)
        .send(jsonRpcErrorBody(status >= 500 ? ErrorCode.InternalError : -32000, body.error.message));
    });

    scope.route({
      method: ['GET', 'POST', 'DELETE'],
      url: '/mcp',
      handler: async (req, reply) => {
        const principal = await authenticate(req, reply);
        if (!principal) return reply;
        if (principal.kind !== 'agent') {
          return refuse(reply, 403, -32003, '/mcp is for agents: use an agent token');
        }
        if (req.method !== 'POST') {
          // Stateless: no server-initiated stream to open (GET) and no session to end (DELETE).
          return refuse(reply, 405, -32000, 'method not allowed: POST JSON-RPC messages to /mcp', {
            allow: 'POST',
          });
        }
        let message: unknown;
        try {
          message = JSON.parse(typeof req.body === 'string' ? req.body : '');
        } catch {
          return refuse(reply, 400, ErrorCode.ParseError, 'parse error: the body is not JSON');
        }
        try {
          checkJsonBody(message, guards.body);
        } catch (err) {
          if (!(err instanceof UserError)) throw err;
          return refuse(reply, 400, ErrorCode.InvalidRequest, `invalid request: ${err.message}`);
        }

        const headers = new Headers();
        for (const [k, v] of Object.entries(req.headers)) {
          if (v !== undefined) headers.set(k, Array.isArray(v) ? v.join(', ') : v);
        }
        const url = new URL(req.url, `${req.protocol}://${authorityOf(engine, req)}`);
        const abort = new AbortController();
        // No body: the SDK is always handed the parsed message (`parsedBody`) and then never reads the request's,
        // and a web body stream is half the cost of building the Request.
        const webRequest = new Request(url, { method: 'POST', headers, signal: abort.signal });
        const modern = !(await isLegacyRequest(webRequest, message));
        const naming = toolNamingOf(engine, principal.agent, url, message);
        const named = requestedSession(message, req.headers['aos-session-id']);

        if (modern) {
          // Revision 2026-07-28 (official SDK 2.x): no initialize, no Mcp-Session-Id; the SDK checks the
          // per-request envelope and the Mcp-Method / Mcp-Name headers against the body.
          const { resource } = resourceOf(engine, req);
          const origin = new URL(resource).origin;
          modernRequests.set(webRequest, {
            engine,
            agent: principal.agent,
            sessionId: named,
            naming,
            version,
            approvalUrl: (id) => `${origin}/approvals/${encodeURIComponent(id)}`,
          });
          reply.hijack();
          const limit = setTimeout(() => abort.abort(), requestLimitMs);
          limit.unref();
          // The abort ends the exchange: the SDK's per-request transport closes its server on it.
          reply.raw.on('close', () => {
            clearTimeout(limit);
            abort.abort();
          });
          try {
            const res = await modernHandler.fetch(webRequest, { parsedBody: message });
            const head = Object.fromEntries(res.headers);
            if (!res.body) {
              reply.raw.writeHead(res.status, head);
              reply.raw.end();
            } else if (/^application\/json\b/i.test(res.headers.get('content-type') ?? '')) {
              // A JSON answer is complete already: one write with its length, instead of piping a web stream.
              const body = Buffer.from(await res.arrayBuffer());
              reply.raw.writeHead(res.status, { ...head, 'content-length': String(body.byteLength) });
              reply.raw.end(body);
            } else {
              reply.raw.writeHead(res.status, head);
              Readable.fromWeb(res.body as WebReadableStream).pipe(reply.raw);
            }
          } catch (err) {
            req.log.error({ err }, 'MCP request failed');
            if (!reply.raw.headersSent) {
              reply.raw.writeHead(500, { 'content-type': 'application/json' });
              reply.raw.end(JSON.stringify(jsonRpcErrorBody(ErrorCode.InternalError, 'internal error')));
            } else reply.raw.end();
          }
          return reply;
        }

        let sessionId: string | undefined = named;
        const header = req.headers['mcp-session-id'];
        const isInitialize =
          !!message &&
          typeof message === 'object' &&
          (message as { method?: unknown }).method === 'initialize';
        if (isInitialize) {
          // The gateway mints the session and opens it for this agent: only such a session starts clean. A header
          // naming any other id (made up, or another agent's) is decided under the agent scope, and so is a
          // request without one.
          const minted = `mcp_${crypto.randomBytes(12).toString('hex')}`;
          await engine.actions.openSession(principal.agent.id, `mcp:${minted}`);
          reply.raw.setHeader('mcp-session-id', minted);
        } else if (!sessionId && typeof header === 'string' && SESSION_ID.test(header)) {
          sessionId = `mcp:${header}`;
        }

        const server = createAgentMcpServer({
          engine,
          agent: principal.agent,
          sessionId,
          naming,
          version,
          protocolVersion: headerValue(req.headers['mcp-protocol-version']),
        });
        const transport = new StreamableHTTPServerTransport({ sessionIdGenerator: undefined });
        reply.hijack();
        const limit = setTimeout(() => void transport.close(), requestLimitMs);
        limit.unref();
        reply.raw.on('close', () => {
          clearTimeout(limit);
          void transport.close();
          void server.close();
        });
        try {
          await server.connect(transport);
          await transport.handleRequest(req.raw, reply.raw, message);
        } catch (err) {
          req.log.error({ err }, 'MCP transport failed');
          if (!reply.raw.headersSent) {
            reply.raw.writeHead(500, { 'content-type': 'application/json' });
            reply.raw.end(JSON.stringify(jsonRpcErrorBody(ErrorCode.InternalError, 'internal error')));
          } else reply.raw.end();
        }
        return reply;
      },
    });
  });
}

/** A single-valued request header, if sent. */
function headerValue(h: string | string[] | undefined): string | undefined {
  return typeof h === 'string' && h.length <= 64 ? h : undefined;
}
