/**
 * Named crash points at commit boundaries, for crash tests (as DBOS's debug points). When `AOS_CRASH_POINT` names a
 * point, the process kills itself with SIGKILL there — exactly what `kill -9` at that moment would do. Unset in
 * production; comparing one string read at start-up is the whole cost.
 *
 * Every point is listed in {@link CRASH_POINTS}; the crash test iterates that list, so a point added here is covered
 * by `kill -9` on SQLite and PostgreSQL without touching the test.
 */
export const CRASH_POINTS = [
  /** The pipeline recorded an allowed action (status `executing`) and has not called the upstream yet. */
  'action.after-decision',
  /** The upstream answered; the outcome is not recorded yet (recovery flags it `unknown_outcome`). */
  'action.after-upstream',
  /** A pipeline approval vote was committed (and, at quorum, the action marked `executing`). */
  'approval.after-vote',
  /** A run and its `run_started` event were committed. */
  'workflow.after-start',
  /** This node claimed runs (their leases are committed) and has not advanced them. */
  'workflow.after-claim',
  /** The engine decided and performed a piece of work; its events are not committed yet. */
  'workflow.before-commit',
  /** A piece of work's events were committed. */
  'workflow.after-commit',
  /** A step's pipeline action was submitted (and answered); the step's outcome is not recorded yet. */
  'workflow.after-action-submit',
  /** A compensation's pipeline action was submitted; its `compensation_done` is not recorded yet. */
  'workflow.after-compensation-submit',
  /** A human's vote on a workflow approval step was committed. */
  'workflow.after-approval-vote',
  /** A `workflow` step's child run was committed; the parent has not recorded that it waits for it. */
  'workflow.after-child-start',
] as const;

/** A named crash point. */
export type CrashPoint = (typeof CRASH_POINTS)[number];

/** Read once: the hot path passes several points a call, and reading `process.env` is not free. */
const armed = process.env.AOS_CRASH_POINT;

/** Kills this process with SIGKILL when `AOS_CRASH_POINT` (as the process started with it) names `name`. */
export function crashPoint(name: CrashPoint): void {
  if (armed !== undefined && armed === name) process.kill(process.pid, 'SIGKILL');
}
