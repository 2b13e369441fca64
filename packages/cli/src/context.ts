import os from 'node:os';
import { Option } from 'commander';
import type { Command } from 'commander';
import {
  NotFoundError,
  UserError,
  createEngine,
  loadConfigFile,
  openStore,
  parseConfig,
} from '@autonomy-os/core';
import type { Engine, Human, Store } from '@autonomy-os/core';
import { AosClient } from '@autonomy-os/sdk';

/** Global options every command sees. */
export interface GlobalOptions {
  data: string;
  databaseUrl?: string;
  /** A running server to talk to instead of the local store. */
  url?: string;
  token?: string;
}

/** The options of a command merged with the global ones. */
export function globals(cmd: Command): GlobalOptions {
  return cmd.optsWithGlobals<GlobalOptions>();
}

/** Opens the store named by the global options, runs `fn`, and always closes it. */
export async function withStore<T>(cmd: Command, fn: (store: Store) => Promise<T>): Promise<T> {
  const g = globals(cmd);
  const store = await openStore({ dataDir: g.data, databaseUrl: g.databaseUrl });
  try {
    return await fn(store);
  } finally {
    await store.close();
  }
}

/**
 * Opens the store and an engine on it (policies, tools, connectors from `--config`), without background work or an
 * upstream tool sync: commands that execute actions (approve, undo) use the pinned tools and the configured
 * connectors.
 */
export async function withEngine<T>(
  cmd: Command,
  configFile: string | undefined,
  fn: (engine: Engine) => Promise<T>,
): Promise<T> {
  const config = configFile ? loadConfigFile(configFile) : parseConfig({});
  return withStore(cmd, async (store) => {
    const engine = await createEngine({ store, config });
    try {
      await engine.nodes.register();
      await engine.tools.reload();
      return await fn(engine);
    } finally {
      await engine.close();
    }
  });
}

/**
 * Adds `--url` (env AOS_URL) and `--token` (env AOS_TOKEN) to a command: with them {@link remote} answers a client and
 * the command talks to a running server instead of the local store.
 */
export function withRemoteOptions(cmd: Command): Command {
  return cmd
    .addOption(
      new Option('--url <url>', 'remote mode: a running server, e.g. http://127.0.0.1:7420').env('AOS_URL'),
    )
    .addOption(new Option('--token <token>', 'remote mode: your bearer token').env('AOS_TOKEN'));
}

/** A REST client when `--url` (or AOS_URL) is given; undefined for local mode. */
export function remote(cmd: Command): AosClient | undefined {
  const g = globals(cmd);
  if (!g.url) return undefined;
  if (!g.token) throw new UserError('is required with --url (or set AOS_TOKEN)', { field: 'token' });
  return new AosClient({ url: g.url, token: g.token });
}

/**
 * Adds `--as <human>` (env AOS_AS) and `--config <file>` to a command that writes in local mode: the engine checks the
 * human with the same rule a server applies to a token (e.g. a run's pinned owner or the configured admins group,
 * which `--config` names; without it the default `admins`).
 */
export function withActingHuman(cmd: Command, as = 'the human you act as'): Command {
  if (!cmd.options.some((o) => o.long === '--config'))
    cmd.option('--config <file>', 'local mode: aos.yaml (its groups: say who is an admin)');
  return cmd.addOption(new Option('--as <human>', `local mode: ${as}`).env('AOS_AS'));
}

/** The human a local command acts as (`--as`), who must exist. */
export async function actingHuman(store: Store, id: string | undefined): Promise<Human> {
  if (!id)
    throw new UserError('is required in local mode: the human you act as (or use --url and --token)', {
      field: 'as',
    });
  const h = await store.humans.get(id);
  if (!h) throw new NotFoundError('human', id, 'as');
  return h;
}

/** The audit actor for changes made from this command line: `AOS_ACTOR`, else the local user. */
export function cliActor(): string {
  return process.env.AOS_ACTOR || `operator:${os.userInfo().username}`;
}

/** Prints a value as one JSON line. */
export function printJson(value: unknown): void {
  process.stdout.write(`${JSON.stringify(value)}\n`);
}

/** Prints rows as an aligned table with a header. */
export function printTable(rows: Record<string, unknown>[], columns: string[]): void {
  const cells = rows.map((r) => columns.map((c) => formatCell(r[c])));
  const widths = columns.map((c, i) => Math.max(c.length, ...cells.map((row) => (row[i] as string).length)));
  const line = (vals: string[]) =>
    vals
      .map((v, i) => v.padEnd(widths[i] as number))
      .join('  ')
      .trimEnd();
  process.stdout.write(`${line(columns.map((c) => c.toUpperCase()))}\n`);
  for (const row of cells) process.stdout.write(`${line(row)}\n`);
}

function formatCell(v: unknown): string {
  if (v === null || v === undefined) return '-';
  if (Array.isArray(v)) return v.join(',');
  return String(v);
}
