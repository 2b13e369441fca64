// The closed-loop load generator of the gateway suite, run in a process of its own so that its work is not counted
// in the governed server's event loop. It reads one job a line (JSON) on stdin and answers one result a line on
// stdout: `concurrency` loops each send a request, await its answer and check it, then send the next, until `n`
// requests are done. Requests use Node's fetch (undici, keep-alive). `__SEQ__` in the URL or body is replaced by a
// number unique within this process, so no answer can come from a cache.
import readline from 'node:readline';

const { fetch } = globalThis;

/** Throws unless the answer is what a successful call of this kind looks like. */
async function check(res, kind) {
  const text = await res.text();
  if (res.status < 200 || res.status >= 300) throw new Error(`HTTP ${res.status} ${text.slice(0, 300)}`);
  if (kind === 'action') {
    const body = JSON.parse(text);
    if (body.outcome !== 'allowed' || body.status !== 'succeeded') {
      throw new Error(`action ${body.outcome}/${body.status} ${text.slice(0, 300)}`);
    }
  } else if (kind === 'mcp') {
    const data = text.startsWith('{')
      ? text
      : (text.split('\n').find((l) => l.startsWith('data: ')) ?? '').slice(6);
    const body = JSON.parse(data);
    if (!body.result || body.result.isError) throw new Error(`tools/call ${data.slice(0, 300)}`);
  }
}

let seq = 0;

async function runJob({ url, method = 'GET', headers = {}, body, kind = 'http', n, concurrency }) {
  const samples = new Float64Array(n);
  let next = 0;
  const start = process.hrtime.bigint();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < n) {
        const i = next++;
        const s = String(seq++);
        const t0 = process.hrtime.bigint();
        const res = await fetch(url.replaceAll('__SEQ__', s), {
          method,
          headers,
          body: body === undefined ? undefined : body.replaceAll('__SEQ__', s),
        });
        await check(res, kind);
        samples[i] = Number(process.hrtime.bigint() - t0) / 1e3;
      }
    }),
  );
  const seconds = Number(process.hrtime.bigint() - start) / 1e9;
  samples.sort();
  const at = (q) => samples[Math.min(n - 1, Math.floor(q * n))];
  return { n, seconds, perSecond: n / seconds, p50: at(0.5), p99: at(0.99) };
}

const lines = readline.createInterface({ input: process.stdin });
for await (const line of lines) {
  if (!line.trim()) continue;
  let answer;
  try {
    answer = { ok: true, ...(await runJob(JSON.parse(line))) };
  } catch (err) {
    answer = { ok: false, error: String(err?.message ?? err) };
  }
  process.stdout.write(`${JSON.stringify(answer)}\n`);
}
