import type { FastifyInstance } from 'fastify';
import { AuthenticationError } from '@autonomy-os/core';
import type { Engine } from '@autonomy-os/core';
import { checkJsonBody } from '../body-limits.js';
import type { RequestGuards } from '../guards.js';

function header(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value;
}

/** The body as JSON, when it is JSON; otherwise the engine says what is wrong with it after the signature. */
function parsedOrUndefined(body: Buffer): unknown {
  try {
    return JSON.parse(body.toString('utf8')) as unknown;
  } catch {
    return undefined;
  }
}

/**
 * `POST /v1/hooks/workflows/:name`: starts a run of a workflow with a `webhook` trigger. No bearer token: the caller
 * proves itself with `X-Aos-Signature: sha256=<hex HMAC-SHA256 of "${X-Aos-Timestamp}.${X-Aos-Delivery}.${body}">`
 * under the workflow's webhook secret, within the trigger's tolerance of now, and names the delivery with
 * `X-Aos-Delivery` (a redelivery answers 200 with the run it started; a new one 201). Refused signatures count
 * towards the source's authentication failures like bad tokens.
 */
export function registerHookRoutes(app: FastifyInstance, engine: Engine, guards: RequestGuards): void {
  // An encapsulated scope keeps the raw bytes of the body (the signature covers them exactly) without changing how
  // every other route parses JSON.
  void app.register(async (scope) => {
    scope.removeAllContentTypeParsers();
    scope.addContentTypeParser('*', { parseAs: 'buffer' }, (_req, body, done) => done(null, body));
    scope.post('/v1/hooks/workflows/:name', async (req, reply) => {
      await guards.authFailures.check(req.ip);
      const body = Buffer.isBuffer(req.body) ? req.body : Buffer.alloc(0);
      const parsed = parsedOrUndefined(body);
      if (parsed !== undefined) checkJsonBody(parsed, guards.body, 'body');
      try {
        const { run, created } = await engine.workflows.startFromWebhook({
          workflow: (req.params as { name: string }).name,
          body,
          signature: header(req.headers['x-aos-signature']),
          delivery: header(req.headers['x-aos-delivery']),
          timestamp: header(req.headers['x-aos-timestamp']),
        });
        return await reply.code(created ? 201 : 200).send(run);
      } catch (err) {
        if (err instanceof AuthenticationError) await guards.authFailures.fail(req.ip);
        throw err;
      }
    });
  });
}
