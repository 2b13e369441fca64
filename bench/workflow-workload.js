// The workload of the workflows suite, shared by Autonomy OS and the DBOS Transact baseline so both do the same
// work: 3 rule-agent steps (deterministic, in-process) then 2 calls of a no-op tool on a real HTTP upstream on
// 127.0.0.1. The upstream counts its calls so the suite can check every effect arrived exactly once.
import http from 'node:http';

/** Steps in one run: 3 rule steps and 2 no-op tool calls. */
export const STEPS_PER_RUN = 5;

/** The rule agents: plain functions of their input, as a rule handler receives it (`{ input }`). */
export const rules = {
  /** Reads the document into fields. */
  'bench-classify': ({ input }) => ({
    id: String(input.id),
    amount: Number(input.amount),
    band: input.amount > 1000 ? 'high' : 'low',
  }),
  /** Checks the fields. */
  'bench-check': ({ input }) => ({ ok: input.amount > 0 && input.id.length > 0, band: input.band }),
  /** Scores the checked document. */
  'bench-score': ({ input }) => ({ score: input.ok ? (input.band === 'high' ? 2 : 1) : 0 }),
};

/** The input of run `i`. */
export const runInput = (i) => ({ id: `doc-${i}`, amount: (i * 37) % 2000 });

/**
 * The no-op upstream: `POST /ping` answers `{ ok: true }` and counts the call. Listening on a free 127.0.0.1
 * port: { url, calls(), close() }.
 */
export async function startNoop() {
  let calls = 0;
  const server = http.createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      if (req.method === 'POST' && req.url === '/ping') calls++;
      res.statusCode = req.url === '/ping' ? 200 : 404;
      res.setHeader('content-type', 'application/json');
      res.end(req.url === '/ping' ? '{"ok":true}' : '{"error":"no such route"}');
    });
  });
  server.keepAliveTimeout = 30_000;
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  return {
    url: `http://127.0.0.1:${server.address().port}`,
    calls: () => calls,
    close: () =>
      new Promise((r) => {
        server.closeAllConnections?.();
        server.close(() => r());
      }),
  };
}
