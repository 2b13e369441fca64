// Child processes of the gateway suite: the load generator (bench/load/load-client.js) and the payments upstream
// (bench/load/payments-upstream.js), each on its own event loop, so the bench process holds only the governed server.
import { spawn } from 'node:child_process';
import readline from 'node:readline';
import { fileURLToPath } from 'node:url';

function start(script) {
  const child = spawn(process.execPath, [fileURLToPath(new URL(script, import.meta.url))], {
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  const lines = readline.createInterface({ input: child.stdout });
  const waiting = [];
  lines.on('line', (l) => waiting.shift()?.resolve(JSON.parse(l)));
  child.on('exit', (code) => {
    for (const w of waiting.splice(0)) w.reject(new Error(`${script} exited with ${code}`));
  });
  const next = () => new Promise((resolve, reject) => waiting.push({ resolve, reject }));
  return { child, next };
}

/** The payments upstream in its own process: `{ url, stop() }`. */
export async function startUpstreamProcess() {
  const { child, next } = start('./payments-upstream.js');
  const { url } = await next();
  return {
    url,
    stop: () =>
      new Promise((resolve) => {
        child.once('exit', resolve);
        child.stdin.end();
      }),
  };
}

/**
 * The closed-loop load generator in its own process: `run(job)` answers `{ perSecond, p50, p99 }` (µs) of `job.n`
 * requests from `job.concurrency` loops, or throws the first failed check.
 */
export function startLoadProcess() {
  const { child, next } = start('./load-client.js');
  return {
    async run(job) {
      const answer = next();
      child.stdin.write(`${JSON.stringify(job)}\n`);
      const r = await answer;
      if (!r.ok) throw new Error(`load generator: ${r.error}`);
      return r;
    },
    stop: () =>
      new Promise((resolve) => {
        child.once('exit', resolve);
        child.stdin.end();
      }),
  };
}
