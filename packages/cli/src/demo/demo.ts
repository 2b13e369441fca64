import { pino } from 'pino';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  ChainedSecretStore,
  EncryptedFileSecretStore,
  EnvSecretStore,
  UserError,
  createEngine,
  loadConfigFile,
  openStore,
} from '@autonomy-os/core';
import type { Engine, Store } from '@autonomy-os/core';
import { buildServer } from '@autonomy-os/server';
import type { AosServer } from '@autonomy-os/server';
import { AosClient } from '@autonomy-os/sdk';
import { lockDataDir } from '../data-dir-lock.js';
import { VERSION } from '../version.js';
import { agentsOf, applyOrganisation, loadOrganisation } from './organisation.js';
import { StreamCursor, WorkStream, workItem } from './stream.js';
import { summarise } from './summary.js';
import type { DemoSummary } from './summary.js';
import { pickSupportAgent } from './support-agent.js';
import type { SupportAgent } from './support-agent.js';
import { pointConnectorsAt, startUpstreams } from './upstreams.js';
import type { DemoUpstreams } from './upstreams.js';
import { SCENARIO } from './work.js';

/** The audit actor of what the demo sets up. */
const ACTOR = 'demo:setup';

/** The people the demo prints a sign-in token for. */
export const DEMO_PEOPLE = { admin: 'ada', approver: 'frank', auditor: 'audrey' } as const;

/** The demo organisation shipped in the checkout: examples/demo, found from this file's place in the package. */
export function defaultDemoDir(): string {
  return fileURLToPath(new URL('../../../../examples/demo', import.meta.url));
}

/** What {@link startDemo} is built from. */
export interface DemoOptions {
  /** The organisation directory (aos.yaml, organisation.yaml, policies, workflows, upstreams, kb). */
  demoDir: string;
  dataDir: string;
  databaseUrl?: string | undefined;
  port: number;
  /** Seed of the generated work after the scenario. */
  seed: number;
  /**
   * Let a model in the environment (`AOS_DEMO_MODEL_URL`, `ANTHROPIC_API_KEY`, `OPENAI_API_KEY`) drive the support
   * agent instead of the rule agent. Off for the checked scenario, whose expected counts a model cannot promise.
   */
  llm?: boolean;
  /** Where the engine's and the server's JSON log lines go (level `info`); default: no logs. */
  log?: NodeJS.WritableStream;
}

/** A running demo: the server, its organisation and the tokens to sign in with. */
export interface RunningDemo {
  url: string;
  mcpUrl: string;
  engine: Engine;
  upstreams: DemoUpstreams;
  support: SupportAgent;
  /** Bearer tokens of the demo admin, approver and auditor. */
  people: { admin: string; approver: string; auditor: string };
  /** Bearer token of every agent, by agent id. */
  agentTokens: Record<string, string>;
  stop(): Promise<void>;
}

/**
 * Issues the demo's sign-in tokens. Tokens are stored only as hashes, so a restart cannot print the old ones: it
 * revokes the tokens an earlier start issued (named `demo`) and issues new ones, so exactly one set is valid.
 */
async function issueDemoTokens(store: Store, subjects: { type: 'human' | 'agent'; id: string }[]) {
  const out: Record<string, string> = {};
  for (const s of subjects) {
    for (const t of await store.tokens.list({ subjectType: s.type, subjectId: s.id }))
      if (t.name === 'demo' && !t.revokedAt) await store.tokens.revoke(t.id, ACTOR);
    out[s.id] = (
      await store.tokens.issue({ subjectType: s.type, subjectId: s.id, name: 'demo' }, ACTOR)
    ).token;
  }
  return out;
}

/**
 * Starts the demo organisation: its store (SQLite in `dataDir`, or PostgreSQL), the upstream systems, the people and
 * agents, the engine and the HTTP server. Work does not flow until the caller starts a {@link WorkStream} or runs
 * the scenario. Restarting on the same data resumes: runs, pending approvals and the upstreams' databases are kept.
 */
export async function startDemo(o: DemoOptions): Promise<RunningDemo> {
  // Configuration first: a mistake in it is reported before anything is written.
  const config = loadConfigFile(path.join(o.demoDir, 'aos.yaml'));
  const org = loadOrganisation(path.join(o.demoDir, 'organisation.yaml'));
  fs.mkdirSync(o.dataDir, { recursive: true });
  config.server.port = o.port;
  const store = await openStore({ dataDir: o.dataDir, databaseUrl: o.databaseUrl });
  const cleanups: (() => Promise<void> | void)[] = [() => store.close()];
  const undo = async () => {
    for (const c of cleanups.reverse()) await Promise.resolve(c()).catch(() => undefined);
  };
  try {
    if (store.db.dialect === 'sqlite') cleanups.push(lockDataDir(store.dataDir));
    store.signingKey();
    const fileSecrets = await EncryptedFileSecretStore.open({ dataDir: store.dataDir });
    const upstreams = await startUpstreams({
      demoDir: o.demoDir,
      dataDir: store.dataDir,
      secrets: fileSecrets,
    });
    cleanups.push(() => upstreams.close());
    pointConnectorsAt(config, upstreams);
    await applyOrganisation(store, org, ACTOR);
    const engine = await createEngine({
      store,
      config,
      secrets: new ChainedSecretStore([fileSecrets, new EnvSecretStore()]),
      ...(o.log ? { logger: pino({ level: 'info' }, o.log) } : {}),
    });
    cleanups.push(() => engine.close());
    await engine.start();
    const server: AosServer = buildServer({
      engine,
      version: VERSION,
      logger: o.log ? { level: 'info', stream: o.log } : false,
    });
    const url = await server.listen().catch((err: NodeJS.ErrnoException) => {
      if (err.code === 'EADDRINUSE')
        throw new UserError(`${o.port} is in use; pick another, or 0 for a free one`, { field: 'port' });
      throw err;
    });
    cleanups.push(() => server.close());
    const agents = agentsOf(org);
    const tokens = await issueDemoTokens(store, [
      ...Object.values(DEMO_PEOPLE).map((id) => ({ type: 'human' as const, id })),
      ...agents.map((a) => ({ type: 'agent' as const, id: a.id })),
    ]);
    const agentTokens = Object.fromEntries(agents.map((a) => [a.id, tokens[a.id] as string]));
    const support = await pickSupportAgent({
      ...(o.llm ? { engine } : {}),
      url,
      agentId: 'support-bot',
      token: agentTokens['support-bot'] as string,
      kbDir: upstreams.kbDir,
    });
    return {
      url,
      mcpUrl: `${url}/mcp`,
      engine,
      upstreams,
      support,
      people: {
        admin: tokens[DEMO_PEOPLE.admin] as string,
        approver: tokens[DEMO_PEOPLE.approver] as string,
        auditor: tokens[DEMO_PEOPLE.auditor] as string,
      },
      agentTokens,
      stop: undo,
    };
  } catch (err) {
    await undo();
    throw err;
  }
}

/** Starts the steady stream of work of a running demo, from where an earlier start stopped. */
export function startWorkStream(
  demo: RunningDemo,
  o: { seed: number; intervalMs: number; limit: number; onError: (id: string, err: unknown) => void },
): WorkStream {
  const stream = new WorkStream({
    ctx: demo,
    cursor: new StreamCursor(demo.engine.store.dataDir),
    seed: o.seed,
    intervalMs: o.intervalMs,
    limit: o.limit,
    onError: (item, err) => o.onError(item.id, err),
  });
  stream.start();
  return stream;
}

/**
 * Runs the scenario headless on a started (empty) demo: every scenario item, then the approver approves what waits
 * (through the REST API, with the printed approver's token), until every run has ended; answers the checked summary.
 */
export async function runScenario(demo: RunningDemo, o: { timeoutMs: number }): Promise<DemoSummary> {
  for (const item of SCENARIO) await workItem(item, demo);
  const approver = new AosClient({ url: demo.url, token: demo.people.approver });
  const deadline = Date.now() + o.timeoutMs;
  while (Date.now() < deadline) {
    const pending = (await approver.listApprovals('pending')).approvals as { id: string }[];
    for (const a of pending) await approver.approve(a.id, { comment: 'demo scenario: approved' });
    const runs = await demo.engine.workflows.list({ limit: 1000 });
    const open = runs.filter((r) => !['completed', 'failed', 'cancelled'].includes(r.status));
    if (!pending.length && !open.length) break;
    await new Promise((r) => setTimeout(r, 100));
  }
  return summarise(demo.engine, demo.upstreams);
}
