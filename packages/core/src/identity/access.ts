import { ForbiddenError } from '../errors.js';
import type { Human } from './humans.js';

/** The groups that carry built-in authority, as `groups:` in aos.yaml names them. */
export interface AccessGroups {
  /** Members administer agents, kill switches and tool definitions, and manage every workflow run. */
  admins: string;
  /** Members read and verify the audit log. */
  auditors: string;
}

/** The groups when aos.yaml names none. */
export const DEFAULT_ACCESS_GROUPS: AccessGroups = { admins: 'admins', auditors: 'auditors' };

/** Whether the human is a member of the configured admins group. */
export function isAdmin(human: Human, groups: Pick<AccessGroups, 'admins'>): boolean {
  return human.groups.includes(groups.admins);
}

/**
 * The one rule for who may manage a workflow run (start, cancel, pause, resume, signal, retry, resolve an unknown
 * outcome, decide an escalated task): the owner pinned on the run — the `owner` of the definition the run started
 * with, never of whatever definition is loaded now — or a member of the configured admins group. Every front
 * (REST, CLI, MCP, SDK) reaches it through the workflow engine; none checks for itself.
 *
 * @example
 * mayManageRun(human, { owner: run.owner }, config.groups) // run.owner as stored in workflow_runs
 */
export function mayManageRun(
  human: Human,
  run: { owner: string },
  groups: Pick<AccessGroups, 'admins'>,
): boolean {
  return human.id === run.owner || isAdmin(human, groups);
}

/**
 * {@link mayManageRun}, or a {@link ForbiddenError} that says what was refused and who may.
 * @param doing what the human tried, e.g. `cancelling run run_1 of invoice-approval`
 */
export function requireRunManager(
  human: Human,
  run: { owner: string },
  groups: Pick<AccessGroups, 'admins'>,
  doing: string,
): void {
  if (!mayManageRun(human, run, groups))
    throw new ForbiddenError(
      `${doing} needs membership of ${groups.admins} or being the workflow's owner ${run.owner}`,
    );
}
