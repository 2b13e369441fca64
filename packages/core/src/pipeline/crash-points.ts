/**
 * Named crash points at commit boundaries, for crash tests (as DBOS's debug points). When `AOS_CRASH_POINT` names a
 * point, the process kills itself with SIGKILL there — exactly what `kill -9` at that moment would do. Unset in
 * production; reading one environment variable is the whole cost.
 */
export type CrashPoint =
  | 'action.after-decision'
  | 'action.after-upstream'
  | 'approval.after-vote'
  | 'workflow.after-action-submit'
  | 'workflow.after-child-start';

export function crashPoint(name: CrashPoint): void {
  if (process.env.AOS_CRASH_POINT === name) process.kill(process.pid, 'SIGKILL');
}
