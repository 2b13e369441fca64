import crypto from 'node:crypto';
import { Ajv } from 'ajv';
import type { AuditLog } from '../../audit/audit-log.js';
import { ConflictError } from '../../errors.js';
import type { Db } from '../../store/db.js';
import { definitionHash } from '../definition.js';
import type { StepDefinition, WorkflowDefinition } from '../definition.js';
import { expressionScope } from '../history.js';
import type { RunState, StepState, WorkflowEvent } from '../history.js';
import type { RunStore } from '../run-store.js';
import { evaluate, failStep, failure } from '../step-runner.js';
import type { WorkflowCrashPoint } from '../step-runner.js';
import type { KindStepParams } from './items.js';

type WorkflowStep = Extract<StepDefinition, { kind: 'workflow' }>;

/** What sub-runs need from the engine. */
export interface SubRunDeps {
  db: Db;
  audit: AuditLog;
  runs: RunStore;
  definitions: ReadonlyMap<string, WorkflowDefinition>;
  /** Asks a run to stop (the engine's `cancel`). */
  cancel: (runId: string, actor: string, reason: string) => Promise<unknown>;
  crash: (point: WorkflowCrashPoint) => void;
  /** Announces a started child run on the live stream (after its transaction committed). */
  announce?: (run: { id: string; workflow: string }, input: unknown, actor: string) => void;
}

/** The child run's id: derived from (parent run, step, attempt), so a resumed parent never starts a second child. */
export function childRunId(runId: string, stepId: string, attempt: number): string {
  const h = crypto.createHash('sha256').update(`${runId}\0${stepId}\0${attempt}`).digest('hex');
  return `run_${h.slice(0, 20)}`;
}

/**
 * The `workflow` step: starts a child run (`parent_run_id`, `parent_step_id` set), waits for it and completes with
 * its output, or fails with its error. Cancelling (or failing) the parent cancels children still active.
 */
export class SubRuns {
  private readonly ajv = new Ajv({ allErrors: false, strict: false });

  constructor(private readonly d: SubRunDeps) {}

  /** Starts (or, on resume, finds) the step's child run and records that the step waits for it. */
  async start(p: KindStepParams): Promise<WorkflowEvent[]> {
    const step = p.def.steps[p.stepId] as WorkflowStep;
    const s = p.st.steps[p.stepId] as StepState;
    const fail = (code: string, message: string) => [
      failStep(step, p.stepId, s, failure(code, message, false), p.nowMs),
    ];
    const id = childRunId(p.runId, p.stepId, s.attempt);
    const waiting: WorkflowEvent[] = [
      { type: 'step_waiting', stepId: p.stepId, attempt: s.attempt, childRunId: id },
    ];
    if (await this.d.runs.get(id)) return waiting;
    const child = this.d.definitions.get(step.workflow);
    if (!child) return fail('bad_input', `steps.${p.stepId}.workflow: unknown workflow '${step.workflow}'`);
    let input: unknown;
    try {
      const scope = expressionScope(p.st);
      input = step.input ? await evaluate(step.input, scope, `steps.${p.stepId}.input`) : scope.input;
    } catch (err) {
      return fail('bad_input', (err as Error).message);
    }
    const validate = this.ajv.compile(child.input);
    if (!validate(input)) {
      const e = validate.errors?.[0];
      return fail(
        'bad_input',
        `steps.${p.stepId}.input: child input${(e?.instancePath ?? '').replaceAll('/', '.')} ${e?.message ?? 'is invalid'}`,
      );
    }
    const actor = `run:${p.runId}`;
    const now = new Date().toISOString();
    await this.d.db.tx(async (tx) => {
      // Another node may have started it since the look above: the id is the guard.
      if (await this.d.runs.get(id, tx)) return;
      await this.d.runs.insert(tx, { id, def: child, hash: definitionHash(child), input, actor, now });
      await tx.run('UPDATE workflow_runs SET parent_run_id = ?, parent_step_id = ? WHERE id = ?', [
        p.runId,
        p.stepId,
        id,
      ]);
      await this.d.runs.append(tx, id, [{ type: 'run_started', input, actor }], now);
      await this.d.audit.append(tx, {
        actor,
        type: 'workflow.run_started',
        subject: `run:${id}`,
        payload: {
          workflow: child.name,
          version: child.version,
          owner: child.owner,
          definitionHash: definitionHash(child),
          parentRunId: p.runId,
          parentStepId: p.stepId,
        },
      });
    });
    this.d.announce?.({ id, workflow: child.name }, input, actor);
    this.d.crash('workflow.after-child-start');
    return waiting;
  }

  /** A waiting `workflow` step: completes or fails once its child has; fails after its `timeout` (cancelling it). */
  async poll(p: KindStepParams): Promise<WorkflowEvent[]> {
    const step = p.def.steps[p.stepId] as WorkflowStep;
    const s = p.st.steps[p.stepId] as StepState;
    const child = s.childRunId ? await this.d.runs.get(s.childRunId) : undefined;
    const fail = (code: string, message: string) => [
      failStep(step, p.stepId, s, failure(code, message, false), p.nowMs),
    ];
    if (!child) return fail('child_missing', `child run ${s.childRunId ?? '?'} not found`);
    switch (child.status) {
      case 'completed':
        return [{ type: 'step_completed', stepId: p.stepId, attempt: s.attempt, output: child.output }];
      case 'failed':
        return fail(
          'child_failed',
          `child run ${child.id} (${child.workflow}) failed: ${child.error?.message ?? 'unknown error'}`,
        );
      case 'cancelled':
        return fail('child_cancelled', `child run ${child.id} (${child.workflow}) was cancelled`);
      default:
        if (s.deadlineMs !== undefined && p.nowMs > s.deadlineMs) {
          await this.cancelQuietly(child.id, p.runId, `step ${p.stepId} of the parent run timed out`);
          return fail('timeout', `step ${p.stepId} timed out waiting for child run ${child.id}`);
        }
        return [];
    }
  }

  /** While the parent compensates (cancelled or failed): asks each child still active to cancel, once. */
  async cancelChildren(p: {
    runId: string;
    def: WorkflowDefinition;
    st: RunState;
  }): Promise<WorkflowEvent[]> {
    for (const [stepId, s] of Object.entries(p.st.steps)) {
      if (p.def.steps[stepId]?.kind !== 'workflow' || s.childCancelled) continue;
      if (s.status !== 'waiting' && s.status !== 'running') continue;
      // A step still `running` may have started its child just before a crash: the id says where to look.
      const id = s.childRunId ?? childRunId(p.runId, stepId, s.attempt);
      if (!s.childRunId && !(await this.d.runs.get(id))) continue;
      const why = p.st.cancelRequested ? 'the parent run was cancelled' : 'the parent run failed';
      await this.cancelQuietly(id, p.runId, why);
      return [{ type: 'child_cancel_requested', stepId, childRunId: id }];
    }
    return [];
  }

  private async cancelQuietly(childId: string, parentId: string, reason: string): Promise<void> {
    try {
      await this.d.cancel(childId, `run:${parentId}`, reason);
    } catch (err) {
      // Already over (or already compensating): nothing to stop.
      if (!(err instanceof ConflictError)) throw err;
    }
  }
}
