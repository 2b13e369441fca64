import crypto from 'node:crypto';
import type { AuditLog } from '../audit/audit-log.js';
import { hashJson } from '../crypto/canonical-json.js';
import { ConflictError, ForbiddenError, NotFoundError, UserError } from '../errors.js';
import type { Human } from '../identity/humans.js';
import type { ApprovalRequirement } from '../policy/decide.js';
import type { Db, Executor } from '../store/db.js';
import { wakeRun, wakeRunOfAction } from '../workflows/run-wake.js';
import type { PreviousComparable } from './evidence.js';

/** What an approval is bound to. Approving means approving exactly this; anything else is refused. */
export interface ApprovalBinding {
  agentId: string;
  tool: string;
  input: Record<string, unknown>;
  policyHash: string;
}

/** The hash an approval is bound to: agent, tool, canonical input and policy version. */
export function bindingHash(b: ApprovalBinding): string {
  return hashJson({ agent: b.agentId, tool: b.tool, input: b.input, policy: b.policyHash });
}

/** What an approver sees: why the agent wants it, how sure it is, the risk, the exact arguments, the trail. */
export interface EvidencePack {
  /** The agent whose action it is; null for a workflow approval step (no action attached). */
  agent: { id: string; role: string; tier: number; owner: string } | null;
  /** The tool called; for a workflow approval step, `workflow:<name>`. */
  tool: string;
  /** The exact arguments (an approval step: the run's input). */
  input: Record<string, unknown>;
  /** `input` as canonical JSON (RFC 8785), the bytes the binding hash covers. */
  canonicalInput?: string;
  /** The agent's previous action on the same tool and how its arguments differ from these. */
  previous?: PreviousComparable | null;
  /** A workflow approval step: the run, the step and what the approvers are asked. */
  run?: {
    id: string;
    workflow: string;
    stepId: string;
    attempt: number;
    prompt: string | null;
    owner: string;
  };
  environment: string;
  reason: string | null;
  confidence: number | null;
  risk: number;
  decision: { policies: string[]; reasons: string[] };
  /** Earlier actions of the same session, oldest first. */
  session: { actionId: string; tool: string; status: string; at: string }[];
}

/** Where a request stands: votes toward the quorum at this level, and where it goes when it expires. */
export interface ApprovalProgress {
  approvals: number;
  quorum: number;
  /** Approvals still needed at the current level. */
  remaining: number;
  level: number;
  /** The group it escalates to when it expires undecided; null when expiry denies it. */
  nextGroup: string | null;
  /** When it escalates (or is denied) if still undecided; null once decided. */
  escalatesAt: string | null;
}

/** An approval request. */
export interface Approval {
  id: string;
  /** The action it gates; null for a workflow approval step. */
  actionId: string | null;
  /** A workflow approval step: its run and step (the request's subject when no action is attached). */
  runId: string | null;
  stepId: string | null;
  bindingHash: string;
  /** The group that decides now (changes as the request escalates). */
  group: string;
  quorum: number;
  escalation: string[];
  /** 0 for the first group, n after n escalations. */
  level: number;
  expiresAt: string;
  /** Time each group gets before the request escalates. */
  expirySec: number;
  status: 'pending' | 'approved' | 'denied' | 'expired';
  barOwner: boolean;
  requester: string | null;
  policies: string[];
  evidence: EvidencePack;
  votes: { human: string; vote: 'approve' | 'deny'; comment: string | null; level: number; at: string }[];
  progress: ApprovalProgress;
  createdAt: string;
  decidedAt: string | null;
}

interface Row {
  id: string;
  action_id: string | null;
  run_id: string | null;
  step_id: string | null;
  binding_hash: string;
  group_name: string;
  quorum: number;
  escalation_json: string;
  level: number;
  expires_at_ms: number;
  expiry_sec: number;
  bar_owner: number;
  requester: string | null;
  status: Approval['status'];
  policy_ids_json: string;
  evidence_json: string;
  created_at: string;
  decided_at: string | null;
}

interface VoteRow {
  human_id: string;
  vote: 'approve' | 'deny';
  comment: string | null;
  level: number;
  at: string;
}

/** A human's vote on an approval request. */
export interface VoteInput {
  approvalId: string;
  human: Human;
  vote: 'approve' | 'deny';
  comment?: string | undefined;
  /** What the approver believes they approve; refused unless it is the binding. */
  bindingHash?: string | undefined;
  /** The arguments the approver saw; refused unless they are the bound ones. */
  input?: Record<string, unknown> | undefined;
}

/** What a vote did. */
export interface VoteResult {
  approval: Approval;
  /** Set when this vote decided the request. */
  decided?: 'approved' | 'denied';
}

/**
 * Durable approval requests: quorum of a group, separation of duties, expiry that escalates and finally denies
 * (never approves), each step audited. Votes lock the request row, so two approvers racing are serialized.
 */
export class ApprovalService {
  constructor(
    private readonly db: Db,
    private readonly audit: AuditLog,
  ) {}

  private async load(tx: Executor, id: string, lock = false): Promise<Approval | undefined> {
    const row = await tx.get<Row>(`SELECT * FROM approvals WHERE id = ?${lock ? this.db.forUpdate : ''}`, [
      id,
    ]);
    if (!row) return undefined;
    const votes = await tx.all<VoteRow>(
      'SELECT * FROM approval_votes WHERE approval_id = ? ORDER BY at, human_id',
      [id],
    );
    const level = Number(row.level);
    const escalation = JSON.parse(row.escalation_json) as string[];
    const quorum = Number(row.quorum);
    const approvals = votes.filter((v) => v.vote === 'approve' && Number(v.level) === level).length;
    return {
      id: row.id,
      actionId: row.action_id,
      runId: row.run_id,
      stepId: row.step_id,
      bindingHash: row.binding_hash,
      group: row.group_name,
      quorum,
      escalation,
      level,
      expiresAt: new Date(Number(row.expires_at_ms)).toISOString(),
      expirySec: Number(row.expiry_sec),
      status: row.status,
      barOwner: !!Number(row.bar_owner),
      requester: row.requester,
      policies: JSON.parse(row.policy_ids_json) as string[],
      evidence: JSON.parse(row.evidence_json) as EvidencePack,
      votes: votes.map((v) => ({
        human: v.human_id,
        vote: v.vote,
        comment: v.comment,
        level: Number(v.level),
        at: v.at,
      })),
      progress: {
        approvals,
        quorum,
        remaining: Math.max(0, quorum - approvals),
        level,
        nextGroup: escalation[level] ?? null,
        escalatesAt: row.status === 'pending' ? new Date(Number(row.expires_at_ms)).toISOString() : null,
      },
      createdAt: row.created_at,
      decidedAt: row.decided_at,
    };
  }

  /** Creates a request inside the decision transaction. */
  async create(
    tx: Executor,
    params: {
      actionId: string;
      binding: ApprovalBinding;
      requirement: ApprovalRequirement;
      evidence: EvidencePack;
      requester: string | null;
      actor: string;
      now?: number;
    },
  ): Promise<Approval> {
    const id = `apr_${crypto.randomBytes(10).toString('hex')}`;
    await this.insert(tx, {
      ...params,
      id,
      hash: bindingHash(params.binding),
      subject: `action:${params.actionId}`,
    });
    return (await this.load(tx, id)) as Approval;
  }

  /**
   * Creates the request of a workflow approval step inside the transaction that records the step waiting. Its id is
   * derived from (run, step, attempt), so recording the same wait again (a retried commit, another node) finds the
   * request already there instead of asking twice. No action is attached: the run polls the request and moves on.
   */
  async createForStep(
    tx: Executor,
    params: {
      runId: string;
      stepId: string;
      attempt: number;
      definitionHash: string;
      requirement: ApprovalRequirement;
      evidence: EvidencePack;
      requester: string | null;
      now?: number;
    },
  ): Promise<Approval> {
    const id = stepApprovalId(params.runId, params.stepId, params.attempt);
    const existing = await this.load(tx, id);
    if (existing) return existing;
    const hash = hashJson({
      run: params.runId,
      step: params.stepId,
      attempt: params.attempt,
      definition: params.definitionHash,
      input: params.evidence.input,
    });
    await this.insert(tx, {
      ...params,
      id,
      hash,
      actionId: null,
      subject: `run:${params.runId}`,
      actor: 'system',
    });
    return (await this.load(tx, id)) as Approval;
  }

  /** The pending (or latest) request of a workflow approval step. */
  async forStep(runId: string, stepId: string, tx: Executor = this.db): Promise<Approval | undefined> {
    const row = await tx.get<{ id: string }>(
      'SELECT id FROM approvals WHERE run_id = ? AND step_id = ? ORDER BY created_at DESC, id DESC LIMIT 1',
      [runId, stepId],
    );
    return row ? this.load(tx, row.id) : undefined;
  }

  private async insert(
    tx: Executor,
    params: {
      id: string;
      hash: string;
      subject: string;
      actionId: string | null;
      runId?: string;
      stepId?: string;
      requirement: ApprovalRequirement;
      evidence: EvidencePack;
      requester: string | null;
      actor: string;
      now?: number;
    },
  ): Promise<void> {
    const now = params.now ?? Date.now();
    const { id, hash } = params;
    const r = params.requirement;
    await tx.run(
      `INSERT INTO approvals (id, action_id, run_id, step_id, binding_hash, group_name, quorum, escalation_json, level,
         expires_at_ms, expiry_sec, bar_owner, requester, status, policy_ids_json, evidence_json, created_at, decided_at)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, 0, ?, ?, ?, ?, 'pending', ?, ?, ?, NULL)`,
      [
        id,
        params.actionId,
        params.runId ?? null,
        params.stepId ?? null,
        hash,
        r.group,
        r.quorum,
        JSON.stringify(r.escalation),
        now + r.expirySec * 1000,
        r.expirySec,
        r.barOwner ? 1 : 0,
        params.requester,
        JSON.stringify(r.policies),
        JSON.stringify(params.evidence),
        new Date(now).toISOString(),
      ],
    );
    await this.audit.append(tx, {
      actor: params.actor,
      type: 'approval.requested',
      subject: params.subject,
      payload: {
        approvalId: id,
        ...(params.runId ? { runId: params.runId, stepId: params.stepId } : {}),
        group: r.group,
        quorum: r.quorum,
        expirySec: r.expirySec,
        escalation: r.escalation,
        bindingHash: hash,
        policies: r.policies,
      },
    });
  }

  async get(id: string, tx: Executor = this.db): Promise<Approval | undefined> {
    return this.load(tx, id);
  }

  /** The approval, or a {@link NotFoundError}. */
  async require(id: string, tx: Executor = this.db): Promise<Approval> {
    const a = await this.get(id, tx);
    if (!a) throw new NotFoundError('approval', id, 'approval');
    return a;
  }

  /** How many requests have this status (one query; for metrics and dashboards). */
  async count(status: Approval['status']): Promise<number> {
    const row = await this.db.get<{ n: number }>('SELECT COUNT(*) AS n FROM approvals WHERE status = ?', [
      status,
    ]);
    return Number(row?.n ?? 0);
  }

  async list(filter: { status?: Approval['status']; group?: string } = {}): Promise<Approval[]> {
    const where: string[] = [];
    const params: string[] = [];
    if (filter.status) {
      where.push('status = ?');
      params.push(filter.status);
    }
    if (filter.group) {
      where.push('group_name = ?');
      params.push(filter.group);
    }
    const rows = await this.db.all<{ id: string }>(
      `SELECT id FROM approvals${where.length ? ` WHERE ${where.join(' AND ')}` : ''} ORDER BY created_at, id LIMIT 500`,
      params,
    );
    const out: Approval[] = [];
    for (const r of rows) out.push((await this.get(r.id)) as Approval);
    return out;
  }

  /**
   * Records a human's vote inside `tx`. Refuses: a decided or expired request; an approver outside the group; the
   * requester; the agent's owner where barred; a second vote; and any `bindingHash`/`input` other than the bound one.
   * One deny denies; the quorum of approvals at the current level approves.
   */
  async vote(
    tx: Executor,
    params: VoteInput & { agentOwner: string | null; now?: number },
  ): Promise<VoteResult> {
    const now = params.now ?? Date.now();
    const a = await this.load(tx, params.approvalId, true);
    if (!a) throw new NotFoundError('approval', params.approvalId, 'approval');
    if (a.status !== 'pending')
      throw new ConflictError(`approval ${a.id} is already ${a.status}`, { field: 'approval' });
    if (Date.parse(a.expiresAt) <= now) {
      throw new ConflictError(`approval ${a.id} has expired; it will escalate or be denied`, {
        field: 'approval',
      });
    }
    const h = params.human;
    if (params.bindingHash !== undefined && params.bindingHash !== a.bindingHash) {
      throw new ConflictError('this approval is bound to different arguments or policy version', {
        field: 'bindingHash',
      });
    }
    if (params.input !== undefined && hashJson(params.input) !== hashJson(a.evidence.input)) {
      throw new ConflictError('the arguments differ from those the approval is bound to', { field: 'input' });
    }
    if (!h.groups.includes(a.group)) {
      throw new ForbiddenError(`${h.id} is not in ${a.group}, which decides this request`);
    }
    if (a.requester && a.requester === h.id)
      throw new ForbiddenError('the requester cannot approve their own request');
    if (a.barOwner && params.agentOwner !== null && params.agentOwner === h.id) {
      throw new ForbiddenError(`policy bars the agent's owner (${h.id}) from approving this request`);
    }
    if (a.votes.some((v) => v.human === h.id))
      throw new ConflictError(`${h.id} has already voted on ${a.id}`, { field: 'approval' });
    if (params.comment !== undefined && params.comment.length > 2000) {
      throw new UserError('must be at most 2000 characters', { field: 'comment' });
    }
    const at = new Date(now).toISOString();
    await tx.run(
      'INSERT INTO approval_votes (approval_id, human_id, vote, comment, level, at) VALUES (?, ?, ?, ?, ?, ?)',
      [a.id, h.id, params.vote, params.comment ?? null, a.level, at],
    );
    const approvals =
      a.votes.filter((v) => v.vote === 'approve' && v.level === a.level).length +
      (params.vote === 'approve' ? 1 : 0);
    let decided: VoteResult['decided'];
    if (params.vote === 'deny') decided = 'denied';
    else if (approvals >= a.quorum) decided = 'approved';
    await this.audit.append(tx, {
      actor: `human:${h.id}`,
      type: `approval.${params.vote === 'approve' ? 'approved_by' : 'denied_by'}`,
      subject: subjectOf(a),
      payload: {
        approvalId: a.id,
        group: a.group,
        level: a.level,
        approvals,
        quorum: a.quorum,
        ...(params.comment ? { comment: params.comment } : {}),
      },
    });
    if (decided) {
      await tx.run('UPDATE approvals SET status = ?, decided_at = ? WHERE id = ?', [decided, at, a.id]);
      await this.audit.append(tx, {
        actor: `human:${h.id}`,
        type: `approval.${decided}`,
        subject: subjectOf(a),
        payload: { approvalId: a.id, votes: approvals, quorum: a.quorum },
      });
    }
    return { approval: (await this.load(tx, a.id)) as Approval, ...(decided ? { decided } : {}) };
  }

  /**
   * Withdraws a pending request in `tx` (its requester no longer wants the action, e.g. the workflow run that asked
   * was cancelled): the request ends `denied` and the action `rejected`, so no later vote can execute it. Answers
   * false when the request was no longer pending.
   */
  async withdraw(tx: Executor, actionId: string, actor: string, reason: string): Promise<boolean> {
    const row = await tx.get<{ id: string }>(
      `SELECT id FROM approvals WHERE action_id = ? AND status = 'pending'${this.db.forUpdate}`,
      [actionId],
    );
    if (!row) return false;
    return this.withdrawRequest(tx, { id: row.id, actionId, subject: `action:${actionId}`, actor, reason });
  }

  /**
   * Withdraws the pending request of a workflow approval step (the run was cancelled, or the step timed out), in
   * `tx`. False when nothing was pending.
   */
  async withdrawStep(
    tx: Executor,
    p: { runId: string; stepId: string; actor: string; reason: string },
  ): Promise<boolean> {
    const row = await tx.get<{ id: string }>(
      `SELECT id FROM approvals WHERE run_id = ? AND step_id = ? AND status = 'pending'${this.db.forUpdate}`,
      [p.runId, p.stepId],
    );
    if (!row) return false;
    return this.withdrawRequest(tx, { ...p, id: row.id, actionId: null, subject: `run:${p.runId}` });
  }

  private async withdrawRequest(
    tx: Executor,
    p: { id: string; actionId: string | null; subject: string; actor: string; reason: string },
  ): Promise<boolean> {
    const { actionId, actor, reason } = p;
    const row = { id: p.id };
    const now = new Date().toISOString();
    await tx.run(
      "UPDATE approvals SET status = 'denied', decided_at = ? WHERE id = ? AND status = 'pending'",
      [now, row.id],
    );
    if (actionId)
      await tx.run(
        "UPDATE actions SET status = 'rejected', updated_at = ? WHERE id = ? AND status = 'pending_approval'",
        [now, actionId],
      );
    await this.audit.append(tx, {
      actor,
      type: 'approval.withdrawn',
      subject: p.subject,
      payload: { approvalId: row.id, reason, outcome: 'denied' },
    });
    return true;
  }

  /**
   * Moves every overdue request up its escalation chain (a fresh expiry, the next group), or denies it when the chain
   * is spent. Never approves. Answers the action ids whose requests expired for good.
   */
  async sweep(now = Date.now()): Promise<{
    escalated: string[];
    expired: { approvalId: string; actionId: string | null; runId: string | null }[];
  }> {
    const due = await this.db.all<{ id: string; action_id: string | null; run_id: string | null }>(
      "SELECT id, action_id, run_id FROM approvals WHERE status = 'pending' AND expires_at_ms <= ? LIMIT 100",
      [now],
    );
    const escalated: string[] = [];
    const expired: { approvalId: string; actionId: string | null; runId: string | null }[] = [];
    for (const { id, action_id: actionId, run_id: runId } of due) {
      await this.db.tx(async (tx) => {
        // A workflow step waiting for the request is woken by its expiry (run row before the approval's).
        if (actionId) await wakeRunOfAction(tx, actionId);
        if (runId) await wakeRun(tx, runId);
        const a = await this.load(tx, id, true);
        if (!a || a.status !== 'pending' || Date.parse(a.expiresAt) > now) return;
        if (a.level < a.escalation.length) {
          const group = a.escalation[a.level] as string;
          await tx.run('UPDATE approvals SET level = ?, group_name = ?, expires_at_ms = ? WHERE id = ?', [
            a.level + 1,
            group,
            now + a.expirySec * 1000,
            id,
          ]);
          await this.audit.append(tx, {
            actor: 'system',
            type: 'approval.escalated',
            subject: subjectOf(a),
            payload: { approvalId: id, from: a.group, to: group, level: a.level + 1 },
          });
          escalated.push(id);
        } else {
          await tx.run("UPDATE approvals SET status = 'expired', decided_at = ? WHERE id = ?", [
            new Date(now).toISOString(),
            id,
          ]);
          if (a.actionId)
            await tx.run(
              "UPDATE actions SET status = 'expired', updated_at = ? WHERE id = ? AND status = 'pending_approval'",
              [new Date(now).toISOString(), a.actionId],
            );
          await this.audit.append(tx, {
            actor: 'system',
            type: 'approval.expired',
            subject: subjectOf(a),
            payload: { approvalId: id, group: a.group, level: a.level, outcome: 'denied' },
          });
          expired.push({ approvalId: id, actionId: a.actionId, runId: a.runId });
        }
      });
    }
    return { escalated, expired };
  }
}

/** The audit subject of a request: its action, or the run of its workflow approval step. */
export function subjectOf(a: Pick<Approval, 'actionId' | 'runId'>): string {
  return a.actionId ? `action:${a.actionId}` : `run:${a.runId ?? ''}`;
}

/** The id of a workflow approval step's request: fixed by (run, step, attempt), so it is asked once. */
export function stepApprovalId(runId: string, stepId: string, attempt: number): string {
  return `apr_${hashJson({ run: runId, step: stepId, attempt }).slice(0, 20)}`;
}
