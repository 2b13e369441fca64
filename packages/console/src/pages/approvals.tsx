import { useState } from 'react';
import { Link, useParams } from 'react-router';
import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import type { ApprovalRecord } from '@autonomy-os/sdk';
import { useSignedIn } from '../session/session.js';
import { AgentText, Badge, ErrorNote, JsonText, PageHeader, Time } from '../components/text.js';

const STATUSES = ['pending', 'approved', 'denied', 'expired'] as const;

/** The approvals inbox: every request, pending first; each opens its evidence pack. */
export function ApprovalsPage() {
  const { client } = useSignedIn();
  const [status, setStatus] = useState<ApprovalRecord['status']>('pending');
  const list = useQuery({ queryKey: ['approvals', status], queryFn: () => client.listApprovals(status) });
  const approvals = list.data?.approvals ?? [];
  return (
    <>
      <PageHeader title="Approvals">
        <label htmlFor="approval-status">Show</label>
        <select
          id="approval-status"
          value={status}
          onChange={(e) => setStatus(e.target.value as ApprovalRecord['status'])}
        >
          {STATUSES.map((s) => (
            <option key={s} value={s}>
              {s}
            </option>
          ))}
        </select>
      </PageHeader>
      <ErrorNote error={list.error} />
      {list.data && approvals.length === 0 ? <p className="muted">No {status} approvals.</p> : null}
      <table aria-label={`${status} approvals`}>
        <thead>
          <tr>
            <th scope="col">Requested</th>
            <th scope="col">Agent</th>
            <th scope="col">Tool</th>
            <th scope="col">Risk</th>
            <th scope="col">Group</th>
            <th scope="col">Status</th>
            <th scope="col">Evidence</th>
          </tr>
        </thead>
        <tbody>
          {approvals.map((a) => (
            <tr key={a.id} data-approval={a.id}>
              <td>
                <Time at={a.createdAt} />
              </td>
              <td>{a.evidence.agent?.id ?? `run ${a.runId ?? ''} · ${a.stepId ?? ''}`}</td>
              <td>{a.evidence.tool}</td>
              <td>{a.evidence.risk}</td>
              <td>{a.group}</td>
              <td>
                <Badge value={a.status} />
              </td>
              <td>
                <Link to={`/approvals/${encodeURIComponent(a.id)}`}>Review</Link>
              </td>
            </tr>
          ))}
        </tbody>
      </table>
    </>
  );
}

/** One approval's evidence pack, with approve / deny and a comment for those in the deciding group. */
export function ApprovalPage() {
  const { id = '' } = useParams();
  const { client, abilities } = useSignedIn();
  const queryClient = useQueryClient();
  const [comment, setComment] = useState('');
  const approval = useQuery({ queryKey: ['approvals', 'one', id], queryFn: () => client.getApproval(id) });
  const decide = useMutation({
    mutationFn: (vote: 'approve' | 'deny') => {
      const a = approval.data as ApprovalRecord;
      return vote === 'approve'
        ? // Bound to the hash of what is on screen: if the request changed, the server refuses the vote.
          client.approve(id, { bindingHash: a.bindingHash, ...(comment ? { comment } : {}) })
        : client.deny(id, comment ? { comment } : {});
    },
    onSettled: () => queryClient.invalidateQueries({ queryKey: ['approvals'] }),
  });
  const a = approval.data;
  if (!a) return <ErrorNote error={approval.error} />;
  const ev = a.evidence;
  const votesHere = a.votes.filter((v) => v.level === a.level && v.vote === 'approve').length;

  return (
    <>
      <PageHeader title={`Approval ${a.id}`}>
        <Badge value={a.status} />
      </PageHeader>
      <dl className="facts">
        <dt>{ev.agent ? 'Agent' : 'Workflow step'}</dt>
        <dd>
          {ev.agent
            ? `${ev.agent.id} (${ev.agent.role}, tier ${ev.agent.tier}, owner ${ev.agent.owner})`
            : `step ${a.stepId ?? ''} of run ${a.runId ?? ''}`}
        </dd>
        <dt>Tool</dt>
        <dd>
          <code>{ev.tool}</code> in {ev.environment}
        </dd>
        <dt>Agent's reason</dt>
        <dd data-testid="agent-reason">
          <AgentText text={ev.reason} />
        </dd>
        <dt>Confidence</dt>
        <dd>{ev.confidence === null ? <span className="muted">not stated</span> : ev.confidence}</dd>
        <dt>Risk score</dt>
        <dd>{ev.risk}</dd>
        <dt>Determining policies</dt>
        <dd>
          {a.policies.length ? (
            a.policies.map((p) => <code key={p}>{p} </code>)
          ) : (
            <span className="muted">none</span>
          )}
        </dd>
        <dt>Why it needs approval</dt>
        <dd>{ev.decision.reasons.join('; ') || <span className="muted">—</span>}</dd>
        <dt>Decides</dt>
        <dd>
          {a.group}, quorum {a.quorum} ({votesHere} so far), level {a.level}
          {a.escalation.length ? `; escalates to ${a.escalation.join(' → ')}` : ''}; expires{' '}
          <Time at={a.expiresAt} />
          {a.barOwner ? "; the agent's owner may not approve" : ''}
        </dd>
        {a.actionId ? (
          <>
            <dt>Action</dt>
            <dd>
              <Link to={`/actions/${encodeURIComponent(a.actionId)}`}>Receipt of {a.actionId}</Link>
            </dd>
          </>
        ) : null}
      </dl>
      <h2>Exact arguments (canonical JSON)</h2>
      <JsonText value={ev.input} label="Tool arguments" />
      <h2>Session trail</h2>
      {ev.session.length === 0 ? <p className="muted">No earlier actions in this session.</p> : null}
      <ol>
        {ev.session.map((s) => (
          <li key={s.actionId}>
            <Time at={s.at} /> <code>{s.tool}</code> <Badge value={s.status} />
          </li>
        ))}
      </ol>
      <h2>Votes</h2>
      {a.votes.length === 0 ? <p className="muted">No votes yet.</p> : null}
      <ul>
        {a.votes.map((v) => (
          <li key={`${v.human}-${v.at}`}>
            {v.human} <Badge value={v.vote === 'approve' ? 'approved' : 'denied'} /> <Time at={v.at} />{' '}
            <AgentText text={v.comment} empty="" />
          </li>
        ))}
      </ul>
      {a.status === 'pending' && abilities.canDecide(a.group) ? (
        <form className="decide" onSubmit={(e) => e.preventDefault()} aria-label="Decide">
          <label htmlFor="vote-comment">Comment</label>
          <textarea
            id="vote-comment"
            maxLength={2000}
            value={comment}
            onChange={(e) => setComment(e.target.value)}
          />
          <div className="row-actions">
            <button type="button" disabled={decide.isPending} onClick={() => decide.mutate('approve')}>
              Approve
            </button>
            <button
              type="button"
              className="danger"
              disabled={decide.isPending}
              onClick={() => decide.mutate('deny')}
            >
              Deny
            </button>
          </div>
        </form>
      ) : a.status === 'pending' ? (
        <p className="muted" data-testid="cannot-decide">
          Only members of {a.group} can decide this request.
        </p>
      ) : null}
      <ErrorNote error={decide.error} />
      {decide.data ? (
        <p role="status">
          Recorded. The approval is {decide.data.approval.status}; the action is {decide.data.action.status}.
        </p>
      ) : null}
    </>
  );
}
