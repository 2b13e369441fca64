#!/usr/bin/env node
// The demo's ERP: a stand-in for a remote ERP (outside the product), with its own SQLite database so every effect can
// be inspected: invoice postings and voids, vendor notifications, orders and refunds. Every request is logged in the
// `requests` table; the API key is the one the control plane injects from its secret store (agents never hold it).
//   node erp.mjs [port] [db-file]       (ERP_API_KEY, default "sk_demo_erp_000000000000000000")
//   sqlite3 .aos-demo/upstreams/erp.db 'SELECT * FROM invoices'
import { fileURLToPath } from 'node:url';
import { openApiDocument, openUpstreamDb, operation, serveUpstream } from './http-upstream.mjs';

const SCHEMA = `
CREATE TABLE IF NOT EXISTS invoices (
  invoice_id TEXT PRIMARY KEY,
  vendor TEXT NOT NULL,
  amount REAL NOT NULL,
  currency TEXT,
  status TEXT NOT NULL,
  entry TEXT NOT NULL,
  posted_at TEXT NOT NULL,
  voided_at TEXT
);
CREATE TABLE IF NOT EXISTS notifications (
  id INTEGER PRIMARY KEY AUTOINCREMENT, recipient TEXT NOT NULL, message TEXT NOT NULL, at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS refunds (
  refund_id TEXT PRIMARY KEY, order_id TEXT NOT NULL, amount REAL NOT NULL, note TEXT, status TEXT NOT NULL,
  at TEXT NOT NULL
);`;

/** Vendors the ERP has no contact address for: notifying them fails (the demo's compensation case). */
const UNREACHABLE_VENDORS = new Set(['initech']);

/** An order of the demo shop: `o-<n>` exists for every n, with a total derived from n (deterministic). */
function order(orderId) {
  const m = /^o-(\d{1,6})$/.exec(orderId);
  if (!m) return undefined;
  const n = Number(m[1]);
  return {
    orderId,
    customer: `c-${(n * 7) % 100}`,
    total: 40 + ((n * 37) % 960),
    currency: 'EUR',
    status: 'delivered',
  };
}

const id = { type: 'string', pattern: '^[A-Za-z0-9-]{1,40}$' };

const invoiceBody = {
  type: 'object',
  properties: {
    vendor: { type: 'string' },
    amount: { type: 'number', exclusiveMinimum: 0 },
    currency: { type: 'string' },
  },
  required: ['vendor', 'amount'],
  additionalProperties: false,
};

/**
 * The OpenAPI document the ERP serves at /openapi.json. The control plane's `erp` connector (`type: openapi` in
 * aos.yaml) builds its tools from it: one per operation, named by operationId.
 */
export const ERP_OPENAPI = openApiDocument('Demo ERP', {
  '/orders/{orderId}': {
    get: operation('get_order', 'Look up an order', { params: [{ name: 'orderId', schema: id }] }),
  },
  '/invoices/{invoiceId}/post': {
    post: operation('post_invoice', 'Post an invoice to the ledger', {
      params: [{ name: 'invoiceId', schema: id }],
      body: invoiceBody,
    }),
  },
  '/invoices/{invoiceId}/void': {
    post: operation('void_invoice', 'Void a posted invoice', { params: ['invoiceId'] }),
  },
  '/notifications': {
    post: operation('notify', 'Notify a vendor', {
      body: {
        type: 'object',
        properties: { to: { type: 'string' }, message: { type: 'string' } },
        required: ['to', 'message'],
        additionalProperties: false,
      },
    }),
  },
  '/refunds': {
    post: operation('refund', 'Refund part or all of an order', {
      body: {
        type: 'object',
        properties: {
          orderId: id,
          amount: { type: 'number', exclusiveMinimum: 0, maximum: 100000 },
          note: { type: 'string', maxLength: 500 },
        },
        required: ['orderId', 'amount'],
        additionalProperties: false,
      },
    }),
  },
});

/**
 * Starts the ERP on 127.0.0.1 (`port` 0 picks a free one) with its database in `dbFile`.
 * @returns {Promise<{ url: string, db: import('better-sqlite3').Database, close: () => Promise<void> }>}
 */
export async function startErp({ dbFile, apiKey, port = 0 }) {
  const db = openUpstreamDb(dbFile, SCHEMA);
  const now = () => new Date().toISOString();
  const q = {
    invoice: db.prepare('SELECT * FROM invoices WHERE invoice_id = ?'),
    post: db.prepare(
      `INSERT INTO invoices (invoice_id, vendor, amount, currency, status, entry, posted_at)
       VALUES (?, ?, ?, ?, 'posted', ?, ?)`,
    ),
    entries: db.prepare('SELECT COUNT(*) AS n FROM invoices'),
    void: db.prepare("UPDATE invoices SET status = 'voided', voided_at = ? WHERE invoice_id = ?"),
    notify: db.prepare('INSERT INTO notifications (recipient, message, at) VALUES (?, ?, ?)'),
    refunds: db.prepare('SELECT COUNT(*) AS n FROM refunds'),
    refund: db.prepare(
      "INSERT INTO refunds (refund_id, order_id, amount, note, status, at) VALUES (?, ?, ?, ?, 'refunded', ?)",
    ),
  };
  const route = (req, url, body) => {
    let m;
    if (req.method === 'GET' && (m = /^\/orders\/([^/]+)$/.exec(url.pathname))) {
      const o = order(decodeURIComponent(m[1]));
      return o ? [200, o] : [404, { error: 'no such order' }];
    }
    if (req.method === 'POST' && (m = /^\/invoices\/([^/]+)\/post$/.exec(url.pathname))) {
      const id = decodeURIComponent(m[1]);
      // A ledger refuses a second posting of the same invoice: a repeated effect would show here as a 409.
      if (q.invoice.get(id)) return [409, { error: `invoice ${id} is already posted` }];
      if (typeof body.vendor !== 'string' || typeof body.amount !== 'number')
        return [400, { error: 'vendor and amount are required' }];
      const entry = `je_${q.entries.get().n + 1}`;
      q.post.run(id, body.vendor, body.amount, body.currency ?? null, entry, now());
      return [201, { invoiceId: id, status: 'posted', entry }];
    }
    if (req.method === 'POST' && (m = /^\/invoices\/([^/]+)\/void$/.exec(url.pathname))) {
      const id = decodeURIComponent(m[1]);
      if (!q.invoice.get(id)) return [404, { error: 'no such invoice' }];
      q.void.run(now(), id);
      return [200, { invoiceId: id, status: 'voided' }];
    }
    if (req.method === 'POST' && url.pathname === '/notifications') {
      if (UNREACHABLE_VENDORS.has(body.to))
        return [422, { error: `no contact address on file for vendor ${body.to}` }];
      q.notify.run(String(body.to), String(body.message), now());
      return [202, { sent: true }];
    }
    if (req.method === 'POST' && url.pathname === '/refunds') {
      const o = order(String(body.orderId));
      if (!o) return [404, { error: 'no such order' }];
      if (!(body.amount > 0) || body.amount > o.total)
        return [422, { error: 'amount must be positive and at most the order total' }];
      const refundId = `rf_${q.refunds.get().n + 1}`;
      q.refund.run(refundId, o.orderId, body.amount, body.note ?? null, now());
      return [201, { refundId, orderId: o.orderId, amount: body.amount, status: 'refunded' }];
    }
    return undefined;
  };
  const served = await serveUpstream({ db, apiKey, openapi: ERP_OPENAPI, route, port });
  return {
    url: served.url,
    db,
    async close() {
      await served.close();
      db.close();
    },
  };
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const erp = await startErp({
    port: Number(process.argv[2] ?? 7441),
    dbFile: process.argv[3] ?? 'erp.db',
    apiKey: process.env.ERP_API_KEY ?? 'sk_demo_erp_000000000000000000',
  });
  process.stdout.write(`ERP upstream on ${erp.url} (OpenAPI: ${erp.url}/openapi.json)\n`);
}
