import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { AOS_BIN } from './cli.js';

/** A running `aos serve` child process. */
export interface ServeProcess {
  url: string;
  child: ChildProcess;
  output(): string;
  /** Waits for the process to exit (after a kill or a crash point). */
  exited(): Promise<number | null>;
  stop(): Promise<void>;
}

/** Starts `aos serve` with the given global flags and serve options; resolves once it prints its URL. */
export function startServe(flags: string[], env: Record<string, string> = {}): Promise<ServeProcess> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [AOS_BIN, ...flags], {
      env: { ...process.env, AOS_DATABASE_URL: '', AOS_DATA: '', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    const exit = new Promise<number | null>((r) => child.on('exit', (code) => r(code)));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`aos serve did not start:\n${out}`));
    }, 30_000);
    const onData = (d: Buffer) => {
      out += d.toString();
      const m = /listening on (http:\/\/[^\s]+)/.exec(out);
      if (m) {
        clearTimeout(timer);
        resolve({
          url: m[1] as string,
          child,
          output: () => out,
          exited: () => exit,
          async stop() {
            if (child.exitCode === null && child.signalCode === null) {
              child.kill('SIGTERM');
              const t = setTimeout(() => child.kill('SIGKILL'), 5000);
              await exit;
              clearTimeout(t);
            }
          },
        });
      }
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
    void exit.then((code) => {
      clearTimeout(timer);
      if (!/listening on/.test(out)) reject(new Error(`aos serve exited ${code}:\n${out}`));
    });
  });
}
