import crypto from 'node:crypto';
import { Ajv } from 'ajv';
import type { AuditEvent, AuditLog } from '../audit/audit-log.js';
import { ConflictError, ForbiddenError, NotFoundError, UserError } from '../errors.js';
import type { AgentRegistry } from '../identity/agents.js';
import type { Human } from '../identity/humans.js';
import type { ActionService } from '../pipeline/action-service.js';
import { crashPoint } from '../pipeline/crash-points.js';
import type { Db } from '../store/db.js';
import { definitionHash, parseWorkflow } from './definition.js';
import type { StepDefinition, WorkflowDefinition } from './definition.js';
import { replay } from './history.js';
import type { RecordedEvent, RunState, StepState, WorkflowEvent } from './history.js';
import { nextWork } from './next-work.js';
import { RunStore } from './run-store.js';
import type { WorkflowRun } from './run-store.js';
import { StepRunner } from './step-runner.js';
import type { RuleHandler, WorkflowCrashPoint } from './step-runner.js';

/** What the workflow engine is built from. */
export interface WorkflowEngineOptions {
  db: Db;
  audit: AuditLog;
  agents: AgentRegistry;
  actions: ActionService;
  definitions: readonly WorkflowDefinition[];
  rules?: Record<string, RuleHandler>;
  /** This node's id (lease owner). */
  nodeId?: string;
  /** How long a claimed run stays leased to this node without progress. Default 30 s. */
  leaseMs?: number;
  /** Called at named crash points; default: `AOS_CRASH_POINT` kills the process there. */
  crash?: (point: WorkflowCrashPoint) => void;
}

/** A run with its steps and history, as `aos runs show` prints it. */
export interface WorkflowRunDetail extends WorkflowRun {
  steps: Record<string, Omit<StepState, 'votes'> & { kind: string; votes: StepState['votes'] }>;
  events: RecordedEvent[];
}

const TERMINAL = new Set(['completed', 'failed', 'cancelled']);

function auditFor(run: { id: string; workflow: string }, e: WorkflowEvent, st: RunState): AuditEvent[] {
  const base = { actor: `workflow:${run.workflow}`, subject: `run:${run.id}` };
  switch (e.type) {
    case 'step_completed':
      return [
        {
          ...base,
          type: 'workflow.step_completed',
          payload: { stepId: e.stepId, attempt: e.attempt, actionId: e.actionId ?? null },
        },
      ];
    case 'step_failed':
      return [
        {
          ...base,
          type: 'workflow.step_failed',
          payload: { stepId: e.stepId, attempt: e.attempt, error: e.error, retryAtMs: e.retryAtMs ?? null },
        },
      ];
    case 'step_waiting':
      return e.approval
        ? [{ ...base, type: 'workflow.approval_requested', payload: { stepId: e.stepId, ...e.approval } }]
        : [];
    case 'review_rejected':
      return [
        {
          ...base,
          type: 'workflow.review_rejected',
          payload: { stepId: e.stepId, target: e.target, round: e.round, critique: e.critique },
        },
      ];
    case 'run_completed':
      return [{ ...base, type: 'workflow.run_completed', payload: {} }];
    case 'run_finished': {
      const out: AuditEvent[] = [];
      if (st.compensated.size)
        out.push({ ...base, type: 'workflow.run_compensated', payload: { steps: [...st.compensated] } });
      out.push({
        ...base,
        type: e.status === 'cancelled' ? 'workflow.run_cancelled' : 'workflow.run_failed',
        payload: { error: e.error ?? null },
      });
      return out;
    }
    case 'compensation_done':
      return [
        {
          ...base,
          type: 'workflow.step_compensated',
          payload: { stepId: e.stepId, actionId: e.actionId, status: e.status },
        },
      ];
    default:
      return [];
  }
}

/**
 * Durable workflow runs. A run is its event history (`workflow_events`); state is rebuilt by replaying it, and the
 * next step is decided from that state alone. Every side effect is a pipeline action whose idempotency key is derived
 * from run, step and attempt, so a run resumed on any node never repeats an effect. Runs are claimed with a lease;
 * a dead node's runs are picked up when their lease runs out.
 */
export class WorkflowEngine {
  private readonly runs: RunStore;
  private readonly defs = new Map<string, WorkflowDefinition>();
  private readonly rules: Map<string, RuleHandler>;
  private readonly steps: StepRunner;
  private readonly ajv = new Ajv({ allErrors: false, strict: false });
  readonly nodeId: string;
  private readonly leaseMs: number;
  private readonly crash: (point: WorkflowCrashPoint) => void;
  private recorded = 0;

  constructor(private readonly o: WorkflowEngineOptions) {
    this.runs = new RunStore(o.db);
    this.rules = new Map(Object.entries(o.rules ?? {}));
    for (const d of o.definitions) this.defs.set(d.name, d);
    this.nodeId = o.nodeId ?? `wf-${crypto.randomBytes(6).toString('hex')}`;
    this.leaseMs = o.leaseMs ?? 30_000;
    this.crash = o.crash ?? ((p) => crashPoint(p));
    this.steps = new StepRunner({
      agents: o.agents,
      actions: o.actions,
      rules: this.rules,
      crash: this.crash,
    });
  }

  /** The workflows this engine knows. */
  definitions(): WorkflowDefinition[] {
    return [...this.defs.values()].sort((a, b) => a.name.localeCompare(b.name));
  }

  /** Starts a run: validates the input against the workflow's JSON Schema and the steps against the organisation. */
  async start(name: string, input: unknown, actor: string): Promise<WorkflowRun> {
    const def = this.defs.get(name);
    if (!def) throw new NotFoundError('workflow', name, 'workflow');
    const validate = this.ajv.compile(def.input);
    if (!validate(input)) {
      const e = validate.errors?.[0];
      const field = `input${(e?.instancePath ?? '').replaceAll('/', '.')}`;
      throw new UserError(e?.message ?? 'invalid', { field });
    }
    const roles = new Set((await this.o.agents.list({ status: 'active' })).map((a) => a.role));
    parseWorkflow(def, { roles, rules: new Set(this.rules.keys()) });
    for (const [id, step] of Object.entries(def.steps)) {
      if (step.kind === 'action') await this.o.agents.require(step.as, `steps.${id}.as`);
    }
    const id = `run_${crypto.randomBytes(10).toString('hex')}`;
    const now = new Date().toISOString();
    await this.o.db.tx(async (tx) => {
      await this.runs.insert(tx, { id, def, hash: definitionHash(def), input, actor, now });
      await this.runs.append(tx, id, [{ type: 'run_started', input, actor }], now);
      await this.o.audit.append(tx, {
        actor,
        type: 'workflow.run_started',
        subject: `run:${id}`,
        payload: {
          workflow: def.name,
          version: def.version,
          owner: def.owner,
          definitionHash: definitionHash(def),
        },
      });
    });
    this.crash('workflow.after-start');
    return (await this.runs.get(id)) as WorkflowRun;
  }

  /** A run with its step states and history. */
  async get(runId: string): Promise<WorkflowRunDetail> {
    const run = await this.runs.get(runId);
    if (!run) throw new NotFoundError('run', runId, 'run');
    const def = (await this.runs.definition(runId)) as WorkflowDefinition;
    const events = await this.runs.events(runId);
    const st = replay(def, events);
    const steps: WorkflowRunDetail['steps'] = {};
    for (const [id, s] of Object.entries(st.steps))
      steps[id] = { ...s, kind: (def.steps[id] as StepDefinition).kind };
    return { ...run, steps, events };
  }

  /** Recent runs, newest first. */
  list(filter: Parameters<RunStore['list']>[0] = {}): Promise<WorkflowRun[]> {
    return this.runs.list(filter);
  }

  /** Asks a run to stop: completed steps are compensated in reverse order on the next tick. */
  async cancel(runId: string, actor: string, reason?: string): Promise<WorkflowRun> {
    await this.o.db.tx(async (tx) => {
      const run = await tx.get<{ status: string }>(
        `SELECT status FROM workflow_runs WHERE id = ?${this.o.db.forUpdate}`,
        [runId],
      );
      if (!run) throw new NotFoundError('run', runId, 'run');
      if (TERMINAL.has(run.status) || run.status === 'compensating')
        throw new ConflictError(`run ${runId} is already ${run.status}`, { field: 'run' });
      const now = new Date().toISOString();
      await this.runs.append(
        tx,
        runId,
        [{ type: 'cancel_requested', actor, ...(reason ? { reason } : {}) }],
        now,
      );
      await this.runs.update(tx, runId, { status: 'compensating', now });
      await this.o.audit.append(tx, {
        actor,
        type: 'workflow.cancel_requested',
        subject: `run:${runId}`,
        payload: { reason: reason ?? null },
      });
    });
    return (await this.runs.get(runId)) as WorkflowRun;
  }

  /**
   * A human's decision on an approval step. The approver must be in the step's group and may not be the human who
   * started the run; one deny fails the step, the quorum of approvals completes it.
   */
  async decide(p: {
    runId: string;
    stepId: string;
    human: Human;
    vote: 'approve' | 'deny';
    comment?: string;
  }): Promise<WorkflowRunDetail> {
    await this.o.db.tx(async (tx) => {
      const run = await tx.get<{ status: string; created_by: string; workflow: string }>(
        `SELECT status, created_by, workflow FROM workflow_runs WHERE id = ?${this.o.db.forUpdate}`,
        [p.runId],
      );
      if (!run) throw new NotFoundError('run', p.runId, 'run');
      const def = (await this.runs.definition(p.runId, tx)) as WorkflowDefinition;
      const st = replay(def, await this.runs.events(p.runId, tx));
      const s = st.steps[p.stepId];
      if (!s || !s.approval || s.status !== 'waiting' || st.status !== 'running')
        throw new ConflictError(`step ${p.stepId} of run ${p.runId} is not waiting for an approval`, {
          field: 'step',
        });
      if (!p.human.groups.includes(s.approval.group))
        throw new ForbiddenError(`${p.human.id} is not in ${s.approval.group}, which decides this step`);
      if (run.created_by === `human:${p.human.id}`)
        throw new ForbiddenError('the human who started the run cannot approve it');
      if (s.votes.some((v) => v.human === p.human.id))
        throw new ConflictError(`${p.human.id} has already voted on step ${p.stepId}`, { field: 'step' });
      const events: WorkflowEvent[] = [
        {
          type: 'approval_vote',
          stepId: p.stepId,
          human: p.human.id,
          vote: p.vote,
          ...(p.comment ? { comment: p.comment } : {}),
        },
      ];
      const approvers = [
        ...s.votes.filter((v) => v.vote === 'approve').map((v) => v.human),
        ...(p.vote === 'approve' ? [p.human.id] : []),
      ];
      if (p.vote === 'deny') {
        events.push({
          type: 'step_failed',
          stepId: p.stepId,
          attempt: s.attempt,
          error: {
            code: 'approval_denied',
            message: `${p.human.id} denied step ${p.stepId}`,
            retryable: false,
          },
        });
      } else if (approvers.length >= s.approval.quorum) {
        events.push({
          type: 'step_completed',
          stepId: p.stepId,
          attempt: s.attempt,
          output: { approved: true, approvers },
        });
      }
      await this.commit(tx, { id: p.runId, workflow: run.workflow }, def, events);
      await this.o.audit.append(tx, {
        actor: `human:${p.human.id}`,
        type: 'workflow.approval_voted',
        subject: `run:${p.runId}`,
        payload: { stepId: p.stepId, vote: p.vote, comment: p.comment ?? null },
      });
    });
    this.crash('workflow.after-approval-vote');
    return this.get(p.runId);
  }

  /** Appends events, updates the run row (fenced by the lease when one is given) and audits, in `tx`. */
  private async commit(
    tx: Parameters<Parameters<Db['tx']>[0]>[0],
    run: { id: string; workflow: string },
    def: WorkflowDefinition,
    events: WorkflowEvent[],
    history: WorkflowEvent[] | undefined = undefined,
    lease?: { owner: string; untilMs: number },
  ): Promise<RunState> {
    const now = new Date().toISOString();
    const all = history ?? (await this.runs.events(run.id, tx));
    const after = replay(def, [...all, ...events]);
    await this.runs.append(tx, run.id, events, now);
    await this.runs.update(
      tx,
      run.id,
      {
        status: after.status,
        now,
        ...(after.status === 'completed' ? { output: after.output } : {}),
        ...(after.error ? { error: after.error } : {}),
      },
      lease,
    );
    const audits = events.flatMap((e) => auditFor(run, e, after));
    if (audits.length) await this.o.audit.appendMany(tx, audits);
    return after;
  }

  /**
   * Advances every runnable run this node can claim (called from the engine's tick). Answers how many runs it
   * worked on. A run whose work throws (store outage, crash point) keeps its lease until it runs out, as after a crash.
   */
  async tick(nowMs = Date.now()): Promise<number> {
    const claimed = await this.runs.claim(this.nodeId, nowMs, nowMs + this.leaseMs, 20);
    if (claimed.length) this.crash('workflow.after-claim');
    for (const id of claimed) {
      try {
        await this.advance(id);
        await this.runs.release(id, this.nodeId);
      } catch {
        // Nothing half-done is recorded; the lease runs out and this or another node resumes from history.
      }
    }
    return claimed.length;
  }

  /** Runs ticks until no run records anything new (tests; a CLI waiting for a run). Answers the events recorded. */
  async drain(maxTicks = 100): Promise<number> {
    const start = this.recorded;
    for (let i = 0; i < maxTicks; i++) {
      const before = this.recorded;
      await this.tick();
      if (this.recorded === before) break;
    }
    return this.recorded - start;
  }

  private async advance(runId: string): Promise<void> {
    const run = (await this.runs.get(runId)) as WorkflowRun;
    const def = (await this.runs.definition(runId)) as WorkflowDefinition;
    const history: WorkflowEvent[] = await this.runs.events(runId);
    for (let guard = 0; guard < 500; guard++) {
      const st = replay(def, history);
      if (TERMINAL.has(st.status)) return;
      const nowMs = Date.now();
      const events = await this.next(runId, def, st, nowMs);
      if (!events.length) return;
      const lease = { owner: this.nodeId, untilMs: nowMs + this.leaseMs };
      this.crash('workflow.before-commit');
      await this.o.db.tx((tx) => this.commit(tx, run, def, events, history, lease));
      this.crash('workflow.after-commit');
      history.push(...events);
      this.recorded += events.length;
    }
  }

  /** Decides and performs the run's next piece of work; answers its events (none: nothing to do now). */
  private next(
    runId: string,
    def: WorkflowDefinition,
    st: RunState,
    nowMs: number,
  ): Promise<WorkflowEvent[]> {
    return nextWork(this.steps, { runId, def, st, nowMs });
  }
}
