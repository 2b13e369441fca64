import crypto from 'node:crypto';
import fs from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { UserError } from '@autonomy-os/core';
import type { AosConfig, SecretStore } from '@autonomy-os/core';

/** What the demo's SQLite-backed upstream modules answer (examples/demo/upstreams/*.mjs). */
export interface UpstreamHandle {
  url: string;
  /** The upstream's own database (better-sqlite3), for counting effects. */
  db: { prepare(sql: string): { get(...params: unknown[]): unknown; all(...params: unknown[]): unknown[] } };
  close(): Promise<void>;
}

/** The ticketing system also files tickets, as its web form would. */
export interface TicketsHandle extends UpstreamHandle {
  open(ticket: DemoTicket): void;
}

/** A ticket as a customer files it. */
export interface DemoTicket {
  ticketId: string;
  customer: string;
  orderId: string;
  category: 'refund' | 'other';
  requestedRefund?: number;
  subject: string;
  messages: string[];
}

/** The upstream systems the demo runs, and where their databases are. */
export interface DemoUpstreams {
  erp: UpstreamHandle;
  flags: UpstreamHandle;
  tickets: TicketsHandle;
  /** The knowledge base folder the filesystem MCP server serves. */
  kbDir: string;
  /** Database file of each upstream. */
  databases: { erp: string; flags: string; tickets: string };
  close(): Promise<void>;
}

type Starter<H> = (o: { dbFile: string; apiKey: string; port?: number }) => Promise<H>;

/** The secrets the connectors inject; made once per data directory, so a restart keeps them. */
const SECRETS = { erp: 'demo-erp-key', flags: 'demo-flags-key', tickets: 'demo-tickets-key' } as const;

async function secret(secrets: SecretStore & { set(n: string, v: string): Promise<void> }, name: string) {
  const existing = await secrets.get(name);
  if (existing) return existing;
  const value = `sk_demo_${crypto.randomBytes(18).toString('base64url')}`;
  await secrets.set(name, value);
  return value;
}

/**
 * Starts the ERP, the feature-flag service and the ticketing MCP server of `demoDir` on free 127.0.0.1 ports, each
 * with its database under `<dataDir>/upstreams`, and with API keys kept in the control plane's secret store.
 */
export async function startUpstreams(p: {
  demoDir: string;
  dataDir: string;
  secrets: SecretStore & { set(n: string, v: string): Promise<void> };
}): Promise<DemoUpstreams> {
  const dir = path.join(p.dataDir, 'upstreams');
  fs.mkdirSync(dir, { recursive: true });
  const load = async <H>(file: string, name: string): Promise<Starter<H>> => {
    const mod = (await import(pathToFileURL(path.join(p.demoDir, 'upstreams', file)).href)) as Record<
      string,
      unknown
    >;
    const start = mod[name];
    if (typeof start !== 'function')
      throw new UserError(`${file} does not export ${name}`, { field: 'demo' });
    return start as Starter<H>;
  };
  const databases = {
    erp: path.join(dir, 'erp.db'),
    flags: path.join(dir, 'flags.db'),
    tickets: path.join(dir, 'tickets.db'),
  };
  const started: UpstreamHandle[] = [];
  try {
    const erp = await (
      await load<UpstreamHandle>('erp.mjs', 'startErp')
    )({ dbFile: databases.erp, apiKey: await secret(p.secrets, SECRETS.erp) });
    started.push(erp);
    const flags = await (
      await load<UpstreamHandle>('flags.mjs', 'startFlags')
    )({ dbFile: databases.flags, apiKey: await secret(p.secrets, SECRETS.flags) });
    started.push(flags);
    const tickets = await (
      await load<TicketsHandle>('tickets.mjs', 'startTickets')
    )({ dbFile: databases.tickets, apiKey: await secret(p.secrets, SECRETS.tickets) });
    started.push(tickets);
    return {
      erp,
      flags,
      tickets,
      kbDir: path.join(p.demoDir, 'kb'),
      databases,
      async close() {
        for (const u of started.reverse()) await u.close().catch(() => undefined);
      },
    };
  } catch (err) {
    for (const u of started.reverse()) await u.close().catch(() => undefined);
    throw err;
  }
}

/**
 * Points the configuration's connectors at the running upstreams: the origin of every `erp`/`flags` operation URL
 * (or OpenAPI document URL) and the `tickets` MCP URL become the ports actually bound, and `kb` runs the installed filesystem MCP server on
 * the demo's knowledge base (no `npx` download).
 */
export function pointConnectorsAt(config: AosConfig, up: DemoUpstreams): void {
  const origins: Record<string, string> = { erp: up.erp.url, flags: up.flags.url };
  for (const c of config.connectors) {
    if (c.type === 'http' && origins[c.id]) {
      for (const op of c.operations) {
        const u = new URL(op.url.replace(/\{/g, '%7B').replace(/\}/g, '%7D'));
        op.url = `${origins[c.id]}${decodeURIComponent(u.pathname)}${u.search}`;
      }
    } else if (c.type === 'openapi' && origins[c.id] && c.url) {
      c.url = `${origins[c.id]}${new URL(c.url).pathname}`;
    } else if (c.type === 'mcp' && c.transport === 'http' && c.id === 'tickets') {
      c.url = `${up.tickets.url}/mcp`;
    } else if (c.type === 'mcp' && c.transport === 'stdio' && c.id === 'kb') {
      c.command = process.execPath;
      c.args = [filesystemServerEntry(), up.kbDir];
    }
  }
}

/** The installed `@modelcontextprotocol/server-filesystem` entry point (a runtime dependency of the CLI). */
export function filesystemServerEntry(): string {
  const require = createRequire(import.meta.url);
  const pkg = require.resolve('@modelcontextprotocol/server-filesystem/package.json');
  const { bin } = JSON.parse(fs.readFileSync(pkg, 'utf8')) as { bin: Record<string, string> | string };
  const entry = typeof bin === 'string' ? bin : (Object.values(bin)[0] as string);
  return path.join(path.dirname(pkg), entry);
}
