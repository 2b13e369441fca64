#!/usr/bin/env node
// A stand-in for a remote ERP (outside the product, so a test double is fair): posts and voids invoices, and sends
// notifications, which can be told to fail. It counts every call and checks the API key the control plane injects,
// so tests can prove an effect reached the upstream exactly once.
//   node erp-server.mjs [port]      (default 7432; ERP_API_KEY, default "sk_test_erp_key_00000000000000")
import http from 'node:http';
import { fileURLToPath } from 'node:url';

/**
 * Creates the server (not listening). `state.calls` counts requests per route and `state.log` lists them (route,
 * path, time, body); `state.failNotify` makes notify fail, `state.failNotifyTo` only for the vendors it holds;
 * `state.delayMs` delays every answer (a slow ERP, so runs are caught mid-way).
 */
export function createErpServer({
  apiKey = process.env.ERP_API_KEY ?? 'sk_test_erp_key_00000000000000',
} = {}) {
  const state = {
    calls: {},
    log: [],
    invoices: new Map(),
    failNotify: false,
    failNotifyTo: new Set(),
    delayMs: 0,
  };
  const server = http.createServer((req, res) => {
    let body = '';
    req.on('data', (c) => (body += c));
    req.on('end', () => {
      const send = (status, obj) => {
        res.statusCode = status;
        res.setHeader('content-type', 'application/json');
        if (state.delayMs > 0) setTimeout(() => res.end(JSON.stringify(obj)), state.delayMs);
        else res.end(JSON.stringify(obj));
      };
      const url = new URL(req.url ?? '/', 'http://localhost');
      if (req.headers['x-api-key'] !== apiKey) return send(401, { error: 'missing or wrong API key' });
      const route = `${req.method} ${url.pathname.replace(/^\/invoices\/[^/]+/, '/invoices/:id')}`;
      state.calls[route] = (state.calls[route] ?? 0) + 1;
      const input = body ? JSON.parse(body) : {};
      state.log.push({ route, path: url.pathname, at: Date.now(), body: input });
      let m;
      if (req.method === 'POST' && (m = /^\/invoices\/([^/]+)\/post$/.exec(url.pathname))) {
        const id = decodeURIComponent(m[1]);
        const entry = `je_${state.invoices.size + 1}`;
        state.invoices.set(id, { ...input, status: 'posted', entry });
        return send(201, { invoiceId: id, status: 'posted', entry });
      }
      if (req.method === 'POST' && (m = /^\/invoices\/([^/]+)\/void$/.exec(url.pathname))) {
        const inv = state.invoices.get(decodeURIComponent(m[1]));
        if (!inv) return send(404, { error: 'no such invoice' });
        inv.status = 'voided';
        return send(200, { invoiceId: m[1], status: 'voided' });
      }
      if (req.method === 'POST' && url.pathname === '/notifications') {
        if (state.failNotify || state.failNotifyTo.has(input.to))
          return send(503, { error: 'notification service unavailable' });
        return send(202, { sent: true });
      }
      return send(404, { error: 'no such route' });
    });
  });
  return { server, state };
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const port = Number(process.argv[2] ?? process.env.PORT ?? 7432);
  const { server } = createErpServer();
  server.listen(port, '127.0.0.1', () => process.stdout.write(`ERP upstream on http://127.0.0.1:${port}\n`));
}
