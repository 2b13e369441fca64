import os from 'node:os';
import type { Command } from 'commander';
import { openStore } from '@autonomy-os/core';
import type { Store } from '@autonomy-os/core';

/** Global options every command sees. */
export interface GlobalOptions {
  data: string;
  databaseUrl?: string;
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
