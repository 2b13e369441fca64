import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

/** The built `aos` entry point; `npm test` builds before it runs the tests. */
export const AOS_BIN = fileURLToPath(new URL('../../packages/cli/dist/main.js', import.meta.url));

/** What one `aos` invocation did. */
export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs `aos` synchronously with the given arguments and environment additions. */
export function aos(args: string[], env: Record<string, string> = {}, cwd?: string): CliResult {
  const res = spawnSync(process.execPath, [AOS_BIN, ...args], {
    encoding: 'utf8',
    env: { ...process.env, AOS_DATABASE_URL: '', AOS_DATA: '', ...env },
    timeout: 60_000,
    ...(cwd ? { cwd } : {}),
  });
  return { code: res.status ?? -1, stdout: res.stdout, stderr: res.stderr };
}
