#!/usr/bin/env node
// A stand-in for a remote payments SaaS (outside the product, so a test double is fair): orders, refunds and their
// reversal, customer deletion. It counts every call and checks the API key the control plane injects, so tests can
// prove an upstream effect happened exactly once and that agents never hold the credential.
//   node payments-server.mjs [port]      (default 7431; PAYMENTS_API_KEY, default "sk_test_payments_key_0000000000")
import http from 'node:http';
import { fileURLToPath } from 'node:url';

/** Creates the server (not listening). `state.calls` counts requests per route; `state.log` keeps them in order. */
export function createPaymentsServer({
  apiKey = process.env.PAYMENTS_API_KEY ?? 'sk_test_payments_key_0000000000',
  delayMs = 0,
} = {}) {
  const state = { calls: {}, log: [], refunds: new Map(), nextRefund: 1 };
  const count = (route) => (state.calls[route] = (state.calls[route] ?? 0) + 1);
  const server = http.createServer((req, res) => {
    let body = '';
    req.on('data', (c) => (body += c));
    req.on('end', () => {
      const send = (status, obj) => {
        res.statusCode = status;
        res.setHeader('content-type', 'application/json');
        res.end(JSON.stringify(obj));
      };
      const url = new URL(req.url ?? '/', 'http://localhost');
      if (url.pathname === '/_calls') return send(200, { calls: state.calls, log: state.log });
      if (req.headers['x-api-key'] !== apiKey) return send(401, { error: 'missing or wrong API key' });
      const route = `${req.method} ${url.pathname.replace(/\/[^/]*\d[^/]*/g, '/:id')}`;
      count(route);
      // Which credential arrived, so tests can prove an agent's own token is never forwarded upstream.
      state.log.push({
        route,
        at: Date.now(),
        body: body ? JSON.parse(body) : null,
        authorization: req.headers.authorization ?? null,
        traceparent: req.headers.traceparent ?? null,
      });
      const reply = () => {
        let m;
        if (req.method === 'GET' && (m = /^\/orders\/([^/]+)$/.exec(url.pathname))) {
          return send(200, {
            orderId: decodeURIComponent(m[1]),
            customer: 'c-42',
            total: 420,
            currency: 'EUR',
            status: 'delivered',
          });
        }
        if (req.method === 'POST' && url.pathname === '/refunds') {
          const input = JSON.parse(body || '{}');
          const refundId = `rf_${state.nextRefund++}`;
          state.refunds.set(refundId, { ...input, status: 'refunded' });
          return send(201, { refundId, orderId: input.orderId, amount: input.amount, status: 'refunded' });
        }
        if (req.method === 'POST' && (m = /^\/refunds\/([^/]+)\/reverse$/.exec(url.pathname))) {
          const r = state.refunds.get(decodeURIComponent(m[1]));
          if (!r) return send(404, { error: 'no such refund' });
          r.status = 'reversed';
          return send(200, { refundId: m[1], status: 'reversed' });
        }
        if (req.method === 'DELETE' && (m = /^\/customers\/([^/]+)$/.exec(url.pathname))) {
          return send(200, { customerId: m[1], deleted: true });
        }
        return send(404, { error: 'no such route' });
      };
      if (delayMs) setTimeout(reply, delayMs);
      else reply();
    });
  });
  return { server, state };
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const port = Number(process.argv[2] ?? process.env.PORT ?? 7431);
  const { server } = createPaymentsServer();
  server.listen(port, '127.0.0.1', () =>
    process.stdout.write(`payments upstream on http://127.0.0.1:${port}\n`),
  );
}
