import crypto from 'node:crypto';
import type { FastifyInstance, FastifyReply, FastifyRequest, preHandlerAsyncHookHandler } from 'fastify';
import { Counter, Gauge, Registry, collectDefaultMetrics } from 'prom-client';
import { parseInput, resolveSecretRefs } from '@autonomy-os/core';
import type { AosConfig, AosEvent, Engine } from '@autonomy-os/core';
import { bearerOf, requireHuman } from '../auth.js';
import { listQueries } from './list-queries.js';
import { registerGovernanceMetrics } from './governance-metrics.js';

/** Addresses only this machine can reach: a server bound to one serves metrics without a token by default. */
const LOOPBACK = /^(?:localhost|127(?:\.\d{1,3}){3}|::1|\[::1\])$/i;

/** Whether `GET /metrics` needs a token under `config`. */
export function metricsNeedAuth(config: AosConfig): boolean {
  const { auth } = config.server.metrics;
  return auth === 'required' || (auth === 'auto' && !LOOPBACK.test(config.server.host));
}

function sameSecret(a: string, b: string): boolean {
  // Compare digests, so neither the length nor the content of the token leaks through timing.
  const da = crypto.createHash('sha256').update(a).digest();
  const db = crypto.createHash('sha256').update(b).digest();
  return crypto.timingSafeEqual(da, db);
}

/** Event types worth counting, by their first segment. */
const COUNTED = /^(action|approval|tool|budget|killswitch|escalation|workflow|run)\./;

/**
 * `GET /v1/events` (Server-Sent Events, humans) and `GET /metrics` (Prometheus). Both are views of the engine's event
 * bus; the durable record stays the audit log.
 */
export function registerObservabilityRoutes(
  app: FastifyInstance,
  engine: Engine,
  authenticate: preHandlerAsyncHookHandler,
): void {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'aos_process_' });
  const events = new Counter({
    name: 'aos_events_total',
    help: 'Engine events by type',
    labelNames: ['type'],
    registers: [registry],
  });
  new Gauge({
    name: 'aos_approvals_pending',
    help: 'Approval requests waiting for a decision',
    registers: [registry],
    async collect() {
      this.set(await engine.approvals.count('pending'));
    },
  });
  new Gauge({
    name: 'aos_killswitches_engaged',
    help: 'Kill switches engaged',
    registers: [registry],
    async collect() {
      this.set((await engine.killSwitches.list()).filter((k) => k.active).length);
    },
  });
  new Counter({
    name: 'aos_background_errors_total',
    help: 'Errors the background loops (tick, workflow scheduler, schedules, task lease expiry) survived, by loop',
    labelNames: ['loop'],
    registers: [registry],
    collect() {
      this.reset();
      for (const [loop, n] of Object.entries(engine.backgroundErrors.counts())) this.inc({ loop }, n);
    },
  });
  const stopGovernance = registerGovernanceMetrics(registry, engine);
  const unsubscribe = engine.events.subscribe((e) => {
    if (COUNTED.test(e.type)) events.inc({ type: e.type });
  });
  // Open streams end when the server closes; otherwise close() would wait for them forever.
  const streams = new Set<() => void>();
  app.addHook('onClose', async () => {
    unsubscribe();
    stopGovernance();
    for (const end of [...streams]) end();
  });

  /**
   * When metrics need authentication: the configured metrics token, or the token of a human in admins or auditors
   * (401 without a valid token, 403 for anyone else).
   */
  const metricsGuard = async (req: FastifyRequest, reply: FastifyReply) => {
    if (!metricsNeedAuth(engine.config)) return;
    const ref = engine.config.server.metrics.token;
    const given = bearerOf(req);
    if (ref && given) {
      let token: string | undefined;
      try {
        token = await resolveSecretRefs(ref, engine.secrets, { field: 'config.server.metrics.token' });
      } catch (err) {
        req.log.warn({ reason: (err as Error).message }, 'metrics token unavailable');
      }
      if (token !== undefined && sameSecret(given, token)) return;
    }
    await authenticate.call(app, req, reply);
    requireHuman(req, ['admins', 'auditors'], 'reading metrics');
  };

  app.get('/metrics', { preHandler: metricsGuard }, async (_req, reply) => {
    void reply.header('content-type', registry.contentType);
    return registry.metrics();
  });

  app.get('/v1/events', { preHandler: authenticate }, (req, reply) => {
    requireHuman(req, undefined, 'the event stream');
    const q = parseInput(listQueries.events, req.query ?? {});
    const types = q.types?.split(',');
    reply.hijack();
    const res = reply.raw;
    res.writeHead(200, {
      'content-type': 'text/event-stream',
      'cache-control': 'no-cache',
      connection: 'keep-alive',
      'x-accel-buffering': 'no',
    });
    res.write(': aos event stream\n\n');
    let id = 0;
    const send = (e: AosEvent) => {
      if (types && !types.some((t) => e.type === t || e.type.startsWith(`${t}.`))) return;
      res.write(`id: ${++id}\nevent: ${e.type}\ndata: ${JSON.stringify(e)}\n\n`);
    };
    const off = engine.events.subscribe(send);
    const ping = setInterval(() => res.write(': ping\n\n'), 15_000);
    const close = () => {
      clearInterval(ping);
      off();
      streams.delete(close);
      if (!res.writableEnded) res.end();
    };
    streams.add(close);
    req.raw.on('close', close);
  });
}
