#!/usr/bin/env node
// The demo's ticketing system: an MCP server built on the official SDK, over Streamable HTTP (stateless), with its
// own SQLite database of tickets, the customers' messages and the agents' replies. A stand-in for a helpdesk SaaS.
// The structured fields of a ticket come from the helpdesk's web form (validated: trusted); the messages are what
// customers wrote (untrusted: the tool says so with openWorldHint, and reading one taints the agent's session).
//   node tickets.mjs [port] [db-file]   (TICKETS_API_KEY, default "sk_demo_tickets_000000000000000")
//   sqlite3 .aos-demo/upstreams/tickets.db 'SELECT * FROM replies'
import http from 'node:http';
import { fileURLToPath } from 'node:url';
import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import { z } from 'zod';
import { openUpstreamDb } from './http-upstream.mjs';

const SCHEMA = `
CREATE TABLE IF NOT EXISTS tickets (
  ticket_id TEXT PRIMARY KEY, customer TEXT NOT NULL, order_id TEXT NOT NULL, category TEXT NOT NULL,
  requested_refund REAL, subject TEXT NOT NULL, status TEXT NOT NULL, created_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS messages (
  id INTEGER PRIMARY KEY AUTOINCREMENT, ticket_id TEXT NOT NULL, author TEXT NOT NULL, body TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS replies (
  id INTEGER PRIMARY KEY AUTOINCREMENT, ticket_id TEXT NOT NULL, kind TEXT NOT NULL, body TEXT NOT NULL,
  at TEXT NOT NULL
);`;

const ticketId = z.string().regex(/^[A-Za-z0-9-]{1,40}$/);
const json = (value) => ({
  content: [{ type: 'text', text: JSON.stringify(value) }],
  structuredContent: value,
});
const fail = (text) => ({ content: [{ type: 'text', text }], isError: true });

/** Builds one MCP server over the database (stateless: one per request, as the SDK's stateless example does). */
function mcpServer(db) {
  const q = {
    ticket: db.prepare('SELECT * FROM tickets WHERE ticket_id = ?'),
    messages: db.prepare('SELECT author, body FROM messages WHERE ticket_id = ? ORDER BY id'),
    reply: db.prepare('INSERT INTO replies (ticket_id, kind, body, at) VALUES (?, ?, ?, ?)'),
    status: db.prepare('UPDATE tickets SET status = ? WHERE ticket_id = ?'),
  };
  const server = new McpServer({ name: 'demo-tickets', version: '1.0.0' });
  server.registerTool(
    'get_ticket',
    {
      description: "A ticket's form fields: customer, order, category, requested refund, status",
      inputSchema: { ticketId },
      annotations: { readOnlyHint: true, idempotentHint: true, openWorldHint: false },
    },
    async ({ ticketId: id }) => {
      const t = q.ticket.get(id);
      if (!t) return fail(`no ticket ${id}`);
      return json({
        ticketId: t.ticket_id,
        customer: t.customer,
        orderId: t.order_id,
        category: t.category,
        requestedRefund: t.requested_refund,
        subject: t.subject,
        status: t.status,
      });
    },
  );
  server.registerTool(
    'read_messages',
    {
      description: 'The messages of a ticket, as the customer wrote them',
      inputSchema: { ticketId },
      // Customer-written text: content a third party controls.
      annotations: { readOnlyHint: true, idempotentHint: true, openWorldHint: true },
    },
    async ({ ticketId: id }) => {
      if (!q.ticket.get(id)) return fail(`no ticket ${id}`);
      return json({ ticketId: id, messages: q.messages.all(id) });
    },
  );
  for (const [name, kind, status, description] of [
    ['reply', 'reply', 'resolved', 'Answer the customer and resolve the ticket'],
    ['escalate', 'escalation', 'escalated', 'Hand the ticket to a human in the support team'],
  ]) {
    server.registerTool(
      name,
      {
        description,
        inputSchema: { ticketId, message: z.string().min(1).max(2000) },
        annotations: {
          readOnlyHint: false,
          destructiveHint: false,
          idempotentHint: false,
          openWorldHint: false,
        },
      },
      async ({ ticketId: id, message }) => {
        if (!q.ticket.get(id)) return fail(`no ticket ${id}`);
        db.transaction(() => {
          q.reply.run(id, kind, message, new Date().toISOString());
          q.status.run(status, id);
        })();
        return json({ ticketId: id, status });
      },
    );
  }
  return server;
}

/**
 * Starts the ticketing system's MCP endpoint at `<url>/mcp` on 127.0.0.1 (`port` 0 picks a free one). `open(ticket)`
 * files a ticket as the helpdesk's web form would (a no-op when the id exists).
 */
export async function startTickets({ dbFile, apiKey, port = 0 }) {
  const db = openUpstreamDb(dbFile, SCHEMA);
  const insertTicket = db.prepare(
    `INSERT OR IGNORE INTO tickets (ticket_id, customer, order_id, category, requested_refund, subject, status,
     created_at) VALUES (?, ?, ?, ?, ?, ?, 'open', ?)`,
  );
  const insertMessage = db.prepare('INSERT INTO messages (ticket_id, author, body) VALUES (?, ?, ?)');
  const logRequest = db.prepare(
    'INSERT INTO requests (method, path, status, body, at) VALUES (?, ?, ?, ?, ?)',
  );
  const server = http.createServer((req, res) => {
    let text = '';
    req.on('data', (c) => (text += c));
    req.on('end', () => {
      const url = new URL(req.url ?? '/', 'http://127.0.0.1');
      const refuse = (status, message) => {
        res.statusCode = status;
        res.setHeader('content-type', 'application/json');
        res.end(JSON.stringify({ jsonrpc: '2.0', error: { code: -32001, message }, id: null }));
      };
      if (url.pathname !== '/mcp') return refuse(404, 'no such route');
      if (req.headers.authorization !== `Bearer ${apiKey}`) return refuse(401, 'missing or wrong API key');
      let body;
      try {
        body = text ? JSON.parse(text) : undefined;
      } catch {
        return refuse(400, 'body is not JSON');
      }
      logRequest.run(req.method, url.pathname, 200, text || null, new Date().toISOString());
      const mcp = mcpServer(db);
      const transport = new StreamableHTTPServerTransport({
        sessionIdGenerator: undefined,
        enableJsonResponse: true,
      });
      res.on('close', () => {
        void transport.close();
        void mcp.close();
      });
      mcp
        .connect(transport)
        .then(() => transport.handleRequest(req, res, body))
        .catch((err) => {
          if (!res.headersSent) refuse(500, String(err?.message ?? err));
        });
    });
  });
  await new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', resolve);
  });
  const url = `http://127.0.0.1:${server.address().port}`;
  return {
    url,
    db,
    open(t) {
      db.transaction(() => {
        const created = insertTicket.run(
          t.ticketId,
          t.customer,
          t.orderId,
          t.category,
          t.requestedRefund ?? null,
          t.subject,
          new Date().toISOString(),
        );
        if (created.changes) for (const m of t.messages ?? []) insertMessage.run(t.ticketId, t.customer, m);
      })();
    },
    async close() {
      server.closeAllConnections?.();
      await new Promise((r) => server.close(() => r()));
      db.close();
    },
  };
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const tickets = await startTickets({
    port: Number(process.argv[2] ?? 7443),
    dbFile: process.argv[3] ?? 'tickets.db',
    apiKey: process.env.TICKETS_API_KEY ?? 'sk_demo_tickets_000000000000000',
  });
  process.stdout.write(`ticketing MCP server on ${tickets.url}/mcp\n`);
}
