import Fastify from 'fastify';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { AuthenticationError, Authenticator, OidcVerifier, parseDurationSec } from '@autonomy-os/core';
import type { Engine, Principal } from '@autonomy-os/core';
import { defaultConsoleDir, registerConsole } from './console-assets.js';
import { bearerOf } from './auth.js';
import { AuthFailureLimiter } from './auth-failures.js';
import { useJsonBodyParser } from './body-limits.js';
import type { RequestGuards } from './guards.js';
import { toHttpError } from './errors.js';
import { registerMcpRoutes } from './mcp/mcp-routes.js';
import { openApiDocument } from './openapi.js';
import { registerActionRoutes } from './routes/actions.js';
import { registerAdminRoutes } from './routes/admin.js';
import { registerEvalRoutes } from './routes/evals.js';
import { registerAuditRoutes } from './routes/audit.js';
import { registerPolicyRoutes } from './routes/policies.js';
import { registerApprovalRoutes } from './routes/approvals.js';
import { registerHookRoutes } from './routes/hooks.js';
import { registerCoordinationRoutes } from './routes/coordination.js';
import { registerObservabilityRoutes } from './routes/observability.js';
import { registerReportRoutes } from './routes/reports.js';
import { registerTaskRoutes } from './routes/tasks.js';
import { registerWorkflowRoutes } from './routes/workflows.js';
import { registerRunOutcomeRoutes } from './routes/run-outcomes.js';
import { registerOidcSignInRoutes } from './routes/oidc-sign-in.js';
import { registerSignInRoutes } from './routes/sign-in.js';

declare module 'fastify' {
  interface FastifyRequest {
    principal?: Principal;
    /** The security epoch a recalled principal was remembered under, for the decision to confirm. */
    principalEpoch?: number;
  }
}

/** What the HTTP server is built from. */
export interface ServerOptions {
  engine: Engine;
  version: string;
  /** Pino logger options, or false for none. */
  logger?: boolean | Record<string, unknown>;
  /** The built console's folder (default: `dist/console` of this package); false serves no console. */
  consoleDir?: string | false;
}

/** One route of the server's own route table. */
export interface ServerRoute {
  method: string;
  url: string;
}

/** A built (not yet listening) server. */
export interface AosServer {
  app: FastifyInstance;
  authenticator: Authenticator;
  /** Every route the server answers (method and URL pattern, HEAD left out), as Fastify registered them. */
  routes: readonly ServerRoute[];
  /** Starts listening; answers the base URL. */
  listen(): Promise<string>;
  close(): Promise<void>;
}

/**
 * Builds the HTTP front. Routes only translate HTTP to engine calls; authentication, policy and audit live in the
 * engine. `authenticate` is a preHandler routes opt into.
 */
export function buildServer(options: ServerOptions): AosServer {
  const { engine } = options;
  const { store, config } = engine;
  const app = Fastify({
    bodyLimit: config.server.bodyLimit,
    // Never log a credential: the Authorization header, cookies, API-key headers.
    logger: options.logger
      ? {
          redact: ['req.headers.authorization', 'req.headers.cookie', 'req.headers["x-api-key"]'],
          ...(typeof options.logger === 'object' ? options.logger : {}),
        }
      : false,
  });
  // The route table as registered (plugins included), for the authorization matrix and anything else that must
  // cover every route.
  const routes: ServerRoute[] = [];
  app.addHook('onRoute', (r) => {
    for (const method of [r.method].flat()) if (method !== 'HEAD') routes.push({ method, url: r.url });
  });
  const authenticator = new Authenticator({
    tokens: store.tokens,
    agents: store.agents,
    humans: store.humans,
    oidc: config.oidc ? new OidcVerifier(config.oidc) : undefined,
    // The node's security views read the epoch: a view of it is held for the pipeline's guards afterwards.
    epoch: () => engine.security.epoch(),
  });

  app.setErrorHandler((err, req, reply) => {
    const { status, body, headers } = toHttpError(err);
    if (status >= 500) req.log.error({ err }, 'request failed');
    else if (status === 401) req.log.info({ reason: (err as Error).message }, 'authentication failed');
    void reply
      .code(status)
      .headers(headers ?? {})
      .send(body);
  });
  const notFound = (req: FastifyRequest, reply: FastifyReply) => {
    void reply.code(404).send({ error: { code: 'not_found', message: `no route ${req.method} ${req.url}` } });
  };
  // The console at `/`, with its client routes falling back to index.html; API paths keep the JSON 404.
  registerConsole(app, options.consoleDir ?? defaultConsoleDir(), notFound);

  const guards: RequestGuards = {
    authFailures: new AuthFailureLimiter({
      max: config.server.authFailures.max,
      windowSec: parseDurationSec(config.server.authFailures.window, 'config.server.authFailures.window'),
    }),
    body: { bodyLimit: config.server.bodyLimit, maxDepth: config.server.bodyMaxDepth },
  };
  // JSON only: anything else is 415, not a string body for the engine to puzzle over.
  app.removeContentTypeParser('text/plain');
  useJsonBodyParser(app, guards.body);
  app.decorateRequest('principal', undefined);
  app.decorateRequest('principalEpoch', undefined);
  const authenticate = async (req: FastifyRequest) => {
    await guards.authFailures.check(req.ip);
    req.principalEpoch = undefined;
    try {
      req.principal = await authenticator.authenticate(bearerOf(req));
    } catch (err) {
      if (err instanceof AuthenticationError) await guards.authFailures.fail(req.ip);
      throw err;
    }
  };
  // A governed call: the token's remembered principal without the epoch's round trip, which the decision makes
  // anyway and confirms the principal with (the route authenticates again when it moved). Only an agent's: a human
  // cannot submit, so no decision would confirm theirs (a revoked human token must get 401, not 403).
  const recall = async (req: FastifyRequest) => {
    await guards.authFailures.check(req.ip);
    const recalled = authenticator.recall(bearerOf(req));
    if (recalled?.principal.kind !== 'agent') return authenticate(req);
    req.principal = recalled.principal;
    req.principalEpoch = recalled.epoch;
  };

  app.get('/healthz', async () => {
    await store.db.get('SELECT 1 AS ok');
    return { status: 'ok', version: options.version, store: store.db.dialect };
  });

  app.get('/v1/whoami', { preHandler: authenticate }, async (req) => {
    const p = req.principal as Principal;
    return p.kind === 'agent'
      ? {
          kind: p.kind,
          id: p.id,
          via: p.via,
          role: p.agent.role,
          tier: p.agent.tier,
          owner: p.agent.owner,
          status: p.agent.status,
        }
      : { kind: p.kind, id: p.id, via: p.via, groups: p.human.groups };
  });

  app.get('/v1/openapi.json', async () => openApiDocument(options.version));
  registerActionRoutes(app, engine, authenticate, recall);
  registerApprovalRoutes(app, engine, authenticate);
  registerSignInRoutes(app, engine, authenticate, guards);
  registerOidcSignInRoutes(app, engine, guards);
  registerAdminRoutes(app, engine, authenticate);
  registerEvalRoutes(app, engine, authenticate);
  registerAuditRoutes(app, engine, authenticate);
  registerPolicyRoutes(app, engine, authenticate);
  registerObservabilityRoutes(app, engine, authenticate);
  registerReportRoutes(app, engine, authenticate);
  registerWorkflowRoutes(app, engine, authenticate);
  registerRunOutcomeRoutes(app, engine, authenticate);
  registerHookRoutes(app, engine, guards);
  registerCoordinationRoutes(app, engine, authenticate);
  registerTaskRoutes(app, engine, authenticate);
  registerMcpRoutes(app, engine, authenticator, options.version, guards);

  return {
    app,
    authenticator,
    routes,
    async listen() {
      return app.listen({ host: config.server.host, port: config.server.port });
    },
    close: () => app.close(),
  };
}
