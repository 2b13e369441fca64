import type { AuditLog } from '../../audit/audit-log.js';
import type { AnomaliesConfig } from '../../config/alerting-config.js';
import { parseDurationSec } from '../../config/duration.js';
import type { Agent } from '../../identity/agents.js';
import type { Db, Executor, Statement } from '../../store/db.js';
import { wakeHeldRuns } from '../../workflows/run-wake.js';
import { foldWindow, freshBaseline, fromRow, toParams } from './baseline.js';
import type { Baseline } from './baseline.js';

/** What an anomaly is about. */
export type AnomalyKind =
  | 'new_tool'
  | 'new_connector'
  | 'new_resource'
  | 'rate_spike'
  | 'denial_spike'
  | 'failure_spike'
  | 'unusual_hour'
  | 'untrusted_write';

/** One anomaly, with its evidence: what the agent's history led us to expect, and what was observed. */
export interface Anomaly {
  kind: AnomalyKind;
  agentId: string;
  tool: string;
  /** What the configuration made of it. */
  mode: 'alert' | 'approval' | 'pause';
  baseline: Record<string, number | string>;
  observed: Record<string, number | string>;
  /** The action that triggered it, once recorded. */
  actionId?: string;
}

/** The tool being called, as the detector sees it. */
export interface ObservedCall {
  agent: Agent;
  tool: { name: string; connector: string; effect: 'read' | 'write' };
  /** What the call touches (the value of the tool's `resource` argument), when the tool names one. */
  resource?: string | undefined;
  /** The call's scope already read content a third party controls (session memory). */
  readUntrusted: boolean;
}

/** What the detector answers before the decision, and how to finish once the decision is known. */
export interface AnomalyCheck {
  /** Anomalies raised by this call so far. */
  anomalies: Anomaly[];
  /** The agent is (now) paused by an anomaly: deny this call. */
  pause: boolean;
  /** The agent's writes need a human approval (`approval` mode, until the hold ends). */
  holdWrites: boolean;
  /**
   * Records the call's decision in the baseline (a deny may itself complete a denial spike) and answers the
   * statement that stores the baseline (none when detection is off for the agent): it writes `anomaly_baselines`
   * only, so the caller may run it with the decision's other writes ({@link Db.runIndependent}), in the
   * transaction of the check. Then {@link conclude}.
   */
  settle(outcome: 'allow' | 'approval' | 'deny'): Statement | undefined;
  /**
   * Audits every anomaly of the call and pauses the agent when its mode says so, in `tx`, once the baseline's
   * statement ran. Answers the anomalies to announce.
   */
  conclude(tx: Executor, actionId: string): Promise<Anomaly[]>;
  /**
   * The transaction of the check committed: what it saw for the first time is in the store now, so this node need
   * not write it again (a later call can then be decided without a transaction).
   */
  committed(): void;
}

/** What the detector is built from. */
export interface AnomalyDetectorOptions {
  db: Db;
  audit: AuditLog;
  config: AnomaliesConfig;
  /** The clock (epoch ms); tests drive a synthetic one. */
  now?: () => number;
}

/** How long a history must span before an hour of day can be unusual. */
export const HOUR_HISTORY_MS = 7 * 24 * 3_600_000;

const NONE: AnomalyCheck = {
  anomalies: [],
  pause: false,
  holdWrites: false,
  settle: () => undefined,
  conclude: () => Promise.resolve([]),
  committed: () => undefined,
};

/**
 * Anomaly detection per agent from its own history. The baseline is one row per agent in the store, read (locked on
 * PostgreSQL) and rewritten in the transaction that records each decision, so every node judges by the same
 * history and one agent's calls are counted in order. A node-local cache only skips writes already known to be in
 * the store (a tool the agent is known to have used), never a check.
 *
 * Nothing is raised during warm-up (`warmupCalls` calls and `warmupPeriod` since the first call); see
 * docs/observability.md for the thresholds and the reasoning behind them.
 */
export class AnomalyDetector {
  private readonly windowMs: number;
  private readonly warmupMs: number;
  private readonly holdMs: number;
  private readonly now: () => number;
  private readonly seen = new Set<string>();
  private readonly hasRow = new Set<string>();

  constructor(private readonly o: AnomalyDetectorOptions) {
    this.windowMs = parseDurationSec(o.config.window, 'config.anomalies.window') * 1000;
    this.warmupMs = parseDurationSec(o.config.warmupPeriod, 'config.anomalies.warmupPeriod') * 1000;
    this.holdMs = parseDurationSec(o.config.holdFor, 'config.anomalies.holdFor') * 1000;
    this.now = o.now ?? Date.now;
  }

  private modeOf(agentId: string): 'alert' | 'approval' | 'pause' | undefined {
    const c = this.o.config;
    const own = c.agents[agentId];
    if (!c.enabled || own?.enabled === false) return undefined;
    return own?.mode ?? c.mode;
  }

  /**
   * The statement that reads (and locks) the agent's baseline, for a caller that reads it with other queries and
   * hands the rows to {@link check}; undefined when detection is off for the agent. `versioned`: for a caller that
   * reads outside a transaction and writes alone (the store has {@link Db.rowVersion}): the row is read with its
   * version and not locked, and the statement {@link AnomalyCheck.settle} answers changes the row (one) only while
   * that version is still the row's; the caller requires that change.
   */
  baselineRead(agentId: string, versioned = false): Statement | undefined {
    if (!this.modeOf(agentId)) return undefined;
    const version = this.o.db.rowVersion;
    if (!versioned) return this.baselineStatement(agentId);
    if (version === undefined) throw new Error('baselineRead: this store has no row versions');
    return {
      sql: `SELECT *, ${version} AS row_version FROM anomaly_baselines WHERE agent_id = ?`,
      params: [agentId],
    };
  }

  private baselineStatement(agentId: string): Statement {
    return {
      sql: `SELECT * FROM anomaly_baselines WHERE agent_id = ?${this.o.db.forUpdate}`,
      params: [agentId],
    };
  }

  /**
   * Checks a call before it is decided, in the decision's transaction. `baseline`: the rows {@link baselineRead}
   * answered in this transaction, if the caller read them; without a row the baseline is read (created first) here.
   */
  async check(
    tx: Executor,
    call: ObservedCall,
    baseline?: readonly Record<string, unknown>[],
  ): Promise<AnomalyCheck> {
    const mode = this.modeOf(call.agent.id);
    if (!mode) return NONE;
    const now = this.now();
    const agentId = call.agent.id;
    const read = baseline?.[0];
    if (read) this.hasRow.add(agentId);
    const b = read ? fromRow(read) : await this.load(tx, agentId, now);
    foldWindow(b, now, this.windowMs);
    const warm = b.calls >= this.o.config.warmupCalls && now - b.firstMs >= this.warmupMs;
    const found: Anomaly[] = [];
    const raise = (kind: AnomalyKind, baseline: Anomaly['baseline'], observed: Anomaly['observed']) =>
      found.push({ kind, agentId, tool: call.tool.name, mode, baseline, observed });
    const history = { calls: b.calls, since: new Date(b.firstMs).toISOString() };

    const touched: ['tool' | 'connector' | 'resource', string][] = [
      ['tool', call.tool.name],
      ['connector', call.tool.connector],
    ];
    // Resources are per tool: the same repository through another tool is another kind of touch.
    if (call.resource !== undefined) touched.push(['resource', `${call.tool.name}:${call.resource}`]);
    const sighted: string[] = [];
    for (const [kind, name] of touched) {
      if (await this.firstSeen(tx, agentId, kind, name, now, sighted))
        if (warm)
          raise(
            `new_${kind}`,
            { ...history, [kind]: 'never used' },
            kind === 'resource' ? { resource: call.resource as string } : { [kind]: name },
          );
    }

    b.winCalls += 1;
    const c = this.o.config;
    if (warm && b.activeWindows >= 5 && !flagged(b, 'rate_spike', b.winStartMs)) {
      const threshold = Math.max(c.rateMin, c.rateFactor * b.meanCalls);
      if (b.winCalls >= threshold) {
        b.flagged.rate_spike = b.winStartMs;
        raise(
          'rate_spike',
          { meanCallsPerWindow: round(b.meanCalls), threshold: round(threshold), window: c.window },
          { callsThisWindow: b.winCalls },
        );
      }
    }
    const hour = new Date(now).getUTCHours();
    const hourIndex = Math.floor(now / 3_600_000);
    // The hour and its two neighbours: work that starts at 17:55 and spills into 18:01 is not unusual.
    const near = [hour + 23, hour, hour + 1].reduce((n, h) => n + (b.hours[h % 24] ?? 0), 0);
    const share = b.calls > 0 ? near / b.calls : 0;
    // An hour of day means something only once the history spans a week: before that, every hour not yet worked
    // in would look unusual.
    const weekOfHistory = now - b.firstMs >= HOUR_HISTORY_MS;
    if (warm && weekOfHistory && share < c.unusualHourShare && !flagged(b, 'unusual_hour', hourIndex)) {
      b.flagged.unusual_hour = hourIndex;
      raise('unusual_hour', { shareOfCallsWithinAnHour: round(share), calls: b.calls }, { hourUtc: hour });
    }
    if (call.tool.effect === 'write') {
      if (call.readUntrusted) {
        const rate = b.writes > 0 ? b.writesAfterUntrusted / b.writes : 0;
        if (warm && b.writes >= 20 && rate < c.untrustedWriteShare) {
          raise(
            'untrusted_write',
            { writesAfterUntrustedShare: round(rate), writes: b.writes },
            { writeAfterUntrustedRead: call.tool.name },
          );
        }
        b.writesAfterUntrusted += 1;
      }
      b.writes += 1;
    }
    b.calls += 1;
    b.hours[hour] = (b.hours[hour] ?? 0) + 1;
    if (found.length > 0 && mode === 'approval') b.holdUntilMs = now + this.holdMs;
    const pause = found.length > 0 && mode === 'pause';

    return {
      anomalies: found,
      pause,
      holdWrites: b.holdUntilMs > now && call.tool.effect === 'write',
      settle: (outcome) => {
        if (outcome === 'deny') {
          b.winDenials += 1;
          const spike = this.spike(b, 'denial_spike', b.winDenials, b.meanDenials, warm);
          if (spike) found.push({ ...spike, agentId, tool: call.tool.name, mode });
        }
        return this.saveStatement(b, read?.row_version);
      },
      conclude: (ctx, actionId) => this.conclude(ctx, found, actionId, mode),
      committed: () => {
        for (const key of sighted) this.seen.add(key);
      },
    };
  }

  /** Counts a failed call (the upstream said no, or errored) in the agent's current window; may raise a spike. */
  async recordFailure(tx: Executor, agentId: string, tool: string, actionId: string): Promise<Anomaly[]> {
    const mode = this.modeOf(agentId);
    if (!mode) return [];
    const now = this.now();
    const b = await this.load(tx, agentId, now);
    foldWindow(b, now, this.windowMs);
    b.winFailures += 1;
    const warm = b.calls >= this.o.config.warmupCalls && now - b.firstMs >= this.warmupMs;
    const spike = this.spike(b, 'failure_spike', b.winFailures, b.meanFailures, warm);
    if (spike && mode === 'approval') b.holdUntilMs = now + this.holdMs;
    await this.save(tx, b);
    if (!spike) return [];
    return this.conclude(tx, [{ ...spike, agentId, tool, mode }], actionId, mode);
  }

  private spike(
    b: Baseline,
    kind: 'denial_spike' | 'failure_spike',
    observed: number,
    mean: number,
    warm: boolean,
  ): Pick<Anomaly, 'kind' | 'baseline' | 'observed'> | undefined {
    const c = this.o.config;
    if (!warm || flagged(b, kind, b.winStartMs)) return undefined;
    const threshold = Math.max(c.spikeMin, c.spikeFactor * mean);
    if (observed < threshold) return undefined;
    b.flagged[kind] = b.winStartMs;
    return {
      kind,
      baseline: { meanPerWindow: round(mean), threshold: round(threshold), window: c.window },
      observed: { thisWindow: observed },
    };
  }

  private async conclude(
    tx: Executor,
    found: Anomaly[],
    actionId: string,
    mode: Anomaly['mode'],
  ): Promise<Anomaly[]> {
    for (const a of found) {
      a.actionId = actionId;
      await this.o.audit.append(tx, {
        actor: 'system:anomaly',
        type: 'anomaly.detected',
        subject: `agent:${a.agentId}`,
        payload: { ...a },
      });
    }
    const first = found[0];
    if (first && mode === 'pause') {
      const now = new Date().toISOString();
      const res = await tx.run(
        "UPDATE agents SET status = 'paused', updated_at = ? WHERE id = ? AND status = 'active'",
        [now, first.agentId],
      );
      if (res.changes === 1) {
        await wakeHeldRuns(tx);
        await this.o.audit.append(tx, {
          actor: 'system:anomaly',
          type: 'agent.paused',
          subject: `agent:${first.agentId}`,
          payload: {
            from: 'active',
            to: 'paused',
            reason: `anomaly: ${found.map((a) => a.kind).join(', ')}`,
          },
        });
      }
    }
    return found;
  }

  private async firstSeen(
    tx: Executor,
    agentId: string,
    kind: 'tool' | 'connector' | 'resource',
    name: string,
    now: number,
    sighted: string[],
  ): Promise<boolean> {
    const key = `${agentId}\u0000${kind}\u0000${name}`;
    if (this.seen.has(key)) return false;
    const res = await tx.run(
      'INSERT INTO anomaly_seen (agent_id, kind, name, first_at) VALUES (?, ?, ?, ?) ON CONFLICT (agent_id, kind, name) DO NOTHING',
      [agentId, kind, name, new Date(now).toISOString()],
    );
    // Cached only once it is known to be committed (it was there already, or the check's transaction committed,
    // `committed`): a rolled-back first sighting is seen again.
    if (res.changes === 0) this.seen.add(key);
    else sighted.push(key);
    return res.changes === 1;
  }

  private async load(tx: Executor, agentId: string, now: number): Promise<Baseline> {
    if (!this.hasRow.has(agentId)) {
      const fresh = freshBaseline(agentId, now, this.windowMs);
      const res = await tx.run(
        `INSERT INTO anomaly_baselines (agent_id, first_ms, win_start_ms, hours_json, updated_at) VALUES (?, ?, ?, ?, ?)
         ON CONFLICT (agent_id) DO NOTHING`,
        [agentId, fresh.firstMs, fresh.winStartMs, JSON.stringify(fresh.hours), new Date(now).toISOString()],
      );
      if (res.changes === 0) this.hasRow.add(agentId);
    }
    const { sql, params } = this.baselineStatement(agentId);
    const row = await tx.get<Record<string, unknown>>(sql, params);
    if (!row) {
      // Known to this node, yet gone: the batch that wrote it was rolled back after this node read it. Start again.
      if (this.hasRow.delete(agentId)) return this.load(tx, agentId, now);
      throw new Error(`anomaly baseline of ${agentId} is missing`);
    }
    return fromRow(row);
  }

  private async save(tx: Executor, b: Baseline): Promise<void> {
    const { sql, params } = this.saveStatement(b);
    await tx.run(sql, params);
  }

  /** The UPDATE that stores `b`; with the `version` a versioned read answered, only while the row still has it. */
  private saveStatement(b: Baseline, version?: unknown): Statement {
    const sql = `UPDATE anomaly_baselines SET calls = ?, win_start_ms = ?, win_calls = ?, win_denials = ?, win_failures = ?,
         active_windows = ?, mean_calls = ?, mean_denials = ?, mean_failures = ?, hours_json = ?, writes = ?,
         writes_after_untrusted = ?, flagged_json = ?, hold_until_ms = ?, updated_at = ? WHERE agent_id = ?`;
    const params = toParams(b, new Date(this.now()).toISOString());
    if (version === undefined || version === null) return { sql, params };
    return { sql: `${sql} AND ${this.o.db.rowVersion} = ?`, params: [...params, String(version)] };
  }
}

function flagged(b: Baseline, kind: AnomalyKind, key: number): boolean {
  return b.flagged[kind] === key;
}

function round(n: number): number {
  return Math.round(n * 1000) / 1000;
}
