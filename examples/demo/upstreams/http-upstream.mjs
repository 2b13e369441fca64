// What the demo's HTTP upstreams (the ERP and the feature-flag service) share: a SQLite database of their own, an
// API key check, a log of every request in the database (so a person or a test can count what reached the upstream)
// and an OpenAPI document at /openapi.json.
import http from 'node:http';
import Database from 'better-sqlite3';

/**
 * Opens (creating) the upstream's database with the `requests` log table and the schema given.
 * @param {string} file the SQLite file
 * @param {string} schema SQL run once to create the upstream's own tables
 */
export function openUpstreamDb(file, schema) {
  const db = new Database(file);
  db.pragma('journal_mode = WAL');
  db.exec(`CREATE TABLE IF NOT EXISTS requests (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    method TEXT NOT NULL,
    path TEXT NOT NULL,
    status INTEGER NOT NULL,
    body TEXT,
    at TEXT NOT NULL
  );
  ${schema}`);
  return db;
}

/**
 * Starts an HTTP upstream on 127.0.0.1. `route(req, url, body)` answers `[status, object]` or undefined (404).
 * `/openapi.json` is served without a key (it describes the API; it does not use it).
 * @returns {Promise<{ url: string, server: http.Server, close: () => Promise<void> }>}
 */
export function serveUpstream({ db, apiKey, openapi, route, port = 0 }) {
  const log = db.prepare('INSERT INTO requests (method, path, status, body, at) VALUES (?, ?, ?, ?, ?)');
  const server = http.createServer((req, res) => {
    let text = '';
    req.on('data', (c) => (text += c));
    req.on('end', () => {
      const url = new URL(req.url ?? '/', 'http://127.0.0.1');
      const send = (status, obj) => {
        res.statusCode = status;
        res.setHeader('content-type', 'application/json');
        res.end(JSON.stringify(obj));
      };
      if (req.method === 'GET' && url.pathname === '/openapi.json') return send(200, openapi);
      if (req.headers['x-api-key'] !== apiKey) return send(401, { error: 'missing or wrong API key' });
      let body = {};
      try {
        body = text ? JSON.parse(text) : {};
      } catch {
        return send(400, { error: 'body is not JSON' });
      }
      let answer;
      try {
        answer = db.transaction(() => {
          const a = route(req, url, body) ?? [404, { error: 'no such route' }];
          log.run(req.method, url.pathname, a[0], text || null, new Date().toISOString());
          return a;
        })();
      } catch (err) {
        answer = [500, { error: String(err?.message ?? err) }];
      }
      send(answer[0], answer[1]);
    });
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => {
      const { port: p } = server.address();
      resolve({
        url: `http://127.0.0.1:${p}`,
        server,
        close: () =>
          new Promise((r) => {
            server.closeAllConnections?.();
            server.close(() => r());
          }),
      });
    });
  });
}

/**
 * A JSON-bodied OpenAPI 3.1 operation, for the documents the upstreams serve. `params` are path parameters: names
 * (string schema) or `{ name, schema }`.
 */
export function operation(operationId, summary, { params = [], body, response = { type: 'object' } } = {}) {
  return {
    operationId,
    summary,
    ...(params.length
      ? {
          parameters: params.map((p) => ({
            name: typeof p === 'string' ? p : p.name,
            in: 'path',
            required: true,
            schema: typeof p === 'string' ? { type: 'string' } : p.schema,
          })),
        }
      : {}),
    ...(body ? { requestBody: { required: true, content: { 'application/json': { schema: body } } } } : {}),
    responses: { 200: { description: 'OK', content: { 'application/json': { schema: response } } } },
    security: [{ apiKey: [] }],
  };
}

/** The frame of an OpenAPI document with an `x-api-key` scheme. */
export function openApiDocument(title, paths) {
  return {
    openapi: '3.1.0',
    info: { title, version: '1.0.0' },
    components: { securitySchemes: { apiKey: { type: 'apiKey', in: 'header', name: 'x-api-key' } } },
    paths,
  };
}
