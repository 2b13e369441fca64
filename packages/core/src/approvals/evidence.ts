import diff from 'microdiff';
import { canonicalJson } from '../crypto/canonical-json.js';
import type { Executor } from '../store/db.js';

/** One change between the previous comparable action's arguments and these (paths as key/index lists). */
export interface ArgumentChange {
  type: 'CREATE' | 'REMOVE' | 'CHANGE';
  path: (string | number)[];
  /** The previous value (REMOVE, CHANGE). */
  oldValue?: unknown;
  /** The new value (CREATE, CHANGE). */
  value?: unknown;
}

/** The previous comparable action (same agent, same tool) and how its arguments differ from these. */
export interface PreviousComparable {
  actionId: string;
  status: string;
  at: string;
  /** Empty when the arguments are the same. */
  changes: ArgumentChange[];
}

/**
 * The changes from `before` to `after`, computed by microdiff and made JSON-safe (no `undefined` members), so the
 * evidence pack stored with a request shows exactly what the approver is asked about compared with last time.
 *
 * @example argumentDiff({ amount: 10 }, { amount: 12 }) // [{ type: 'CHANGE', path: ['amount'], oldValue: 10, value: 12 }]
 */
export function argumentDiff(
  before: Record<string, unknown>,
  after: Record<string, unknown>,
): ArgumentChange[] {
  return diff(before, after).map((d) => {
    const c: ArgumentChange = { type: d.type, path: d.path };
    if ('oldValue' in d && d.oldValue !== undefined) c.oldValue = d.oldValue;
    if ('value' in d && d.value !== undefined) c.value = d.value;
    return c;
  });
}

/**
 * Finds the agent's latest earlier action on the same tool (whatever became of it) and diffs its arguments against
 * `input`. Undefined when the agent never called that tool before.
 */
export async function previousComparable(
  tx: Executor,
  p: { agentId: string; tool: string; input: Record<string, unknown>; excludeId: string },
): Promise<PreviousComparable | undefined> {
  const row = await tx.get<{ id: string; status: string; input_json: string; created_at: string }>(
    `SELECT id, status, input_json, created_at FROM actions WHERE agent_id = ? AND tool = ? AND id <> ?
     ORDER BY created_at DESC, id DESC LIMIT 1`,
    [p.agentId, p.tool, p.excludeId],
  );
  if (!row) return undefined;
  const before = JSON.parse(row.input_json) as Record<string, unknown>;
  return { actionId: row.id, status: row.status, at: row.created_at, changes: argumentDiff(before, p.input) };
}

/** The exact arguments as canonical JSON (RFC 8785): what the binding hash is computed over. */
export function canonicalArguments(input: Record<string, unknown>): string {
  return canonicalJson(input);
}
