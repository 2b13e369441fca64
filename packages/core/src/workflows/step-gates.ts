import { compileExpression } from './expressions.js';
import { parseDurationSec } from '../config/duration.js';
import type { ResourceLeases } from '../coordination/resource-leases.js';
import type { RunContextStore } from '../coordination/run-context.js';
import { hashJson } from '../crypto/canonical-json.js';
import { SECURITY_EPOCH_READ, securityEpochFrom } from '../identity/authenticate.js';
import type { Db, Executor } from '../store/db.js';
import type { StepDefinition, WorkflowDefinition } from './definition.js';
import { expressionScope } from './history.js';
import { interventionPause } from './intervention.js';
import type { InterventionGate } from './intervention.js';
import type { RunState, StepState, WorkflowEvent } from './history.js';

/** A tool's connector circuit breaker as the engine sees it. */
export interface BreakerView {
  connector: string;
  state: 'closed' | 'open' | 'half_open';
  /** When an open breaker lets a trial call through. */
  retryAtMs?: number;
}

/** What the gates need. */
export interface StepGatesDeps {
  db: Db;
  leases: ResourceLeases;
  context: RunContextStore;
  /** The circuit breaker of a tool's connector; undefined for an unknown tool. */
  breaker?: (tool: string) => BreakerView | undefined;
  /** Agents paused and kill switches: a step whose agent is held pauses instead of starting. */
  intervention?: InterventionGate;
}

/** What a step start looks at first: the context it observed (events to record first), and the security epoch. */
export interface StartLook {
  events: WorkflowEvent[];
  epoch?: number;
}

/** What a gate answers for a ready step: record these events (none: skip the step this tick), or start it. */
export type GateResult = { wait: WorkflowEvent[] } | { start: { escalateAtMs?: number; fallback?: boolean } };

const LIVE = new Set(['running', 'waiting']);

/**
 * Coordination hooks of the workflow engine, at step start and step end: the shared-context snapshot that
 * expressions see, resource leases (`lease:`), the circuit-breaker pause or fallback of action steps, and
 * escalation (`escalate:`). Everything they decide from outside the history (context values, lease holders,
 * breaker states, the clock) is recorded as an event first, so replay stays deterministic.
 */
export class StepGates {
  constructor(private readonly d: StepGatesDeps) {}

  /**
   * A `context_observed` event when the run's shared context differs from the history's last snapshot (`events`),
   * and the security epoch read with it, in one round trip on PostgreSQL, for {@link beforeStart}'s intervention
   * check of the same step (`epoch`; undefined without an intervention gate).
   */
  async observeContext(runId: string, st: RunState): Promise<StartLook> {
    const [rows = [], epochRows] = await this.d.db.readTogether(this.d.db, [
      this.d.context.entriesRead(runId),
      ...(this.d.intervention ? [SECURITY_EPOCH_READ] : []),
    ]);
    const entries: Record<string, unknown> = {};
    for (const e of this.d.context.entriesFrom(rows)) entries[e.key] = e.value;
    const events: WorkflowEvent[] =
      hashJson(entries) === hashJson(st.context) ? [] : [{ type: 'context_observed', entries }];
    return epochRows ? { events, epoch: securityEpochFrom(epochRows) } : { events };
  }

  /**
   * Decides whether a ready pending step may start now: breaker first, then the intervention gate, then its
   * resource lease. `epoch`: the security epoch {@link observeContext} read just before (else the gate reads it).
   */
  async beforeStart(p: {
    runId: string;
    def: WorkflowDefinition;
    stepId: string;
    st: RunState;
    nowMs: number;
    epoch?: number | undefined;
  }): Promise<GateResult> {
    const step = p.def.steps[p.stepId] as StepDefinition;
    const s = p.st.steps[p.stepId] as StepState;
    const start: { escalateAtMs?: number; fallback?: boolean } = {};
    if (step.escalate)
      start.escalateAtMs =
        p.nowMs + parseDurationSec(step.escalate.after, `steps.${p.stepId}.escalate.after`) * 1000;
    if (step.kind === 'action' && this.d.breaker) {
      const b = this.d.breaker(step.tool);
      if (b?.state === 'open') {
        if (step.fallback) start.fallback = true;
        else if (s.pausedUntilMs !== undefined && s.pausedUntilMs > p.nowMs) return { wait: [] };
        else
          return {
            wait: [
              {
                type: 'step_paused',
                stepId: p.stepId,
                connector: b.connector,
                atMs: p.nowMs,
                untilMs: b.retryAtMs ?? p.nowMs + 1000,
              },
            ],
          };
      }
    }
    if (this.d.intervention) {
      const held = await this.d.intervention.step(step, {
        fallback: !!start.fallback,
        ...(p.epoch !== undefined ? { epoch: p.epoch } : {}),
      });
      if (held) return { wait: interventionPause(p.stepId, s, held, p.nowMs) };
    }
    if (step.lease) {
      let key: unknown;
      try {
        key = await compileExpression(step.lease).evaluate(expressionScope(p.st));
      } catch (err) {
        return { wait: [leaseFailure(p.stepId, s, `lease expression failed: ${(err as Error).message}`)] };
      }
      if (typeof key !== 'string' || key.length === 0 || key.length > 200)
        return {
          wait: [leaseFailure(p.stepId, s, 'lease expression must give a string of 1-200 characters')],
        };
      const got = await this.d.db.tx((tx) =>
        this.d.leases.acquire(tx, {
          key,
          runId: p.runId,
          stepId: p.stepId,
          priority: p.def.priority ?? 0,
          nowMs: p.nowMs,
        }),
      );
      if (!got)
        return {
          wait:
            s.blockedOn === key
              ? []
              : [{ type: 'step_blocked', stepId: p.stepId, leaseKey: key, atMs: p.nowMs }],
        };
    }
    return { start };
  }

  /** The next escalation due in the run, if any: a step unfinished past its `escalate.after`. */
  escalation(def: WorkflowDefinition, st: RunState, nowMs: number): WorkflowEvent | undefined {
    for (const [id, s] of Object.entries(st.steps)) {
      const due = escalationDue(def, id, s);
      const step = def.steps[id];
      if (due && step?.escalate && nowMs >= due.dueMs)
        return {
          type: 'step_escalated',
          stepId: id,
          attempt: s.attempt,
          to: step.escalate.to,
          reason: due.reason,
        };
    }
    return undefined;
  }

  /** Whether {@link onCommit} may write for runs of `def`: workflows without leases never touch the lease tables. */
  writesOnCommit(def: WorkflowDefinition): boolean {
    return Object.values(def.steps).some((s) => s.lease);
  }

  /**
   * Releases resource leases in the transaction that records the step's end: a step's lease when it completes,
   * fails or is skipped; every lease of a run that ended; the queue places of a run that stopped going forward.
   */
  async onCommit(
    tx: Executor,
    p: { runId: string; def: WorkflowDefinition; events: readonly WorkflowEvent[]; after: RunState },
  ): Promise<void> {
    const { runId, def, after } = p;
    if (!this.writesOnCommit(def)) return;
    for (const e of p.events)
      if (
        (e.type === 'step_completed' || e.type === 'step_failed' || e.type === 'step_skipped') &&
        def.steps[e.stepId]?.lease
      )
        await this.d.leases.releaseStep(tx, runId, e.stepId);
    if (['completed', 'failed', 'cancelled'].includes(after.status))
      await this.d.leases.releaseRun(tx, runId);
    else if (after.status === 'compensating')
      await this.d.leases.releaseRun(tx, runId, { waitersOnly: true });
  }
}

function leaseFailure(stepId: string, s: StepState, message: string): WorkflowEvent {
  return {
    type: 'step_failed',
    stepId,
    attempt: s.attempt,
    error: { code: 'invalid_lease', message: `steps.${stepId}.lease: ${message}`, retryable: false },
  };
}

/**
 * When a step is escalated if still unfinished, and why: a live step past its `escalate.after`, a step queued that
 * long for a resource lease, or paused that long (breaker or intervention). Undefined: no escalation is due for it
 * (none declared, or already escalated in this attempt). The scheduler wakes a run at the earliest of these.
 */
export function escalationDue(
  def: WorkflowDefinition,
  id: string,
  s: StepState,
): { dueMs: number; reason: string } | undefined {
  const step = def.steps[id];
  if (!step?.escalate || s.escalatedAttempt === s.attempt) return undefined;
  const afterMs = parseDurationSec(step.escalate.after, `steps.${id}.escalate.after`) * 1000;
  if (LIVE.has(s.status) && s.escalateAtMs !== undefined)
    return { dueMs: s.escalateAtMs, reason: `step ${id} is still ${s.status} after ${step.escalate.after}` };
  if (s.status === 'pending' && s.blockedOn !== undefined && s.blockedAtMs !== undefined)
    return {
      dueMs: s.blockedAtMs + afterMs,
      reason: `step ${id} has waited ${step.escalate.after} for the lease '${s.blockedOn}'`,
    };
  if (s.pausedAtMs !== undefined && (s.status === 'pending' || s.pausedReason === 'intervention'))
    return {
      dueMs: s.pausedAtMs + afterMs,
      reason:
        s.pausedReason === 'intervention'
          ? `step ${id} has been paused ${step.escalate.after}: ${s.pausedDetail ?? 'intervention'}`
          : `step ${id} has been paused ${step.escalate.after} by an open circuit breaker`,
    };
  return undefined;
}
