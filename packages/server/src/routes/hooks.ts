import type { FastifyInstance } from 'fastify';
import type { Engine } from '@autonomy-os/core';

function header(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value;
}

/**
 * `POST /v1/hooks/workflows/:name`: starts a run of a workflow with a `webhook` trigger. No bearer token: the caller
 * proves itself with `X-Aos-Signature: sha256=<hex HMAC-SHA256 of the raw body>` under the workflow's webhook secret,
 * and names the delivery with `X-Aos-Delivery` (a redelivery answers 200 with the run it started; a new one 201).
 */
export function registerHookRoutes(app: FastifyInstance, engine: Engine): void {
  // An encapsulated scope keeps the raw bytes of the body (the signature covers them exactly) without changing how
  // every other route parses JSON.
  void app.register(async (scope) => {
    scope.removeAllContentTypeParsers();
    scope.addContentTypeParser('*', { parseAs: 'buffer' }, (_req, body, done) => done(null, body));
    scope.post('/v1/hooks/workflows/:name', async (req, reply) => {
      const { run, created } = await engine.workflows.startFromWebhook({
        workflow: (req.params as { name: string }).name,
        body: Buffer.isBuffer(req.body) ? req.body : Buffer.alloc(0),
        signature: header(req.headers['x-aos-signature']),
        delivery: header(req.headers['x-aos-delivery']),
      });
      return reply.code(created ? 201 : 200).send(run);
    });
  });
}
