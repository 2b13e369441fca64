import type { ApprovalService } from '../../approvals/approvals.js';
import { stepApprovalId } from '../../approvals/approvals.js';
import { canonicalArguments } from '../../approvals/evidence.js';
import { parseDurationSec } from '../../config/duration.js';
import type { Executor } from '../../store/db.js';
import type { StepDefinition, WorkflowDefinition } from '../definition.js';
import type { RunState, StepState, WorkflowEvent } from '../history.js';

/** What approval steps need. */
export interface ApprovalStepsDeps {
  approvals: ApprovalService;
  /** How long a group has before the request escalates, when the step names no `expires`. */
  defaultExpirySec: number;
}

type ApprovalStepDef = Extract<StepDefinition, { kind: 'approval' }>;

/**
 * Workflow approval steps as approval requests with no action attached, so they share the pipeline's inbox,
 * evidence pack, quorum, separation of duties, expiry and escalation. The history keeps what the run decided: the
 * step waiting (`step_waiting` with its ask) and its outcome; the request itself lives in `approvals`, created in the
 * transaction that records the wait. A vote wakes the run; the node that advances it reads the decision (`poll`),
 * which is an input to the history like an action's outcome, so replay never reads the approvals table.
 *
 * A run whose approval step started waiting before this (no request row) keeps its votes in the history, as before.
 */
export class ApprovalSteps {
  constructor(private readonly d: ApprovalStepsDeps) {}

  /**
   * Whether {@link onCommit} writes anything for these events and the state after them: an approval step that
   * starts waiting or ends, or a run that stopped running (its pending requests are withdrawn).
   */
  writesOnCommit(p: { def: WorkflowDefinition; events: readonly WorkflowEvent[]; after: RunState }): boolean {
    return (
      p.after.status !== 'running' ||
      p.events.some(
        (e) =>
          (e.type === 'step_waiting' && !!e.approval) ||
          ((e.type === 'step_failed' || e.type === 'step_completed') &&
            p.def.steps[e.stepId]?.kind === 'approval'),
      )
    );
  }

  /**
   * Records what a commit means for approval requests, in its transaction: a step that starts waiting gets its
   * request; a step that ended some other way (timeout) or a run that stopped running withdraws what is pending.
   */
  async onCommit(
    tx: Executor,
    p: { runId: string; def: WorkflowDefinition; events: WorkflowEvent[]; after: RunState },
  ): Promise<void> {
    if (!this.writesOnCommit(p)) return;
    for (const e of p.events) {
      if (e.type === 'step_waiting' && e.approval)
        await this.request(tx, { ...p, stepId: e.stepId, attempt: e.attempt });
      else if (
        (e.type === 'step_failed' || e.type === 'step_completed') &&
        p.def.steps[e.stepId]?.kind === 'approval'
      )
        await this.d.approvals.withdrawStep(tx, {
          runId: p.runId,
          stepId: e.stepId,
          actor: 'system',
          reason: `step ${e.stepId} ended`,
        });
    }
    if (p.after.status !== 'running') await this.withdrawRun(tx, p.runId, 'system', `run ${p.runId} stopped`);
  }

  /** Withdraws every pending request of the run's approval steps (the run was cancelled or failed). */
  async withdrawRun(tx: Executor, runId: string, actor: string, reason: string): Promise<void> {
    const rows = await tx.all<{ step_id: string }>(
      "SELECT step_id FROM approvals WHERE run_id = ? AND status = 'pending'",
      [runId],
    );
    for (const r of rows)
      await this.d.approvals.withdrawStep(tx, { runId, stepId: r.step_id, actor, reason });
  }

  private async request(
    tx: Executor,
    p: { runId: string; def: WorkflowDefinition; stepId: string; attempt: number; after: RunState },
  ): Promise<void> {
    const step = p.def.steps[p.stepId] as ApprovalStepDef;
    const run = await tx.get<{
      workflow: string;
      owner: string;
      created_by: string;
      definition_hash: string;
    }>('SELECT workflow, owner, created_by, definition_hash FROM workflow_runs WHERE id = ?', [p.runId]);
    if (!run) return;
    const trail = await tx.all<{ id: string; tool: string; status: string; created_at: string }>(
      'SELECT id, tool, status, created_at FROM actions WHERE session_id = ? ORDER BY created_at, id LIMIT 50',
      [`wf:${p.runId}`],
    );
    const input =
      p.after.input && typeof p.after.input === 'object' && !Array.isArray(p.after.input)
        ? (p.after.input as Record<string, unknown>)
        : { value: p.after.input };
    const policy = `workflow:${run.workflow}/${p.stepId}`;
    await this.d.approvals.createForStep(tx, {
      runId: p.runId,
      stepId: p.stepId,
      attempt: p.attempt,
      definitionHash: run.definition_hash,
      requirement: {
        group: step.group,
        quorum: step.quorum,
        expirySec: step.expires
          ? parseDurationSec(step.expires, `steps.${p.stepId}.expires`)
          : this.d.defaultExpirySec,
        escalation: step.escalation ?? [],
        barOwner: false,
        policies: [policy],
      },
      evidence: {
        agent: null,
        tool: `workflow:${run.workflow}`,
        input,
        canonicalInput: canonicalArguments(input),
        previous: null,
        environment: 'workflow',
        reason: step.prompt ?? null,
        confidence: null,
        risk: 0,
        decision: { policies: [policy], reasons: [`step ${p.stepId} of ${run.workflow} asks ${step.group}`] },
        session: trail.map((t) => ({ actionId: t.id, tool: t.tool, status: t.status, at: t.created_at })),
        run: {
          id: p.runId,
          workflow: run.workflow,
          stepId: p.stepId,
          attempt: p.attempt,
          prompt: step.prompt ?? null,
          owner: run.owner,
        },
      },
      // Separation of duties: the human who started the run cannot approve it.
      requester: run.created_by.startsWith('human:') ? run.created_by.slice('human:'.length) : null,
    });
  }

  /**
   * The outcome of a waiting approval step, read from its request: approved completes it, denied or expired fails
   * it; a step past its `timeout` fails (its request is then withdrawn). Nothing while the request is pending.
   */
  async poll(p: { runId: string; stepId: string; st: RunState; nowMs: number }): Promise<WorkflowEvent[]> {
    const s = p.st.steps[p.stepId] as StepState;
    const approval = await this.d.approvals.get(stepApprovalId(p.runId, p.stepId, s.attempt));
    const fail = (code: string, message: string): WorkflowEvent[] => [
      {
        type: 'step_failed',
        stepId: p.stepId,
        attempt: s.attempt,
        error: { code, message, retryable: false },
      },
    ];
    if (approval?.status === 'approved') {
      const approvers = approval.votes.filter((v) => v.vote === 'approve').map((v) => v.human);
      return [
        {
          type: 'step_completed',
          stepId: p.stepId,
          attempt: s.attempt,
          output: { approved: true, approvers },
        },
      ];
    }
    if (approval?.status === 'denied') {
      const by = approval.votes.find((v) => v.vote === 'deny')?.human;
      return fail('approval_denied', by ? `${by} denied step ${p.stepId}` : `step ${p.stepId} was withdrawn`);
    }
    if (approval?.status === 'expired')
      return fail('approval_expired', `the approval of step ${p.stepId} expired undecided`);
    if (s.deadlineMs !== undefined && p.nowMs > s.deadlineMs)
      return fail('timeout', `approval step ${p.stepId} timed out`);
    return [];
  }
}
