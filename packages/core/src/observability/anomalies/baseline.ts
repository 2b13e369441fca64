/** One agent's baseline as the detector works on it (a row of `anomaly_baselines`). */
export interface Baseline {
  agentId: string;
  firstMs: number;
  /** Calls before the current one. */
  calls: number;
  winStartMs: number;
  winCalls: number;
  winDenials: number;
  winFailures: number;
  /** Closed windows in which the agent made at least one call. */
  activeWindows: number;
  /** Means per active window (a running mean, then an exponential one once {@link MEAN_HORIZON} windows are in). */
  meanCalls: number;
  meanDenials: number;
  meanFailures: number;
  /** Calls per hour of day (UTC), 24 entries. */
  hours: number[];
  writes: number;
  writesAfterUntrusted: number;
  /** The window (or hour) each kind was last raised in, so a spike is raised once per window. */
  flagged: Partial<Record<string, number>>;
  holdUntilMs: number;
}

/**
 * How many active windows the means average over before they turn exponential: long enough to ride out a busy
 * afternoon, short enough that an agent whose work grows is not judged by last month.
 */
export const MEAN_HORIZON = 200;

/** A baseline with no history. */
export function freshBaseline(agentId: string, now: number, windowMs: number): Baseline {
  return {
    agentId,
    firstMs: now,
    calls: 0,
    winStartMs: now - (now % windowMs),
    winCalls: 0,
    winDenials: 0,
    winFailures: 0,
    activeWindows: 0,
    meanCalls: 0,
    meanDenials: 0,
    meanFailures: 0,
    hours: new Array<number>(24).fill(0),
    writes: 0,
    writesAfterUntrusted: 0,
    flagged: {},
    holdUntilMs: 0,
  };
}

/**
 * Moves the baseline to the window holding `now`: a closed window in which the agent was active joins the means.
 * Idle windows do not: the baseline is "calls per minute while working", so a quiet night does not make the next
 * morning's ordinary work look like a spike.
 */
export function foldWindow(b: Baseline, now: number, windowMs: number): void {
  const start = now - (now % windowMs);
  if (start <= b.winStartMs) return;
  if (b.winCalls > 0) {
    b.activeWindows += 1;
    const n = Math.min(b.activeWindows, MEAN_HORIZON);
    b.meanCalls += (b.winCalls - b.meanCalls) / n;
    b.meanDenials += (b.winDenials - b.meanDenials) / n;
    b.meanFailures += (b.winFailures - b.meanFailures) / n;
  }
  b.winStartMs = start;
  b.winCalls = 0;
  b.winDenials = 0;
  b.winFailures = 0;
}

const num = (v: unknown) => Number(v ?? 0);

/** A stored row as a baseline. */
export function fromRow(r: Record<string, unknown>): Baseline {
  return {
    agentId: String(r.agent_id),
    firstMs: num(r.first_ms),
    calls: num(r.calls),
    winStartMs: num(r.win_start_ms),
    winCalls: num(r.win_calls),
    winDenials: num(r.win_denials),
    winFailures: num(r.win_failures),
    activeWindows: num(r.active_windows),
    meanCalls: num(r.mean_calls),
    meanDenials: num(r.mean_denials),
    meanFailures: num(r.mean_failures),
    hours: JSON.parse(String(r.hours_json)) as number[],
    writes: num(r.writes),
    writesAfterUntrusted: num(r.writes_after_untrusted),
    flagged: JSON.parse(String(r.flagged_json)) as Baseline['flagged'],
    holdUntilMs: num(r.hold_until_ms),
  };
}

/** The UPDATE parameters of a baseline, in the detector's column order (agent id last). */
export function toParams(b: Baseline, updatedAt: string): (string | number)[] {
  return [
    b.calls,
    b.winStartMs,
    b.winCalls,
    b.winDenials,
    b.winFailures,
    b.activeWindows,
    b.meanCalls,
    b.meanDenials,
    b.meanFailures,
    JSON.stringify(b.hours),
    b.writes,
    b.writesAfterUntrusted,
    JSON.stringify(b.flagged),
    b.holdUntilMs,
    updatedAt,
    b.agentId,
  ];
}
