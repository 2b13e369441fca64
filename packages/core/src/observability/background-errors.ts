import { pino } from 'pino';
import type { Logger } from 'pino';

/** Context of an error a background loop survived: the run or task it was about, and how loud to log it. */
export interface BackgroundErrorContext {
  runId?: string;
  taskId?: string;
  approvalId?: string;
  attempt?: number;
  /** The event type a listener failed on. */
  event?: string;
  /** Default `error`; `info` for expected conditions (another node took a run's lease). */
  level?: 'error' | 'warn' | 'info';
}

/**
 * Errors the engine's background loops (its tick, the workflow scheduler, cron schedules, task lease expiry,
 * approval expiry) survive so that one bad run or a store outage cannot stop the node. None is swallowed
 * silently: each is logged with its cause and the run or task it was about, and counted by loop, which
 * `/metrics` exposes as `aos_background_errors_total{loop}`.
 *
 * @example
 * const errors = new BackgroundErrors(pino());
 * await sweep().catch((err) => errors.record('approvals.sweep', err));
 */
export class BackgroundErrors {
  private readonly byLoop = new Map<string, number>();
  /** The logger (pino); silent unless one is given. */
  readonly logger: Logger;

  /** `logger`: a pino logger, or the level of one writing JSON lines to stderr; none: silent. */
  constructor(logger?: Logger | { level: string }) {
    if (logger && 'child' in logger) this.logger = logger;
    else if (logger) this.logger = pino({ level: logger.level }, pino.destination(2));
    else this.logger = pino({ level: 'silent' });
  }

  /** Logs and counts one error of `loop` (e.g. `workflows.advance`). */
  record(loop: string, err: unknown, ctx: BackgroundErrorContext = {}): void {
    this.byLoop.set(loop, (this.byLoop.get(loop) ?? 0) + 1);
    const { level = 'error', ...ids } = ctx;
    this.logger[level]({ loop, ...ids, err }, `background loop ${loop} failed`);
  }

  /** Errors counted so far, by loop. */
  counts(): Record<string, number> {
    return Object.fromEntries(this.byLoop);
  }
}
