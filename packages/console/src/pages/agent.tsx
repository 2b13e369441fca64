import { useState } from 'react';
import { Link, useParams } from 'react-router';
import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { promoteAgent } from '@autonomy-os/sdk';
import { useSignedIn } from '../session/session.js';
import { AgentText, Badge, ErrorNote, PageHeader, Time } from '../components/text.js';
import { VirtualRows } from '../components/virtual-rows.js';
import { AgentEvalsPanel } from './evals.js';

type Change = 'pause' | 'resume' | 'kill';

/** One agent: who it is, its recent actions, tier history and approvals; pause, resume, kill and promote. */
export function AgentPage() {
  const { id = '' } = useParams();
  const { client, human, abilities } = useSignedIn();
  const queryClient = useQueryClient();
  const [tier, setTier] = useState<0 | 1 | 2 | 3 | null>(null);
  const agent = useQuery({ queryKey: ['agents', 'one', id], queryFn: () => client.getAgent(id) });
  const actions = useQuery({
    queryKey: ['actions', 'agent', id],
    queryFn: () => client.listActionsPage({ agent: id, limit: 200 }),
  });
  const approvals = useQuery({ queryKey: ['approvals', 'all'], queryFn: () => client.listApprovals() });
  const mayAudit = abilities.isAdmin || abilities.isAuditor;
  const history = useQuery({
    queryKey: ['audit', 'tiers', id],
    queryFn: () => client.searchAudit({ type: 'agent.', limit: 1000 }),
    enabled: mayAudit,
  });
  const change = useMutation({
    mutationFn: (c: Change) => client.setAgentStatus(id, c, `from the console by ${human.id}`),
    onSettled: () => queryClient.invalidateQueries({ queryKey: ['agents'] }),
  });
  const promote = useMutation({
    // Raising a tier is an earned promotion (the server checks the agent's evaluation gates); lowering one is not.
    mutationFn: (t: 0 | 1 | 2 | 3) =>
      t > (agent.data?.tier ?? 0)
        ? promoteAgent(client, id, { tier: t, reason: `from the console by ${human.id}` }).then(
            (r) => r.agent,
          )
        : client.setAgentTier(id, t, `from the console by ${human.id}`),
    onSettled: () => {
      void queryClient.invalidateQueries({ queryKey: ['agents'] });
      void queryClient.invalidateQueries({ queryKey: ['audit'] });
    },
  });
  const a = agent.data;
  if (!a) return <ErrorNote error={agent.error} />;
  const offered: Change[] =
    a.status === 'revoked'
      ? []
      : abilities.isAdmin
        ? a.status === 'paused'
          ? ['resume', 'kill']
          : ['pause', 'kill']
        : a.owner === human.id && a.status === 'active'
          ? ['pause']
          : [];
  const mine = (approvals.data?.approvals ?? []).filter((x) => x.evidence.agent?.id === id);
  const tiers = (history.data?.records ?? []).filter(
    (r) => r.subject === `agent:${id}` && (r.type === 'agent.tier_changed' || r.type === 'agent.created'),
  );
  return (
    <>
      <PageHeader title={`Agent ${a.id}`}>
        <Badge value={a.status} />
      </PageHeader>
      <dl className="facts">
        <dt>Name</dt>
        <dd>
          <AgentText text={a.displayName} />
        </dd>
        <dt>Role</dt>
        <dd>{a.role}</dd>
        <dt>Tier</dt>
        <dd data-testid="agent-tier">tier {a.tier}</dd>
        <dt>Owner</dt>
        <dd>{a.owner}</dd>
        <dt>Environments</dt>
        <dd>{a.environments.join(', ') || '—'}</dd>
        <dt>Since</dt>
        <dd>
          <Time at={a.createdAt} />
        </dd>
      </dl>
      <div className="row-actions" role="group" aria-label="Agent actions">
        {offered.map((c) => (
          <button
            key={c}
            type="button"
            className={c === 'kill' ? 'danger' : ''}
            disabled={change.isPending}
            onClick={() => {
              if (c === 'kill' && !window.confirm(`Kill ${a.id}? Its tokens stop working for good.`)) return;
              change.mutate(c);
            }}
          >
            {c[0]?.toUpperCase()}
            {c.slice(1)}
          </button>
        ))}
        {abilities.isAdmin && a.status !== 'revoked' ? (
          <>
            <label htmlFor="agent-new-tier">New tier</label>
            <select
              id="agent-new-tier"
              value={tier ?? a.tier}
              onChange={(e) => setTier(Number(e.target.value) as 0 | 1 | 2 | 3)}
            >
              {[0, 1, 2, 3].map((t) => (
                <option key={t} value={t}>
                  tier {t}
                </option>
              ))}
            </select>
            <button
              type="button"
              disabled={promote.isPending || tier === null || tier === a.tier}
              onClick={() => tier !== null && promote.mutate(tier)}
            >
              Change tier
            </button>
          </>
        ) : null}
      </div>
      <ErrorNote error={change.error ?? promote.error ?? actions.error} />
      <h2>Recent actions</h2>
      <VirtualRows
        label={`Actions of ${a.id}`}
        items={actions.data?.actions ?? []}
        columns={['Action', 'Tool', 'Status', 'Policies', 'When']}
        rowKey={(x) => x.id}
        empty="No action yet."
        renderRow={(x) => [
          <Link key="id" to={`/actions/${encodeURIComponent(x.id)}`}>
            {x.id}
          </Link>,
          x.tool,
          <Badge key="s" value={x.status} />,
          x.decision.policies.join(', '),
          <Time key="t" at={typeof x.createdAt === 'string' ? x.createdAt : null} />,
        ]}
      />
      <AgentEvalsPanel agentId={a.id} owner={a.owner} />
      <div className="run-layout">
        <section aria-labelledby="agent-tiers">
          <h2 id="agent-tiers">Tier history</h2>
          {mayAudit ? (
            <ol>
              {tiers.map((r) => {
                const p = (r.payload ?? {}) as { from?: number; to?: number; tier?: number; reason?: string };
                return (
                  <li key={r.seq}>
                    <Time at={r.ts} />{' '}
                    {r.type === 'agent.created'
                      ? `created at tier ${p.tier ?? '?'}`
                      : `tier ${p.from} → ${p.to}`}{' '}
                    by {r.actor} <AgentText text={p.reason} empty="" />
                  </li>
                );
              })}
            </ol>
          ) : (
            <p className="muted">Tier history comes from the audit log (auditors and admins).</p>
          )}
        </section>
        <section aria-labelledby="agent-approvals">
          <h2 id="agent-approvals">Approvals</h2>
          {mine.length ? (
            <ul className="plain">
              {mine.map((x) => (
                <li key={x.id}>
                  <Link to={`/approvals/${encodeURIComponent(x.id)}`}>{x.evidence.tool}</Link>{' '}
                  <Badge value={x.status} /> <Time at={x.createdAt} />
                </li>
              ))}
            </ul>
          ) : (
            <p className="muted">No approval requests.</p>
          )}
        </section>
      </div>
    </>
  );
}
