import { Link, useParams } from 'react-router';
import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { useSignedIn } from '../session/session.js';
import { AgentText, Badge, ErrorNote, JsonText, PageHeader, Time } from '../components/text.js';

/** One action's receipt: what it did, what it touched, which policy, what checks, who approved, how to reverse. */
export function ReceiptPage() {
  const { id = '' } = useParams();
  const { client, human, abilities } = useSignedIn();
  const queryClient = useQueryClient();
  const receipt = useQuery({ queryKey: ['receipt', id], queryFn: () => client.receipt(id) });
  const agentId = receipt.data?.action.agentId;
  const agent = useQuery({
    queryKey: ['agents', 'one', agentId],
    queryFn: () => client.getAgent(agentId as string),
    enabled: !!agentId,
  });
  const undo = useMutation({
    mutationFn: () => client.undo(id, `undone from the console by ${human.id}`),
    onSettled: () => queryClient.invalidateQueries({ queryKey: ['receipt'] }),
  });
  const r = receipt.data;
  if (!r) return <ErrorNote error={receipt.error} />;
  const mayUndo =
    r.reversal.available &&
    r.reversal.reversedBy.length === 0 &&
    (abilities.isAdmin || agent.data?.owner === human.id);

  return (
    <>
      <PageHeader title={`Receipt ${r.action.id}`}>
        <Badge value={r.action.status} />
      </PageHeader>
      <p>
        {r.action.agentId} called <code>{r.action.tool}</code> in {r.action.environment} on{' '}
        <Time at={r.action.createdAt} />.
        {r.action.traceId ? (
          <>
            {' '}
            Trace <code data-testid="trace-id">{r.action.traceId}</code>.
          </>
        ) : null}
      </p>
      <section aria-labelledby="q-did">
        <h2 id="q-did">What did the agent do?</h2>
        <p>{r.did.summary}</p>
        <p>
          Reason: <AgentText text={r.did.reason} />. Confidence:{' '}
          {r.did.confidence === null ? 'not stated' : r.did.confidence}.
          {r.did.onBehalfOf ? ` On behalf of ${r.did.onBehalfOf}.` : ''}
        </p>
      </section>
      <section aria-labelledby="q-data">
        <h2 id="q-data">What data did it touch?</h2>
        <p>
          Connector {r.data.connector ?? '—'}, effect {r.data.effect ?? '—'}
          {r.data.cached ? ', answered from cache' : ''}.
          {r.data.identifiers.length ? ` Identifiers: ${r.data.identifiers.join(', ')}.` : ''}
        </p>
        <JsonText value={r.data.input} label="Arguments" />
        {r.data.resultSummary ? (
          <p>
            Result: <AgentText text={r.data.resultSummary} />
          </p>
        ) : null}
      </section>
      <section aria-labelledby="q-policy">
        <h2 id="q-policy">Which policy allowed or stopped it?</h2>
        <p>
          <Badge value={r.policy.outcome} /> by {r.policy.policies.join(', ') || 'no named policy'}; risk{' '}
          {r.policy.risk}; policy set <code>{r.policy.policyHash.slice(0, 16)}</code>.
        </p>
        {r.policy.reasons.length ? (
          <ul>
            {r.policy.reasons.map((x) => (
              <li key={x}>{x}</li>
            ))}
          </ul>
        ) : null}
      </section>
      <section aria-labelledby="q-checks">
        <h2 id="q-checks">What checks ran?</h2>
        <table aria-label="Checks">
          <thead>
            <tr>
              <th scope="col">Check</th>
              <th scope="col">Result</th>
              <th scope="col">Detail</th>
            </tr>
          </thead>
          <tbody>
            {r.checks.map((c) => (
              <tr key={c.name}>
                <td>{c.name}</td>
                <td>
                  <Badge value={c.result} />
                </td>
                <td>{c.detail}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </section>
      <section aria-labelledby="q-approval">
        <h2 id="q-approval">Who approved it?</h2>
        {r.approval ? (
          <>
            <p>
              <Link to={`/approvals/${encodeURIComponent(r.approval.id)}`}>{r.approval.id}</Link>:{' '}
              <Badge value={r.approval.status} /> by {r.approval.group} (quorum {r.approval.quorum}).
            </p>
            <ul>
              {r.approval.votes.map((v) => (
                <li key={`${v.human}-${v.at}`}>
                  {v.human}: {v.vote} <Time at={v.at} /> <AgentText text={v.comment} empty="" />
                </li>
              ))}
            </ul>
          </>
        ) : (
          <p>No approval was needed.</p>
        )}
      </section>
      <section aria-labelledby="q-reverse">
        <h2 id="q-reverse">How do we reverse it?</h2>
        <p>{r.reversal.note}</p>
        {r.reversal.reversedBy.length ? (
          <p>
            Reversed by{' '}
            {r.reversal.reversedBy.map((x) => (
              <Link key={x} to={`/actions/${encodeURIComponent(x)}`}>
                {x}{' '}
              </Link>
            ))}
          </p>
        ) : null}
        {r.reversal.reversalOf ? (
          <p>
            This action reverses{' '}
            <Link to={`/actions/${encodeURIComponent(r.reversal.reversalOf)}`}>{r.reversal.reversalOf}</Link>.
          </p>
        ) : null}
        {mayUndo ? (
          <button type="button" className="danger" disabled={undo.isPending} onClick={() => undo.mutate()}>
            Undo with {r.reversal.tool}
          </button>
        ) : null}
        <ErrorNote error={undo.error} />
        {undo.data ? (
          <p role="status">
            Reversal <Link to={`/actions/${encodeURIComponent(undo.data.id)}`}>{undo.data.id}</Link> is{' '}
            {undo.data.status}.
          </p>
        ) : null}
      </section>
      <section aria-labelledby="q-audit">
        <h2 id="q-audit">Audit records</h2>
        <ol>
          {r.audit.map((x) => (
            <li key={x.seq}>
              #{x.seq} <Time at={x.ts} /> <code>{x.type}</code> by {x.actor}
            </li>
          ))}
        </ol>
      </section>
    </>
  );
}
