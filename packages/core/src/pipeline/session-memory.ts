import crypto from 'node:crypto';
import type { Executor, Statement } from '../store/db.js';

/** What the agent already did in a scope, as the policy context takes it (`context.session`). */
export interface SessionSummary {
  /** Tools that ran and succeeded in the scope, each once, sorted. */
  tools: string[];
  /** A succeeded call in the scope returned content a third party controls. */
  readUntrusted: boolean;
  /** Every action decided in the scope, whatever its outcome. */
  calls: number;
}

/** The scope an action is decided under, and what it holds so far. */
export interface SessionScope {
  /** `session`: a session the engine opened for this agent. `agent`: everything the agent did. */
  kind: 'session' | 'agent';
  /** The session's id; `''` for the agent scope. */
  sessionId: string;
  summary: SessionSummary;
  /** The agent scope's tools used (the same as `summary.tools` when `kind` is `agent`). */
  agentTools: readonly string[];
}

/** The session id of the agent scope in `action_sessions`. */
const AGENT_SCOPE = '';

/**
 * The memory the policy context reads: one summary row per session the engine opened for an agent, and one per
 * agent (the agent scope), both updated in the transaction that records each action's decision and outcome.
 *
 * A session is a fresh start only when the engine minted it for that agent ({@link SessionMemory.open}: the MCP
 * gateway on `initialize`, `POST /v1/sessions`, a workflow run). A call with no session, with a session id the agent
 * made up, or with another agent's session is decided under the agent scope, which every call of the agent — in any
 * session — feeds, so it stays marked once anything untrusted was read (fail closed).
 */
export class SessionMemory {
  /**
   * Opens a session for an agent and answers its id (`ses_` and 24 hex digits unless `sessionId` names it: the
   * engine's own fronts use their prefixes, `mcp:` and `wf:`). Opening an open session changes nothing.
   */
  async open(tx: Executor, agentId: string, sessionId?: string): Promise<string> {
    const id = sessionId ?? `ses_${crypto.randomBytes(12).toString('hex')}`;
    const now = new Date().toISOString();
    await tx.run(
      `INSERT INTO action_sessions (agent_id, session_id, calls, read_untrusted, opened_at, updated_at)
       VALUES (?, ?, 0, 0, ?, ?) ON CONFLICT (agent_id, session_id) DO NOTHING`,
      [agentId, id, now, now],
    );
    return id;
  }

  /**
   * The statement that reads the scope a call naming `sessionId` (or none) is decided under — one indexed lookup of
   * the session's row and the agent scope's together — for reading with the decision's other queries
   * (`Db.readTogether`); {@link scopeFrom} makes the scope of its rows.
   */
  scopeRead(agentId: string, sessionId: string | undefined): Statement {
    return {
      sql: `SELECT s.session_id, s.calls, s.read_untrusted, t.tool FROM action_sessions s
       LEFT JOIN action_session_tools t ON t.agent_id = s.agent_id AND t.session_id = s.session_id
       WHERE s.agent_id = ? AND s.session_id IN (?, ?)`,
      params: [agentId, AGENT_SCOPE, sessionId ?? AGENT_SCOPE],
    };
  }

  /**
   * The scope from the rows {@link scopeRead} answered. `opens`: the engine opens the named session with this call
   * (its own submissions: a workflow run's steps), so a session without a row yet is a fresh one — the call's
   * {@link callStatement} creates the row — rather than the agent scope.
   */
  scopeFrom(
    read: readonly Record<string, unknown>[],
    sessionId: string | undefined,
    opts: { opens?: boolean } = {},
  ): SessionScope {
    const rows = read as readonly {
      session_id: string;
      calls: number | string;
      read_untrusted: number | string;
      tool: string | null;
    }[];
    const own = sessionId ? rows.filter((r) => r.session_id === sessionId) : [];
    const kind = own.length > 0 || (opts.opens && sessionId) ? 'session' : 'agent';
    const mine = kind === 'session' ? own : rows.filter((r) => r.session_id === AGENT_SCOPE);
    const first = mine[0];
    const toolsOf = (of: readonly (typeof rows)[number][]) =>
      [...new Set(of.flatMap((r) => (r.tool === null ? [] : [r.tool])))].sort();
    const tools = toolsOf(mine);
    return {
      kind,
      sessionId: kind === 'session' ? (sessionId as string) : AGENT_SCOPE,
      summary: {
        tools,
        readUntrusted: !!first && !!Number(first.read_untrusted),
        calls: first ? Number(first.calls) : 0,
      },
      agentTools: kind === 'agent' ? tools : toolsOf(rows.filter((r) => r.session_id === AGENT_SCOPE)),
    };
  }

  /**
   * The statement that counts a decided action in its scope and in the agent scope (it writes `action_sessions`
   * only, so it can run with the action's own row): the agent scope's row is created on the agent's first call; a
   * session scope's row exists already (the scope was read from it in this transaction, and session rows are never
   * deleted), so the upsert only counts there, but for a session the call opens (`scopeFrom`'s `opens`), which it
   * creates.
   */
  callStatement(agentId: string, scope: SessionScope): Statement {
    const now = new Date().toISOString();
    const scopes = scope.sessionId === AGENT_SCOPE ? [AGENT_SCOPE] : [AGENT_SCOPE, scope.sessionId];
    return {
      sql: `INSERT INTO action_sessions (agent_id, session_id, calls, read_untrusted, opened_at, updated_at)
       VALUES ${scopes.map(() => '(?, ?, 1, 0, ?, ?)').join(', ')}
       ON CONFLICT (agent_id, session_id) DO UPDATE SET calls = action_sessions.calls + 1, updated_at = excluded.updated_at`,
      params: scopes.flatMap((id) => [agentId, id, now, now]),
    };
  }

  /**
   * Whether a success of `tool` in a call decided under `scope` (naming `sessionId`, or none) would add nothing to
   * the tools used: every scope {@link recordSuccess} writes already lists it (tool rows are never deleted). A call
   * decided under the agent scope that names a session is not covered: that session may be opened for the agent
   * before the call ends.
   */
  toolRecorded(scope: SessionScope, tool: string, sessionId: string | undefined): boolean {
    if (scope.kind === 'agent' && sessionId !== undefined) return false;
    return scope.agentTools.includes(tool) && scope.summary.tools.includes(tool);
  }

  /**
   * Records that an action succeeded: its tool joins the tools used, and an untrusted output marks the scope, in
   * the action's session (when the engine opened it for the agent) and in the agent scope.
   */
  async recordSuccess(tx: Executor, a: SuccessRecord): Promise<void> {
    for (const w of this.successWrites(a)) await tx.run(w.sql, w.params);
  }

  /**
   * The writes {@link recordSuccess} makes, none depending on another or on a read: for a statement that commits by
   * itself with the action's outcome (`Db.writeAlone`), one round trip on PostgreSQL instead of a transaction's four.
   */
  successWrites(a: SuccessRecord): Statement[] {
    const session = a.sessionId ?? AGENT_SCOPE;
    const writes: Statement[] = [];
    if (!a.toolRecorded)
      writes.push({
        sql: `INSERT INTO action_session_tools (agent_id, session_id, tool)
       SELECT agent_id, session_id, ? FROM action_sessions WHERE agent_id = ? AND session_id IN (?, ?)
       ON CONFLICT (agent_id, session_id, tool) DO NOTHING`,
        params: [a.tool, a.agentId, AGENT_SCOPE, session],
      });
    if (a.untrusted)
      writes.push({
        sql: 'UPDATE action_sessions SET read_untrusted = 1, updated_at = ? WHERE agent_id = ? AND session_id IN (?, ?)',
        params: [new Date().toISOString(), a.agentId, AGENT_SCOPE, session],
      });
    return writes;
  }
}

/** A succeeded action, as {@link SessionMemory.recordSuccess} records it. */
export interface SuccessRecord {
  agentId: string;
  sessionId: string | null;
  tool: string;
  untrusted: boolean;
  /** The tool is among the tools used of every scope this success is recorded in ({@link SessionMemory.toolRecorded}). */
  toolRecorded?: boolean;
}
