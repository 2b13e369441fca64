import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Command } from 'commander';
import { UserError, openStore } from '@autonomy-os/core';
import { globals, printJson } from '../context.js';
import { defaultDemoDir, runScenario, startDemo, startWorkStream } from '../demo/demo.js';
import { LlmSupportAgent } from '../demo/support-agent.js';
import type { RunningDemo } from '../demo/demo.js';

interface DemoCommandOptions {
  port?: string;
  fresh?: boolean;
  once?: boolean;
  json?: boolean;
  dir?: string;
  seed?: string;
  intervalMs?: string;
  limit?: string;
}

function integer(
  value: string | undefined,
  field: string,
  fallback: number,
  min: number,
  max: number,
): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (!Number.isInteger(n) || n < min || n > max) throw new UserError(`must be ${min}-${max}`, { field });
  return n;
}

/** The PostgreSQL URL with `schema` set, and the schema it names (if any). */
function withSchema(url: string, schema?: string): { url: string; schema: string | undefined } {
  const u = new URL(url);
  if (schema) u.searchParams.set('schema', schema);
  return { url: u.toString(), schema: u.searchParams.get('schema') ?? undefined };
}

/** Drops the PostgreSQL schema the URL names (the demo's own data, for --fresh and after --once). */
async function dropSchema(url: string, dataDir: string): Promise<void> {
  const { schema } = withSchema(url);
  if (!schema) return;
  const store = await openStore({ dataDir, databaseUrl: url });
  try {
    await store.db.exec(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
  } finally {
    await store.close();
  }
}

/** `aos demo`: the demo organisation at work (`npm start`), or its scenario headless (`--once`). */
export function registerDemo(program: Command): void {
  program
    .command('demo')
    .description('run the demo organisation: upstream systems, agents and a steady stream of governed work')
    .option('--port <n>', 'port to listen on (default 7420; 0 picks a free one)')
    .option('--fresh', 'start over: delete the demo data (and upstream databases) first')
    .option(
      '--once',
      'run the scenario headless, print the summary and exit (0 only if every expectation held)',
    )
    .option('--json', 'machine-readable output: the first stdout line is the start-up JSON (or the summary)')
    .option('--dir <dir>', 'the organisation directory (default: examples/demo of this checkout)')
    .option('--seed <n>', 'seed of the generated work after the scenario (default 42)')
    .option('--interval-ms <n>', 'pause between work items (default 3000)')
    .option('--limit <n>', 'stop the stream after this many items (default 1000)')
    .action(async (o: DemoCommandOptions, cmd: Command) => {
      const g = globals(cmd);
      const port = integer(o.port, 'port', 7420, 0, 65535);
      const seed = integer(o.seed, 'seed', 42, 0, 2 ** 31);
      const intervalMs = integer(o.intervalMs, 'interval-ms', 3000, 0, 3_600_000);
      const limit = integer(o.limit, 'limit', 1000, 0, 1_000_000);
      const demoDir = path.resolve(o.dir ?? defaultDemoDir());
      if (!fs.existsSync(path.join(demoDir, 'aos.yaml')))
        throw new UserError(`${demoDir} has no aos.yaml`, { field: 'dir' });
      // The demo keeps its data apart from `aos serve`'s: ./.aos-demo unless --data (or AOS_DATA) names a directory.
      const dataGiven = program.getOptionValueSource('data') !== 'default' && !!g.data;
      if (o.once) return once({ g, dataGiven, demoDir, port, seed, json: !!o.json });
      const dataDir = path.resolve(dataGiven ? g.data : './.aos-demo');
      if (o.fresh) {
        if (g.databaseUrl) {
          if (!withSchema(g.databaseUrl).schema)
            throw new UserError(
              '--fresh on PostgreSQL needs a ?schema=… in the URL (the demo drops that schema)',
              {
                field: 'database-url',
              },
            );
          await dropSchema(g.databaseUrl, dataDir);
        }
        fs.rmSync(dataDir, { recursive: true, force: true });
      }
      const demo = await startDemo({ demoDir, dataDir, databaseUrl: g.databaseUrl, port, seed, llm: true });
      if (demo.support instanceof LlmSupportAgent)
        for (const problem of await demo.support.problems()) process.stderr.write(`demo: ${problem}\n`);
      const stream = startWorkStream(demo, {
        seed,
        intervalMs,
        limit,
        // On stderr in both modes: stdout stays the machine-readable start-up line with --json.
        onError: (id, err) => process.stderr.write(`demo: ${id}: ${(err as Error).message}\n`),
      });
      if (o.json) {
        printJson({
          url: demo.url,
          mcpUrl: demo.mcpUrl,
          adminToken: demo.people.admin,
          approverToken: demo.people.approver,
          auditorToken: demo.people.auditor,
          agents: demo.agentTokens,
          dataDir: demo.engine.store.dataDir,
          store: demo.engine.store.db.dialect,
          upstreams: {
            erp: { url: demo.upstreams.erp.url, database: demo.upstreams.databases.erp },
            flags: { url: demo.upstreams.flags.url, database: demo.upstreams.databases.flags },
            tickets: { url: `${demo.upstreams.tickets.url}/mcp`, database: demo.upstreams.databases.tickets },
          },
        });
      } else printBanner(demo);
      const announcer = o.json ? undefined : announceApprovals(demo);
      const stop = async () => {
        if (announcer) clearInterval(announcer);
        await stream.stop();
        await demo.stop();
        process.exit(0);
      };
      process.once('SIGINT', () => void stop());
      process.once('SIGTERM', () => void stop());
    });
}

async function once(p: {
  g: ReturnType<typeof globals>;
  dataGiven: boolean;
  demoDir: string;
  port: number;
  seed: number;
  json: boolean;
}): Promise<void> {
  // A scenario run starts from nothing and leaves nothing: its own data directory (and PostgreSQL schema).
  const dataDir = p.dataGiven
    ? path.resolve(p.g.data)
    : fs.mkdtempSync(path.join(os.tmpdir(), 'aos-demo-once-'));
  if (p.dataGiven && fs.existsSync(dataDir) && fs.readdirSync(dataDir).length)
    throw new UserError(`${dataDir} is not empty; --once needs an empty data directory`, { field: 'data' });
  const db = p.g.databaseUrl
    ? withSchema(
        p.g.databaseUrl,
        withSchema(p.g.databaseUrl).schema ?? `aos_demo_${crypto.randomBytes(5).toString('hex')}`,
      )
    : undefined;
  let demo: RunningDemo | undefined;
  try {
    demo = await startDemo({ demoDir: p.demoDir, dataDir, databaseUrl: db?.url, port: 0, seed: p.seed });
    // A bound, not a target: the scenario takes well under a minute; a loaded machine must not fail it.
    const summary = await runScenario(demo, { timeoutMs: 120_000 });
    if (p.json) {
      const { checks, ...contract } = summary;
      printJson({ ...contract, checks });
    } else {
      for (const c of summary.checks)
        process.stdout.write(`${c.ok ? 'ok  ' : 'FAIL'} ${c.name}${c.detail ? `: ${c.detail}` : ''}\n`);
      process.stdout.write(
        `${summary.ok ? 'PASS' : 'FAIL'}: ${JSON.stringify({ actions: summary.actions, runs: summary.runs, audit: summary.audit })}\n`,
      );
    }
    process.exitCode = summary.ok ? 0 : 1;
  } finally {
    await demo?.stop();
    if (db && !withSchema(p.g.databaseUrl as string).schema)
      await dropSchema(db.url, dataDir).catch(() => undefined);
    if (!p.dataGiven) fs.rmSync(dataDir, { recursive: true, force: true });
  }
}

function printBanner(demo: RunningDemo): void {
  const w = (s = '') => process.stdout.write(`${s}\n`);
  w('Autonomy OS demo: finance, support and engineering agents at work');
  w(`  console    ${demo.url}/`);
  w(`  MCP        ${demo.mcpUrl}`);
  w(`  store      ${demo.engine.store.db.dialect} (data: ${demo.engine.store.dataDir})`);
  w(`  ERP        ${demo.upstreams.erp.url}  (db: ${demo.upstreams.databases.erp})`);
  w(`  flags      ${demo.upstreams.flags.url}  (db: ${demo.upstreams.databases.flags})`);
  w(`  tickets    ${demo.upstreams.tickets.url}/mcp  (db: ${demo.upstreams.databases.tickets})`);
  w(`  kb         @modelcontextprotocol/server-filesystem over stdio on ${demo.upstreams.kbDir}`);
  w(`  support    ${demo.support.agentId}: ${demo.support.kind}`);
  w('Sign in with a bearer token (new ones each start; earlier demo tokens are revoked):');
  w(`  admin     ada     ${demo.people.admin}`);
  w(`  approver  frank   ${demo.people.approver}`);
  w(`  auditor   audrey  ${demo.people.auditor}`);
  w('Decide what waits for an approver:');
  w(`  export AOS_URL=${demo.url} AOS_TOKEN=${demo.people.approver}`);
  w('  npx aos approvals list');
  w('  npx aos approvals approve apr_…     (or POST /v1/approvals/apr_…/approve with the approver token)');
  w('Stop a department, or one agent (kill switch scopes: --role, --agent, or neither for everyone):');
  w(`  npx aos killswitch on --role support --reason drill --url ${demo.url} --token <admin token>`);
  w('Ctrl-C stops; npm start again resumes where it stopped (npm start -- --fresh starts over).');
}

/** Prints each approval as it starts waiting, so a person sees what is theirs to decide. */
function announceApprovals(demo: RunningDemo): NodeJS.Timeout {
  const seen = new Set<string>();
  const t = setInterval(() => {
    void demo.engine.approvals
      .list({ status: 'pending' })
      .then((list) => {
        for (const a of list) {
          if (seen.has(a.id)) continue;
          seen.add(a.id);
          process.stdout.write(
            `waiting for ${a.group}: ${a.id}  (${a.evidence.tool} ${JSON.stringify(a.evidence.input)})\n`,
          );
        }
      })
      .catch(() => undefined);
  }, 1000);
  t.unref();
  return t;
}
