import crypto from 'node:crypto';
import { Ajv } from 'ajv';
import { ApprovalService, stepApprovalId } from '../approvals/approvals.js';
import type { AuditEvent, AuditLog } from '../audit/audit-log.js';
import { FailureTally } from '../audit/failure-tally.js';
import type { BudgetService } from '../budgets/budgets.js';
import { ConflictError, ForbiddenError, NotFoundError, UserError } from '../errors.js';
import type { EventBus } from '../events/event-bus.js';
import type { AgentRegistry } from '../identity/agents.js';
import { DEFAULT_ACCESS_GROUPS, requireRunManager } from '../identity/access.js';
import type { AccessGroups } from '../identity/access.js';
import type { Human } from '../identity/humans.js';
import type { KillSwitches } from '../intervention/kill-switches.js';
import { SecurityViews } from '../intervention/security-view.js';
import type { ActionService } from '../pipeline/action-service.js';
import { crashPoint } from '../pipeline/crash-points.js';
import type { SecretStore } from '../secrets/index.js';
import { UnexpectedChanges } from '../store/db.js';
import type { Db, Executor, Statement } from '../store/db.js';
import { Coordination } from '../coordination/coordination.js';
import type { ResourceLease } from '../coordination/resource-leases.js';
import { definitionHash, parseWorkflow } from './definition.js';
import type { StepDefinition, WorkflowDefinition } from './definition.js';
import { replay } from './history.js';
import type { OutcomeDecision, RecordedEvent, RunState, StepState, WorkflowEvent } from './history.js';
import { nextWork } from './next-work.js';
import type { NextWorkDeps } from './next-work.js';
import { publishRunEvents } from './run-events.js';
import { emitRunSpans } from '../observability/run-spans.js';
import type { Tracing } from '../observability/tracing.js';
import { RunStore } from './run-store.js';
import { LeaseLostError } from './run-store.js';
import type { ClaimedRun, WakePatch, WorkflowRun } from './run-store.js';
import { wakeRun } from './run-wake.js';
import { nextWake } from './wake.js';
import { BackgroundErrors } from '../observability/background-errors.js';
import { StepGates } from './step-gates.js';
import type { BreakerView } from './step-gates.js';
import { InterventionGate } from './intervention.js';
import { RunPauses } from './run-pause.js';
import { StepRunner } from './step-runner.js';
import type { RuleHandler, WorkflowCrashPoint } from './step-runner.js';
import { fireSchedules } from './schedules.js';
import { acceptWebhook } from './webhook-trigger.js';
import type { WebhookDelivery } from './webhook-trigger.js';
import { ApprovalSteps } from './steps/approval-step.js';
import { ItemSteps } from './steps/items.js';
import { WorkerTaskItems } from './steps/worker-items.js';
import { checkWorkflowCalls } from './steps/kinds-schema.js';
import { SignalStore } from './steps/signals.js';
import type { RunSignal } from './steps/signals.js';
import { SubRuns } from './steps/sub-workflow.js';
import { TaskQueue } from './task-queue.js';
import { resolutionEvents } from './unknown-outcome.js';
import type { TaskQueueOptions } from './task-queue.js';
import { WorkerTaskStep } from './worker-task-step.js';

/** What the workflow engine is built from. */
export interface WorkflowEngineOptions {
  db: Db;
  audit: AuditLog;
  agents: AgentRegistry;
  actions: ActionService;
  /** Reads what a run spent against its own budget (shown with the run). */
  budgets?: BudgetService;
  definitions: readonly WorkflowDefinition[];
  rules?: Record<string, RuleHandler>;
  /** This node's id (lease owner). */
  nodeId?: string;
  /** How long a claimed run stays leased to this node without progress. Default 30 s. */
  leaseMs?: number;
  /** Called at named crash points; default: `AOS_CRASH_POINT` kills the process there. */
  crash?: (point: WorkflowCrashPoint) => void;
  /** Where run events (`run.*`) are published after each committed change; none: not published. */
  events?: EventBus;
  /** Resolves webhook trigger secrets (`${secret:NAME}`); none: every webhook is refused. */
  secrets?: SecretStore;
  /** Runs one tick claims at most. Default 20. */
  claimLimit?: number;
  /**
   * Claimed runs a tick advances at the same time (each run's own work stays in order). Default 1: one after
   * another. More lets concurrent runs share commits (SQLite group commit) and overlap their round trips.
   */
  advanceConcurrency?: number;
  /** Shared run context and resource leases; default: built on `db`. */
  coordination?: Coordination;
  /** A tool's connector circuit breaker, so action steps pause or fall back instead of hammering it. */
  breaker?: (tool: string) => BreakerView | undefined;
  /** Limits of the task queue (worker task steps, delegation). */
  tasks?: TaskQueueOptions;
  /** Kill switches agents taking tasks are checked against. */
  killSwitches?: KillSwitches;
  /** The node's security views, shared with authentication and the pipeline (default: the gate's own). */
  security?: SecurityViews;
  /**
   * Where background loops (tick, schedules, task lease expiry) log and count the errors they survive; default: a
   * silent logger. The engine's {@link BackgroundErrors} is shared so `/metrics` counts every loop.
   */
  backgroundErrors?: BackgroundErrors;
  /** OpenTelemetry traces: a finished run emits its `invoke_workflow` and step spans. Default off. */
  tracing?: Tracing;
  /**
   * How long a run that did nothing although its state looked like work waits before it is looked at again
   * (a safety net: every outside event wakes its run at once). Default 60 s.
   */
  idleRecheckMs?: number;
  /** Failed advances in a row after which the run is surfaced to its owner (`workflow.run_stalled`). Default 5. */
  stallAfter?: number;
  /** Longest back-off between failed advances. Default 15 min. */
  maxBackoffMs?: number;
  /** The configured admins group, whose members manage every run (see {@link mayManageRun}). Default `admins`. */
  groups?: Pick<AccessGroups, 'admins'>;
  /** Where refused webhook deliveries are counted and audited in aggregate; default: a one-minute window on `db`. */
  failures?: FailureTally;
  /** The approval requests approval steps become (the pipeline's inbox); default: built on `db`. */
  approvals?: ApprovalService;
  /** How long a group has on an approval step that names no `expires`. Default 24 h. */
  approvalExpirySec?: number;
}

/** A run with its steps and history, as `aos runs show` prints it. */
export interface WorkflowRunDetail extends WorkflowRun {
  steps: Record<string, Omit<StepState, 'votes'> & { kind: string; votes: StepState['votes'] }>;
  events: RecordedEvent[];
  /** Resource leases the run's steps hold now. */
  leases: ResourceLease[];
  /** Set while a human holds the run (`aos runs pause`): who paused it and why. */
  paused?: { by: string; reason?: string };
  /** The run's own budget and what its actions spent of it, when the workflow declares one. */
  budget?: NonNullable<WorkflowDefinition['budget']> & { used: { calls: number; cost: number } };
}

const TERMINAL = new Set(['completed', 'failed', 'cancelled']);

/** Events an advance may commit without waiting for the disk (see {@link recomputable}). */
const RECOMPUTABLE = new Set<WorkflowEvent['type']>([
  'step_started',
  'step_completed',
  'step_skipped',
  'context_observed',
]);

/**
 * Whether a batch an advance commits can be decided again from what is on disk should it be lost: step starts and
 * skips are decisions from the history; a step's completion is a rule's output (a function of the history) or read
 * from a record its source committed (the pipeline's action, a task, a child run), under an idempotency key. Such a
 * batch commits non-durably (`TxOptions.durable: false`): a killed process loses nothing, and the first durable
 * commit after it (the next action's decision, the run's end) reaches the disk with it, in order. An operating-system
 * crash in between takes the run back to its last durable event, from where it advances to the same state.
 * Everything else — a failure, a wait, an outside input, the run's end — waits for the disk.
 */
function recomputable(events: readonly WorkflowEvent[]): boolean {
  return events.every((e) => RECOMPUTABLE.has(e.type));
}

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
    case 'step_paused':
      return [
        {
          ...base,
          type: 'workflow.step_paused',
          payload:
            e.reason === 'intervention'
              ? { stepId: e.stepId, reason: e.reason, detail: e.detail ?? null, restart: !!e.restart }
              : { stepId: e.stepId, connector: e.connector ?? null, untilMs: e.untilMs ?? null },
        },
      ];
    case 'step_blocked':
      return [
        { ...base, type: 'workflow.step_blocked', payload: { stepId: e.stepId, leaseKey: e.leaseKey } },
      ];
    case 'step_escalated':
      return [
        {
          ...base,
          type: 'workflow.step_escalated',
          payload: {
            stepId: e.stepId,
            attempt: e.attempt,
            to: e.to,
            reason: e.reason,
            ...(e.unknownOutcome ? { unknownOutcome: e.unknownOutcome } : {}),
          },
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

/** What starts a run: its definition, input, who starts it, and what triggered it (unique when given). */
interface NewRunParams {
  def: WorkflowDefinition;
  input: unknown;
  actor: string;
  triggerKey?: string;
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
  private readonly items: ItemSteps;
  private readonly signals: SignalStore;
  private readonly subRuns: SubRuns;
  private readonly gates: StepGates;
  private readonly coordination: Coordination;
  private readonly pauses: RunPauses;
  /** What the gate and the start checks keep under the security epoch (the engine's, shared with the pipeline). */
  private readonly security: SecurityViews;
  private readonly workerSteps: WorkerTaskStep;
  private readonly approvalSteps: ApprovalSteps;
  private readonly approvals: ApprovalService;
  /** Everything {@link nextWork} decides and acts with. */
  private readonly workDeps: NextWorkDeps;
  /** The queue of work for agents: worker task steps and the tasks they delegate. */
  readonly tasks: TaskQueue;
  private readonly ajv = new Ajv({ allErrors: false, strict: false });
  readonly nodeId: string;
  private readonly leaseMs: number;
  private readonly crash: (point: WorkflowCrashPoint) => void;
  private readonly groups: Pick<AccessGroups, 'admins'>;
  private recorded = 0;
  /** Errors the background loops survived: logged with their cause and counted (`/metrics`). */
  readonly backgroundErrors: BackgroundErrors;
  /** Refused webhook deliveries, audited in aggregate. */
  readonly failures: FailureTally;

  constructor(private readonly o: WorkflowEngineOptions) {
    this.runs = new RunStore(o.db);
    this.backgroundErrors = o.backgroundErrors ?? new BackgroundErrors();
    this.failures = o.failures ?? new FailureTally({ db: o.db, audit: o.audit, windowMs: 60_000 });
    this.pauses = new RunPauses({
      db: o.db,
      audit: o.audit,
      runs: this.runs,
      ...(o.events ? { events: o.events } : {}),
    });
    this.rules = new Map(Object.entries(o.rules ?? {}));
    for (const d of o.definitions) this.defs.set(d.name, d);
    this.nodeId = o.nodeId ?? `wf-${crypto.randomBytes(6).toString('hex')}`;
    this.leaseMs = o.leaseMs ?? 30_000;
    this.crash = o.crash ?? ((p) => crashPoint(p));
    this.groups = o.groups ?? DEFAULT_ACCESS_GROUPS;
    this.security =
      o.security ??
      new SecurityViews({
        db: o.db,
        agents: o.agents,
        ...(o.killSwitches ? { killSwitches: o.killSwitches } : {}),
      });
    const intervention = new InterventionGate({ db: o.db, agents: o.agents, views: this.security });
    this.steps = new StepRunner({
      agents: o.agents,
      actions: o.actions,
      rules: this.rules,
      crash: this.crash,
      intervention,
    });
    checkWorkflowCalls(o.definitions);
    this.signals = new SignalStore({ db: o.db, audit: o.audit });
    this.subRuns = new SubRuns({
      db: o.db,
      audit: o.audit,
      runs: this.runs,
      definitions: this.defs,
      cancel: (id, actor, reason) => this.requestCancel(id, actor, reason),
      crash: this.crash,
      announce: (run, input, actor) => this.announceStart(run, input, actor),
    });
    const coordination = o.coordination ?? new Coordination({ db: o.db, audit: o.audit, agents: o.agents });
    this.coordination = coordination;
    this.gates = new StepGates({
      db: o.db,
      leases: coordination.leases,
      context: coordination.context,
      ...(o.breaker ? { breaker: o.breaker } : {}),
      intervention,
    });
    this.tasks = new TaskQueue(
      {
        db: o.db,
        audit: o.audit,
        agents: o.agents,
        ...(o.killSwitches ? { killSwitches: o.killSwitches } : {}),
        ...(o.events ? { events: o.events } : {}),
        groups: this.groups,
      },
      o.tasks,
    );
    this.workerSteps = new WorkerTaskStep(o.db, this.tasks);
    this.items = new ItemSteps({
      agents: o.agents,
      actions: o.actions,
      rules: this.rules,
      crash: this.crash,
      workerItems: new WorkerTaskItems({ db: o.db, tasks: this.tasks }),
      intervention,
    });
    this.approvals = o.approvals ?? new ApprovalService(o.db, o.audit);
    this.approvalSteps = new ApprovalSteps({
      approvals: this.approvals,
      defaultExpirySec: o.approvalExpirySec ?? 86_400,
    });
    this.workDeps = {
      approvalSteps: this.approvalSteps,
      steps: this.steps,
      items: this.items,
      subRuns: this.subRuns,
      workerSteps: this.workerSteps,
      signals: this.signals,
      gates: this.gates,
    };
  }

  /** The workflows this engine knows. */
  definitions(): WorkflowDefinition[] {
    return [...this.defs.values()].sort((a, b) => a.name.localeCompare(b.name));
  }

  /**
   * Starts a run for a human who may manage it (the workflow's owner, who is pinned on the run, or an admin):
   * validates the input against the workflow's JSON Schema and the steps against the organisation.
   * @throws ForbiddenError for anyone else (see {@link mayManageRun})
   */
  async start(name: string, input: unknown, by: Human): Promise<WorkflowRun> {
    const def = this.defs.get(name);
    if (!def) throw new NotFoundError('workflow', name, 'workflow');
    requireRunManager(by, def, this.groups, `starting ${name}`);
    const actor = `human:${by.id}`;
    await this.checkStart(def, input);
    const id = await this.beginAlone({ def, input, actor });
    this.crash('workflow.after-start');
    this.announceStart({ id, workflow: def.name }, input, actor);
    return (await this.runs.get(id)) as WorkflowRun;
  }

  /** Publishes `run.started` for a run whose start has committed. */
  private announceStart(run: { id: string; workflow: string }, input: unknown, actor: string): void {
    publishRunEvents(this.o.events, run, [{ type: 'run_started', input, actor }], { status: 'running' });
  }

  /**
   * Starts a run once per trigger key (a webhook delivery, a cron slot): when a run with the key exists, answers it
   * with `created: false` instead of starting another, also when two callers race.
   */
  async startOnce(
    name: string,
    input: unknown,
    p: { actor: string; triggerKey: string },
  ): Promise<{ run: WorkflowRun; created: boolean }> {
    const existing = await this.runs.byTriggerKey(p.triggerKey);
    if (existing) return { run: existing, created: false };
    const def = this.defs.get(name);
    if (!def) throw new NotFoundError('workflow', name, 'workflow');
    await this.checkStart(def, input);
    let id: string;
    try {
      id = await this.beginAlone({ def, input, ...p });
    } catch (err) {
      const raced = await this.runs.byTriggerKey(p.triggerKey);
      if (raced) return { run: raced, created: false };
      throw err;
    }
    this.announceStart({ id, workflow: def.name }, input, p.actor);
    return { run: (await this.runs.get(id)) as WorkflowRun, created: true };
  }

  /** Starts a run from a signed webhook delivery (`POST /v1/hooks/workflows/:name`); see {@link acceptWebhook}. */
  startFromWebhook(d: WebhookDelivery): Promise<{ run: WorkflowRun; created: boolean }> {
    return acceptWebhook(d, {
      failures: this.failures,
      secrets: this.o.secrets,
      definition: this.defs.get(d.workflow),
      startOnce: (p) => this.startOnce(d.workflow, p.input, p),
    });
  }

  /** Per definition, the roles, rules and workflows it last passed {@link parseWorkflow} against. */
  private readonly checkedAgainst = new WeakMap<WorkflowDefinition, string>();

  /** Checks a run of `def` could start with `input`: the input schema, roles, rule handlers and `as` agents. */
  private async checkStart(def: WorkflowDefinition, input: unknown): Promise<void> {
    const validate = this.ajv.compile(def.input);
    if (!validate(input)) {
      const e = validate.errors?.[0];
      const field = `input${(e?.instancePath ?? '').replaceAll('/', '.')}`;
      throw new UserError(e?.message ?? 'invalid', { field });
    }
    // A role whose agents are only paused is known: the run starts, and its steps pause until an agent is back.
    const view = await this.security.current();
    const roles = await this.security.roleNames(view);
    const context = { roles, rules: new Set(this.rules.keys()), workflows: new Set(this.defs.keys()) };
    // The whole definition is checked again only when what it is checked against changed since it last passed.
    const key = JSON.stringify([[...roles].sort(), [...context.rules].sort(), [...context.workflows].sort()]);
    if (this.checkedAgainst.get(def) !== key) {
      parseWorkflow(def, context);
      this.checkedAgainst.set(def, key);
    }
    const known = async (agentId: string, field: string) => {
      if (!(await this.security.agent(view, agentId))) throw new NotFoundError('agent', agentId, field);
    };
    for (const [id, step] of Object.entries(def.steps)) {
      if (step.kind === 'action') await known(step.as, `steps.${id}.as`);
      if (step.kind === 'parallel' && step.do.kind === 'action') await known(step.do.as, `steps.${id}.do.as`);
    }
  }

  /** Records a new run in `tx`: its row, `run_started` and the audit record. Answers its id. */
  private async begin(tx: Executor, p: NewRunParams): Promise<string> {
    const { id, writes, audits } = this.beginWrites(p);
    await this.o.audit.appendWith(tx, audits, writes);
    return id;
  }

  /**
   * {@link begin} as a transaction of its own: nothing in it depends on a read, so on PostgreSQL it is one statement
   * (`AuditLog.appendAlone`), which commits by itself when no other transaction waits, instead of four round trips.
   */
  private async beginAlone(p: NewRunParams): Promise<string> {
    const { id, writes, audits } = this.beginWrites(p);
    await this.o.audit.appendAlone(audits, writes);
    return id;
  }

  /** What recording a new run writes: its row (with its priority), `run_started`, and the audit record. */
  private beginWrites(p: NewRunParams): { id: string; writes: Statement[]; audits: AuditEvent[] } {
    const { def, input, actor } = p;
    const id = `run_${crypto.randomBytes(10).toString('hex')}`;
    const now = new Date().toISOString();
    const writes = [
      this.runs.insertStatement({
        id,
        def,
        hash: definitionHash(def),
        input,
        actor,
        now,
        ...(p.triggerKey ? { triggerKey: p.triggerKey } : {}),
        ...(def.priority ? { priority: def.priority } : {}),
      }),
      ...this.runs.appendStatements(id, [{ type: 'run_started', input, actor }], now),
    ];
    const audits: AuditEvent[] = [
      {
        actor,
        type: 'workflow.run_started',
        subject: `run:${id}`,
        payload: {
          workflow: def.name,
          version: def.version,
          owner: def.owner,
          definitionHash: definitionHash(def),
          ...(p.triggerKey ? { trigger: p.triggerKey } : {}),
        },
      },
    ];
    return { id, writes, audits };
  }

  /** A run with its step states and history. */
  async get(runId: string): Promise<WorkflowRunDetail> {
    const snap = await this.runs.snapshot(runId);
    if (!snap) throw new NotFoundError('run', runId, 'run');
    const { run, def, events } = snap;
    const st = replay(def, events);
    const steps: WorkflowRunDetail['steps'] = {};
    for (const [id, s] of Object.entries(st.steps))
      steps[id] = { ...s, kind: (def.steps[id] as StepDefinition).kind };
    const budget =
      def.budget && this.o.budgets
        ? { budget: { ...def.budget, used: await this.o.budgets.spent(`run:${runId}`, 'total') } }
        : {};
    return {
      ...run,
      steps,
      events,
      ...budget,
      ...(st.paused ? { paused: st.paused } : {}),
      leases: await this.coordination.leases.list({ runId }),
    };
  }

  /** Recent runs, newest first. */
  list(filter: Parameters<RunStore['list']>[0] = {}): Promise<WorkflowRun[]> {
    return this.runs.list(filter);
  }

  /**
   * The run, once `by` may manage it: the owner pinned on the run or an admin (see {@link mayManageRun}). The pinned
   * owner never changes, so checking before the change's own transaction decides the same.
   * @throws NotFoundError for an unknown run; ForbiddenError for anyone else
   */
  private async managedRun(runId: string, by: Human, doing: string): Promise<WorkflowRun> {
    const run = await this.runs.get(runId);
    if (!run) throw new NotFoundError('run', runId, 'run');
    requireRunManager(by, run, this.groups, `${doing} run ${runId} of ${run.workflow}`);
    return run;
  }

  /**
   * Asks a run to stop, for a human who may manage it: completed steps are compensated in reverse order on the next
   * tick.
   */
  async cancel(runId: string, by: Human, reason?: string): Promise<WorkflowRun> {
    await this.managedRun(runId, by, 'cancelling');
    return this.requestCancel(runId, `human:${by.id}`, reason);
  }

  /** Cancels a run on behalf of `actor` (a human already checked, or a parent run cancelling its child). */
  private async requestCancel(runId: string, actor: string, reason?: string): Promise<WorkflowRun> {
    await this.o.db.tx(async (tx) => {
      const run = await tx.get<{ status: string }>(
        `SELECT status FROM workflow_runs WHERE id = ?${this.o.db.forUpdate}`,
        [runId],
      );
      if (!run) throw new NotFoundError('run', runId, 'run');
      if (TERMINAL.has(run.status) || run.status === 'compensating')
        throw new ConflictError(`run ${runId} is already ${run.status}`, { field: 'run' });
      const now = new Date().toISOString();
      // Task rows before anything that appends to the audit log (the lock order every writer keeps).
      await this.tasks.cancelForRun(tx, runId, actor);
      // An action (step or parallel item) still waiting for a human must not execute after the run is gone:
      // withdraw its request.
      const def = (await this.runs.definition(runId, tx)) as WorkflowDefinition;
      const st = replay(def, await this.runs.events(runId, tx));
      for (const s of Object.values(st.steps)) {
        const waiting = [s, ...(s.items ?? [])].filter((w) => w.status === 'waiting' && w.actionId);
        for (const w of waiting)
          await this.o.actions.withdraw(tx, w.actionId as string, actor, `run ${runId} was cancelled`);
      }
      await this.approvalSteps.withdrawRun(tx, runId, actor, `run ${runId} was cancelled`);
      await this.runs.append(
        tx,
        runId,
        [{ type: 'cancel_requested', actor, ...(reason ? { reason } : {}) }],
        now,
      );
      await this.runs.update(tx, runId, { status: 'compensating', now });
      await wakeRun(tx, runId);
      await this.o.audit.append(tx, {
        actor,
        type: 'workflow.cancel_requested',
        subject: `run:${runId}`,
        payload: { reason: reason ?? null },
      });
    });
    const run = (await this.runs.get(runId)) as WorkflowRun;
    publishRunEvents(this.o.events, run, [{ type: 'cancel_requested', actor }], run);
    return run;
  }

  /**
   * Holds a running run: it starts no new step and submits nothing until {@link resume} (steps already waiting keep
   * waiting). 409 when already paused or not running. See {@link RunPauses}.
   */
  async pause(runId: string, by: Human, reason?: string): Promise<WorkflowRun> {
    await this.managedRun(runId, by, 'pausing');
    return this.pauses.pause(runId, `human:${by.id}`, reason);
  }

  /** Lets a paused run go on from where it was. 409 when it is not paused or not running. */
  async resume(runId: string, by: Human): Promise<WorkflowRun> {
    await this.managedRun(runId, by, 'resuming');
    return this.pauses.resume(runId, `human:${by.id}`);
  }

  /**
   * Starts a `failed` run again from where it failed: failed steps, and steps whose compensation ran, become pending
   * (next attempt, hence new idempotency keys); completed, uncompensated steps are not redone. 409 unless failed.
   */
  async retry(runId: string, by: Human): Promise<WorkflowRun> {
    await this.managedRun(runId, by, 'retrying');
    const actor = `human:${by.id}`;
    const workflow = await this.o.db.tx(async (tx) => {
      const run = await tx.get<{ status: string; workflow: string }>(
        `SELECT status, workflow FROM workflow_runs WHERE id = ?${this.o.db.forUpdate}`,
        [runId],
      );
      if (!run) throw new NotFoundError('run', runId, 'run');
      if (run.status !== 'failed')
        throw new ConflictError(`run ${runId} is ${run.status}; only a failed run can be retried`, {
          field: 'run',
        });
      const def = (await this.runs.definition(runId, tx)) as WorkflowDefinition;
      const history = await this.runs.events(runId, tx);
      const before = replay(def, history);
      const after = await this.commit(tx, { id: runId, workflow: run.workflow }, def, [
        { type: 'run_retried', actor },
      ]);
      const again = Object.keys(after.steps).filter(
        (id) => after.steps[id]?.status === 'pending' && before.steps[id]?.status !== 'pending',
      );
      await this.runs.update(tx, runId, { status: 'running', error: null, now: new Date().toISOString() });
      await wakeRun(tx, runId);
      await this.o.audit.append(tx, {
        actor,
        type: 'workflow.run_retried',
        subject: `run:${runId}`,
        payload: { steps: again },
      });
      return run.workflow;
    });
    publishRunEvents(this.o.events, { id: runId, workflow }, [{ type: 'run_retried', actor }], {
      status: 'running',
    });
    return (await this.runs.get(runId)) as WorkflowRun;
  }

  /**
   * Sends a signal to a running run (a `wait` step with `event: <name>` takes it, even one that starts waiting
   * later), from a human who may manage it. Stored at once; the node holding the run records it in the history on
   * its next advance.
   */
  async signal(p: { runId: string; name: string; data?: unknown; by: Human }): Promise<RunSignal> {
    await this.managedRun(p.runId, p.by, 'signalling');
    return this.signals.send({
      runId: p.runId,
      name: p.name,
      data: p.data ?? null,
      sentBy: `human:${p.by.id}`,
    });
  }

  /**
   * A human's decision on an approval step. The approver must be in the step's group and may not be the human who
   * started the run; one deny fails the step, the quorum of approvals completes it. An alias of voting on the step's
   * approval request (`POST /v1/approvals/:id/approve`): the vote wakes the run, which moves on when it next
   * advances. A run whose step started waiting before approval steps became requests keeps its votes in the history.
   */
  async decide(p: {
    runId: string;
    stepId: string;
    human: Human;
    vote: 'approve' | 'deny';
    comment?: string;
  }): Promise<WorkflowRunDetail> {
    const snap = await this.runs.snapshot(p.runId);
    if (!snap) throw new NotFoundError('run', p.runId, 'run');
    const { def } = snap;
    const s = replay(def, snap.events).steps[p.stepId];
    const request =
      s?.approval && s.status === 'waiting'
        ? await this.approvals.get(stepApprovalId(p.runId, p.stepId, s.attempt))
        : undefined;
    if (request) {
      await this.o.actions.vote({
        approvalId: request.id,
        human: p.human,
        vote: p.vote,
        ...(p.comment ? { comment: p.comment } : {}),
      });
      this.crash('workflow.after-approval-vote');
      // The vote woke the run: advance it now, so the answer shows the step decided, as votes recorded in the run's
      // history always did (any node would otherwise take it up on its next tick).
      await this.tick();
      return this.get(p.runId);
    }
    const committed = await this.o.db.tx(async (tx) => {
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
      const after = await this.commit(tx, { id: p.runId, workflow: run.workflow }, def, events);
      await this.o.audit.append(tx, {
        actor: `human:${p.human.id}`,
        type: 'workflow.approval_voted',
        subject: `run:${p.runId}`,
        payload: { stepId: p.stepId, vote: p.vote, comment: p.comment ?? null },
      });
      return { run: { id: p.runId, workflow: run.workflow }, events, after };
    });
    publishRunEvents(this.o.events, committed.run, committed.events, committed.after);
    this.crash('workflow.after-approval-vote');
    return this.get(p.runId);
  }

  /**
   * A human's decision on a step whose action has an unknown outcome after a crash (see {@link resolutionEvents}):
   * the workflow's owner or an admin says it `succeeded` (with `output`), `failed`, or should be tried again
   * (`retry`, a new idempotency key: the human vouches the effect did not happen). Committed with its audit record
   * `workflow.outcome_resolved` in one transaction, then published (`run.outcome_resolved`).
   */
  async resolveOutcome(p: {
    runId: string;
    stepId: string;
    human: Human;
    outcome: OutcomeDecision;
    output?: unknown;
    comment?: string;
  }): Promise<WorkflowRunDetail> {
    await this.managedRun(p.runId, p.human, 'resolving an unknown outcome of');
    const committed = await this.o.db.tx(async (tx) => {
      const run = await tx.get<{ workflow: string }>(
        `SELECT workflow FROM workflow_runs WHERE id = ?${this.o.db.forUpdate}`,
        [p.runId],
      );
      if (!run) throw new NotFoundError('run', p.runId, 'run');
      const def = (await this.runs.definition(p.runId, tx)) as WorkflowDefinition;
      const history = await this.runs.events(p.runId, tx);
      const events = resolutionEvents({ ...p, def, st: replay(def, history), nowMs: Date.now() });
      const after = await this.commit(tx, { id: p.runId, workflow: run.workflow }, def, events, history);
      const resolved = events[0] as Extract<WorkflowEvent, { type: 'outcome_resolved' }>;
      await this.o.audit.append(tx, {
        actor: `human:${p.human.id}`,
        type: 'workflow.outcome_resolved',
        subject: `run:${p.runId}`,
        payload: {
          stepId: p.stepId,
          actionId: resolved.actionId,
          outcome: p.outcome,
          index: resolved.index ?? null,
          compensation: resolved.compensation ?? false,
          comment: p.comment ?? null,
        },
      });
      return { run: { id: p.runId, workflow: run.workflow }, events, after };
    });
    publishRunEvents(this.o.events, committed.run, committed.events, committed.after);
    return this.get(p.runId);
  }

  /** Appends events, updates the run row (fenced by the lease when one is given) and audits, in `tx`. */
  private async commit(
    tx: Parameters<Parameters<Db['tx']>[0]>[0],
    run: { id: string; workflow: string },
    def: WorkflowDefinition,
    events: WorkflowEvent[],
    history: WorkflowEvent[] | undefined = undefined,
    lease?: { owner: string; untilMs: number; wakeSeq: number },
    known?: RunState,
  ): Promise<RunState> {
    const after = known ?? replay(def, [...(history ?? (await this.runs.events(run.id, tx))), ...events]);
    // What the new state changes beside the run's own rows comes first: a sub-run that ended wakes the parent step
    // waiting for it; a failing or cancelled run takes back the work it handed out; leases and approval requests
    // follow the steps. Row locks are so taken in the order an agent completing a task takes them (task, run, audit
    // chain head), and the run's events, its row and its audit records are left for one statement at the end.
    if (TERMINAL.has(after.status))
      await tx.run(
        `UPDATE workflow_runs SET wake_at = ?, wake_seq = wake_seq + 1
         WHERE id = (SELECT parent_run_id FROM workflow_runs WHERE id = ?) AND status IN ('running', 'compensating')`,
        [Date.now(), run.id],
      );
    if (after.status !== 'running') await this.tasks.cancelForRun(tx, run.id, `workflow:${run.workflow}`);
    await this.gates.onCommit(tx, { runId: run.id, def, events, after });
    await this.approvalSteps.onCommit(tx, { runId: run.id, def, events, after });
    const parts = this.commitParts(run, def, events, after, lease);
    // The events, the run row and the audit records: one round trip on PostgreSQL. The chunks of a long batch of
    // events each number theirs after the one before, so all but the last go first.
    for (const w of parts.appends.slice(0, -1)) await tx.run(w.sql, w.params);
    const { changes } = await this.o.audit.appendWith(tx, parts.audits, [
      ...parts.appends.slice(-1),
      parts.update,
    ]);
    this.runs.checkUpdated(run.id, changes.at(-1) as number, parts.fence);
    if (!lease) await wakeRun(tx, run.id, parts.nowMs);
    return after;
  }

  /** The run's own rows a commit writes: its events (in chunks), its row (lease-fenced) and its audit records. */
  private commitParts(
    run: { id: string; workflow: string },
    def: WorkflowDefinition,
    events: readonly WorkflowEvent[],
    after: RunState,
    lease: { owner: string; untilMs: number; wakeSeq: number } | undefined,
  ) {
    const nowMs = Date.now();
    const now = new Date(nowMs).toISOString();
    // The node advancing the run records the wake its new state gives (right after a crash too); an outside
    // event (a vote, a resolution, a retry) wakes the run now, past whatever wake the node computed before it.
    const wake: WakePatch | undefined = lease
      ? { ...nextWake(def, after, nowMs), seq: lease.wakeSeq }
      : undefined;
    const fence = lease ? { owner: lease.owner, untilMs: lease.untilMs } : undefined;
    const update = this.runs.updateStatement(
      run.id,
      {
        status: after.status,
        now,
        ...(after.status === 'completed' ? { output: after.output } : {}),
        ...(after.error ? { error: after.error } : {}),
        ...(wake ? { wake } : {}),
      },
      fence,
    );
    return {
      nowMs,
      fence,
      update,
      appends: this.runs.appendStatements(run.id, events, now),
      audits: events.flatMap((e) => auditFor(run, e, after)),
    };
  }

  /**
   * An advance's commit ({@link commit}). When it writes nothing beside the run's own rows — a step's end and the
   * next step's start, mostly — it is one statement that commits by itself when no other transaction waits
   * ({@link Db.writeAlone}); a lost lease writes nothing and throws {@link LeaseLostError}, as in a transaction.
   */
  private async commitAdvance(
    run: { id: string; workflow: string },
    def: WorkflowDefinition,
    events: WorkflowEvent[],
    history: WorkflowEvent[],
    lease: { owner: string; untilMs: number; wakeSeq: number },
  ): Promise<RunState> {
    const durable = !recomputable(events);
    const after = replay(def, [...history, ...events]);
    const beside =
      after.status !== 'running' ||
      this.gates.writesOnCommit(def) ||
      this.approvalSteps.writesOnCommit({ def, events, after });
    const parts = beside ? undefined : this.commitParts(run, def, events, after, lease);
    if (!parts || parts.appends.length > 1)
      return this.o.db.tx((tx) => this.commit(tx, run, def, events, history, lease, after), { durable });
    try {
      await this.o.audit.appendAlone(parts.audits, [...parts.appends, parts.update], {
        durable,
        expect: [undefined, 1],
      });
    } catch (err) {
      if (err instanceof UnexpectedChanges) throw new LeaseLostError(run.id);
      throw err;
    }
    return after;
  }

  /**
   * Advances every run this node can claim whose wake time has come (called from the engine's tick). Answers how
   * many runs it worked on. A run whose work throws (store outage, crash point) keeps its lease until it runs out,
   * as after a crash; its wake is pushed back exponentially, and after `stallAfter` failures in a row the run is
   * surfaced to its owner (`workflow.run_stalled`). Every error is logged and counted, never swallowed silently.
   */
  async tick(nowMs = Date.now()): Promise<number> {
    await this.fireSchedules(nowMs).catch((err: unknown) =>
      this.backgroundErrors.record('workflows.fire_schedules', err),
    );
    await this.tasks
      .expireLeases(nowMs)
      .catch((err: unknown) => this.backgroundErrors.record('workflows.task_lease_expiry', err));
    const claimed = await this.runs.claim(this.nodeId, nowMs, nowMs + this.leaseMs, this.o.claimLimit ?? 20);
    if (claimed.length) this.crash('workflow.after-claim');
    let next = 0;
    const worker = async (): Promise<void> => {
      for (let c = claimed[next++]; c; c = claimed[next++]) {
        try {
          const wake = await this.advance(c);
          await this.runs.release(c.id, this.nodeId, wake);
        } catch (err) {
          // Nothing half-done is recorded; the lease runs out and this or another node resumes from history.
          await this.advanceFailed(c, err);
        }
      }
    };
    const workers = Math.min(claimed.length, Math.max(1, Math.floor(this.o.advanceConcurrency ?? 1)));
    await Promise.all(Array.from({ length: workers }, worker));
    return claimed.length;
  }

  /** Logs, counts and backs off a failed advance; surfaces a run that keeps failing to its owner. */
  private async advanceFailed(c: ClaimedRun, err: unknown): Promise<void> {
    if (err instanceof LeaseLostError) {
      // Another node holds the run now: nothing failed that this node should back off.
      this.backgroundErrors.record('workflows.advance', err, { runId: c.id, level: 'info' });
      return;
    }
    this.backgroundErrors.record('workflows.advance', err, { runId: c.id });
    try {
      const max = this.o.maxBackoffMs ?? 15 * 60_000;
      const failures = await this.runs.failed(c.id, this.nodeId, {
        wakeSeq: c.wakeSeq,
        nowMs: Date.now(),
        backoffMs: (n) => Math.min(this.leaseMs * 2 ** (n - 1), max),
      });
      if (failures !== (this.o.stallAfter ?? 5)) return;
      const run = await this.runs.get(c.id);
      const error = {
        name: (err as Error)?.name ?? 'Error',
        message: String((err as Error)?.message ?? err).slice(0, 500),
      };
      await this.o.db.tx((tx) =>
        this.o.audit.append(tx, {
          actor: 'system:workflows',
          type: 'workflow.run_stalled',
          subject: `run:${c.id}`,
          payload: { owner: run?.owner ?? null, failures, error },
        }),
      );
      this.o.events?.publish(
        'run.stalled',
        { runId: c.id, workflow: run?.workflow ?? null, owner: run?.owner ?? null, failures, error },
        `run:${c.id}`,
      );
    } catch (again) {
      this.backgroundErrors.record('workflows.advance_backoff', again, { runId: c.id });
    }
  }

  /**
   * Starts the runs of due cron slots (see {@link fireSchedules}); `tick` calls it first. Answers the run ids started.
   */
  async fireSchedules(nowMs = Date.now()): Promise<string[]> {
    const started = await fireSchedules({
      db: this.o.db,
      audit: this.o.audit,
      definitions: this.definitions(),
      nowMs,
      check: (def, input) => this.checkStart(def, input),
      begin: (tx, p) => this.begin(tx, p),
    });
    for (const id of started) {
      const run = (await this.runs.get(id)) as WorkflowRun;
      this.announceStart(run, run.input, run.createdBy);
    }
    return started;
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

  /** Advances a claimed run as far as it goes now; answers the wake its state gives for {@link RunStore.release}. */
  private async advance(c: ClaimedRun): Promise<WakePatch> {
    const runId = c.id;
    // The run, its definition and its history: one round trip on PostgreSQL.
    const snap = await this.runs.snapshot(runId);
    if (!snap) throw new Error(`claimed run ${runId} is missing`);
    const { run, def } = snap;
    const history: WorkflowEvent[] = snap.events;
    for (let guard = 0; guard < 500; guard++) {
      const st = replay(def, history);
      if (TERMINAL.has(st.status)) return { atMs: null, held: false, seq: c.wakeSeq };
      const nowMs = Date.now();
      const events = await this.next(runId, def, st, nowMs);
      if (!events.length) {
        const wake = nextWake(def, st, nowMs);
        // The state looked like work yet nothing was done (e.g. a compensation waiting for its approval): wait for
        // the outside event, and look again later only as a safety net.
        if (wake.atMs !== null && wake.atMs <= nowMs) wake.atMs = nowMs + (this.o.idleRecheckMs ?? 60_000);
        return { ...wake, seq: c.wakeSeq };
      }
      await this.foldDecisions(runId, def, history, events, nowMs);
      const lease = { owner: this.nodeId, untilMs: nowMs + this.leaseMs, wakeSeq: c.wakeSeq };
      this.crash('workflow.before-commit');
      const after = await this.commitAdvance(run, def, events, history, lease);
      this.crash('workflow.after-commit');
      publishRunEvents(this.o.events, run, events, after);
      if (TERMINAL.has(after.status)) await this.traceRun(run, after.status);
      history.push(...events);
      this.recorded += events.length;
    }
    // The guard ran out with work left: come back on the next tick.
    return { atMs: Date.now(), seq: c.wakeSeq };
  }

  /**
   * Appends to `events` what the state after them decides without performing anything (the next step's start, the
   * run's completion; see `decisionsOnly` of {@link nextWork}), so a step's end and the next step's start commit in
   * one transaction. Each decision is the one the next advance would take from that state, so the history is the
   * same as when they commit apart. A decision that throws is left to the next advance, which meets it as before.
   */
  private async foldDecisions(
    runId: string,
    def: WorkflowDefinition,
    history: readonly WorkflowEvent[],
    events: WorkflowEvent[],
    nowMs: number,
  ): Promise<void> {
    for (let guard = 0; guard < 100; guard++) {
      const st = replay(def, [...history, ...events]);
      let decided: WorkflowEvent[];
      try {
        decided = await nextWork(this.workDeps, { runId, def, st, nowMs, decisionsOnly: true });
      } catch {
        return;
      }
      if (!decided.length) return;
      events.push(...decided);
    }
  }

  /** Emits a finished run's spans from its recorded history; a failure is logged, never the run's. */
  private async traceRun(run: { id: string; workflow: string }, status: string): Promise<void> {
    const tracing = this.o.tracing;
    if (!tracing?.enabled) return;
    try {
      emitRunSpans(tracing, { ...run, status }, await this.runs.events(run.id));
    } catch (err) {
      this.backgroundErrors.record('telemetry.runs', err, { runId: run.id, level: 'warn' });
    }
  }

  /** Decides and performs the run's next piece of work; answers its events (none: nothing to do now). */
  private next(
    runId: string,
    def: WorkflowDefinition,
    st: RunState,
    nowMs: number,
  ): Promise<WorkflowEvent[]> {
    return nextWork(this.workDeps, { runId, def, st, nowMs });
  }
}
