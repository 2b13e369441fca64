import { ForbiddenError, UserError } from '../errors.js';
import type { Agent } from '../identity/agents.js';
import type { HumanDirectory } from '../identity/humans.js';
import type { Executor } from '../store/db.js';

/**
 * Prefixes of the idempotency keys the engine mints: `undo:` for reversals, `wf:` for workflow steps. An agent
 * holding one could make the engine's own request replay the agent's (and so block an undo), so only the engine
 * itself may use them.
 */
export const RESERVED_KEY_PREFIXES = ['undo:', 'wf:'] as const;

/** Prefixes of the session ids the engine mints for itself (a workflow run's session). */
export const RESERVED_SESSION_PREFIXES = ['wf:'] as const;

/**
 * Refuses what only the engine may send: an agent-supplied idempotency key or session id in a reserved namespace.
 * The check ignores case, so `UNDO:` is refused as `undo:` is.
 */
export function refuseReservedNames(r: { idempotencyKey?: string; sessionId?: string }): void {
  const key = r.idempotencyKey?.toLowerCase();
  const prefix = key && RESERVED_KEY_PREFIXES.find((p) => key.startsWith(p));
  if (prefix) {
    throw new UserError(`the prefix '${prefix}' is reserved for keys the engine mints; choose another key`, {
      field: 'idempotencyKey',
    });
  }
  const session = r.sessionId?.toLowerCase();
  const sessionPrefix = session && RESERVED_SESSION_PREFIXES.find((p) => session.startsWith(p));
  if (sessionPrefix) {
    throw new UserError(
      `the prefix '${sessionPrefix}' is reserved for sessions the engine mints; open one with POST /v1/sessions`,
      { field: 'sessionId' },
    );
  }
}

// In a `u` regex a string is read by code points, so only a surrogate without its pair is a `Cs` code point.
const LONE_SURROGATE = /\p{Cs}/u;

/**
 * Refuses a string that is not well-formed Unicode (a lone surrogate) anywhere in `value`, keys included, naming
 * its path. Such a string cannot be encoded for the upstream (a URL path, a JSON body), so it would fail only after
 * the decision, with its budget spent. Walks without recursion, so depth cannot exhaust the stack.
 */
export function refuseMalformedUnicode(value: unknown, field: string): void {
  const stack: { v: unknown; at: string }[] = [{ v: value, at: field }];
  for (let item = stack.pop(); item; item = stack.pop()) {
    const { v, at } = item;
    if (typeof v === 'string') {
      if (LONE_SURROGATE.test(v)) {
        throw new UserError('must be well-formed Unicode (it holds a lone surrogate)', { field: at });
      }
    } else if (Array.isArray(v)) {
      v.forEach((x, i) => stack.push({ v: x, at: `${at}.${i}` }));
    } else if (v && typeof v === 'object') {
      for (const [k, x] of Object.entries(v)) {
        if (LONE_SURROGATE.test(k)) {
          throw new UserError('keys must be well-formed Unicode (one holds a lone surrogate)', { field: at });
        }
        stack.push({ v: x, at: `${at}.${k}` });
      }
    }
  }
}

/**
 * The humans an agent may name in `onBehalfOf`: its owner, and the members of the groups `acts-for:<agent id>` and
 * `acts-for:role:<role>`. A name that is not a known human (nobody, or an agent) is bad input; a human the agent may
 * not act for is forbidden. Either way nothing is recorded.
 */
export async function checkOnBehalfOf(
  tx: Executor,
  humans: HumanDirectory,
  agent: Agent,
  onBehalfOf: string,
): Promise<void> {
  const human = await humans.get(onBehalfOf, tx);
  if (!human) {
    throw new UserError(`'${onBehalfOf}' is not a known human`, { field: 'onBehalfOf' });
  }
  const allowed =
    human.id === agent.owner ||
    human.groups.includes(`acts-for:${agent.id}`) ||
    human.groups.includes(`acts-for:role:${agent.role}`);
  if (!allowed) {
    throw new ForbiddenError(
      `onBehalfOf: agent ${agent.id} may not act for ${human.id} (only its owner, or members of acts-for:${agent.id} or acts-for:role:${agent.role})`,
    );
  }
}
