import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { AOS_BIN } from './cli.js';

/** The first line `aos demo --json` prints once it accepts requests. */
export interface DemoStartLine {
  url: string;
  mcpUrl: string;
  adminToken: string;
  approverToken: string;
  auditorToken: string;
  agents: Record<string, string>;
  dataDir: string;
  upstreams: { erp: { database: string } };
}

/** A running `aos demo --json`. */
export interface LiveDemo {
  child: ChildProcess;
  line: DemoStartLine;
  /** Resolves with the exit code (or signal) once the process has exited. */
  exited: Promise<unknown>;
  /** SIGTERM, then waits for the exit. */
  stop(): Promise<void>;
}

/**
 * Starts `aos demo --json <args>` in the background, on SQLite (whatever `AOS_DATABASE_URL` the environment has) and
 * with the rule agents (no model, whatever keys the environment offers); resolves with its first stdout line once
 * it accepts requests, and rejects with its output if it exits or has not started within `timeoutMs`.
 */
export function startLiveDemo(
  args: readonly string[],
  opts: { env?: NodeJS.ProcessEnv; timeoutMs?: number } = {},
): Promise<LiveDemo> {
  const env: NodeJS.ProcessEnv = { ...process.env, AOS_DATABASE_URL: '', AOS_DATA: '', ...opts.env };
  for (const k of ['AOS_DEMO_MODEL_URL', 'ANTHROPIC_API_KEY', 'OPENAI_API_KEY']) delete env[k];
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [AOS_BIN, ...args], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    const exited = new Promise((r) => child.on('exit', (code, signal) => r(code ?? signal)));
    let out = '';
    let err = '';
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`aos demo did not start:\n${out}\n${err}`));
    }, opts.timeoutMs ?? 90_000);
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    child.stdout.on('data', (d: Buffer) => {
      const started = out.includes('\n');
      out += d.toString();
      const nl = out.indexOf('\n');
      if (started || nl < 0) return;
      clearTimeout(timer);
      resolve({
        child,
        line: JSON.parse(out.slice(0, nl)) as DemoStartLine,
        exited,
        async stop() {
          if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
          await exited;
        },
      });
    });
    void exited.then((code) => {
      clearTimeout(timer);
      if (!out.includes('\n')) reject(new Error(`aos demo exited ${String(code)}:\n${out}\n${err}`));
    });
  });
}
