import { createRequire } from 'node:module';
import { Worker } from 'node:worker_threads';

/** Cells of the shared counter array (Int32). */
const COMMITS = 0; // bumped by the write connection after each commit
const STOP = 1; // set to 1 when the database closes
const CHECKPOINTS = 2; // checkpoints that copied frames, counted by the worker
const FAILURES = 3; // checkpoints that threw, counted by the worker
const PAUSE = 4; // always 0: the worker sleeps on it between checkpoints, and close() wakes it

/**
 * The worker's code, run with `eval: true` so that it needs no file of its own next to the compiled module (tests
 * run the TypeScript sources). CommonJS: `require` is the eval'd worker's loader; the driver's absolute path comes
 * from the main thread, so it resolves wherever the package is installed.
 *
 * It sleeps on the commit counter (no timer while the database is idle), then runs a PASSIVE checkpoint at most
 * every `intervalMs`: PASSIVE copies what it can without waiting for or blocking the writer or the readers, and
 * the writer restarts the log from its start once a checkpoint has copied all of it, so the WAL stays small.
 */
const WORKER_SOURCE = `
const { workerData } = require('node:worker_threads');
const Database = require(workerData.driver);
const cells = new Int32Array(workerData.cells);
const conn = new Database(workerData.file, { timeout: 0 });
conn.pragma('synchronous = NORMAL');
// Nothing seen yet: commits counted before this thread started (its start can take a while on a busy machine)
// make the first wait return at once.
let seen = 0;
// STOP is read before each sleep too: close() may have come before this thread started.
while (Atomics.load(cells, ${STOP}) !== 1) {
  Atomics.wait(cells, ${COMMITS}, seen);
  if (Atomics.load(cells, ${STOP}) === 1) break;
  // Let commits gather: one checkpoint per interval at most.
  Atomics.wait(cells, ${PAUSE}, 0, workerData.intervalMs);
  if (Atomics.load(cells, ${STOP}) === 1) break;
  seen = Atomics.load(cells, ${COMMITS});
  try {
    const [r] = conn.pragma('wal_checkpoint(PASSIVE)');
    if (r && r.checkpointed > 0) Atomics.add(cells, ${CHECKPOINTS}, 1);
  } catch {
    // I/O trouble: the write connection's own automatic checkpoint is the backstop.
    Atomics.add(cells, ${FAILURES}, 1);
  }
}
conn.close();
`;

/** Options for {@link WalCheckpointer}. */
export interface WalCheckpointerOptions {
  /** Least time between two checkpoints, ms. Default 25. */
  intervalMs?: number;
}

/**
 * Checkpoints a WAL-mode SQLite database on a worker thread, with a connection of its own, so that copying the
 * log back into the database (and that copy's fsync) is not done by the event loop's write connection after a
 * COMMIT. The write connection keeps an automatic checkpoint at a higher threshold, which then finds little left
 * to copy (see `WRITER_AUTOCHECKPOINT` in sqlite-db.ts).
 */
export class WalCheckpointer {
  private readonly cells = new Int32Array(new SharedArrayBuffer(5 * 4));
  private readonly worker: Worker;
  private readonly exited: Promise<void>;

  constructor(file: string, options: WalCheckpointerOptions = {}) {
    const driver = createRequire(import.meta.url).resolve('better-sqlite3');
    this.worker = new Worker(WORKER_SOURCE, {
      eval: true,
      workerData: { file, driver, cells: this.cells.buffer, intervalMs: options.intervalMs ?? 25 },
    });
    // Never what keeps a process alive; close() stops it.
    this.worker.unref();
    this.exited = new Promise((resolve) => {
      this.worker.once('exit', () => resolve());
      // An error ends the worker ('exit' follows); the backstop checkpoint takes over.
      this.worker.once('error', () => undefined);
    });
  }

  /** Tells the worker that a commit added to the log. Costs an atomic add and a wake-up call. */
  committed(): void {
    Atomics.add(this.cells, COMMITS, 1);
    Atomics.notify(this.cells, COMMITS);
  }

  /** Checkpoints that copied frames, and checkpoints that failed, so far. */
  get stats(): { checkpoints: number; failures: number } {
    return {
      checkpoints: Atomics.load(this.cells, CHECKPOINTS),
      failures: Atomics.load(this.cells, FAILURES),
    };
  }

  /** Stops the worker and waits until its connection is closed. */
  async close(): Promise<void> {
    Atomics.store(this.cells, STOP, 1);
    Atomics.add(this.cells, COMMITS, 1);
    Atomics.notify(this.cells, COMMITS);
    Atomics.notify(this.cells, PAUSE);
    // Referenced again while it winds down, or a process with nothing else to do would exit before it has.
    this.worker.ref();
    await this.exited;
  }
}
