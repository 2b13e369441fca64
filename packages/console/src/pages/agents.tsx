import { useMemo, useState } from 'react';
import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import type { AgentRecord } from '@autonomy-os/sdk';
import { useSignedIn } from '../session/session.js';
import { Badge, ErrorNote, PageHeader } from '../components/text.js';
import { VirtualRows } from '../components/virtual-rows.js';

type Change = 'pause' | 'resume' | 'kill';

/** The agent registry, filterable; pause, resume and kill for admins (an owner may pause their own agent). */
export function AgentsPage() {
  const { client, human, abilities } = useSignedIn();
  const queryClient = useQueryClient();
  const [filter, setFilter] = useState('');
  const [status, setStatus] = useState<'' | AgentRecord['status']>('');
  const agents = useQuery({ queryKey: ['agents'], queryFn: () => client.listAgents() });
  const change = useMutation({
    mutationFn: (p: { id: string; change: Change }) =>
      client.setAgentStatus(p.id, p.change, `from the console by ${human.id}`),
    onSettled: () => queryClient.invalidateQueries({ queryKey: ['agents'] }),
  });

  const shown = useMemo(() => {
    const f = filter.trim().toLowerCase();
    return (agents.data ?? []).filter(
      (a) =>
        (!status || a.status === status) &&
        (!f || [a.id, a.role, a.owner, a.displayName].some((s) => s.toLowerCase().includes(f))),
    );
  }, [agents.data, filter, status]);

  const offered = (a: AgentRecord): Change[] => {
    if (a.status === 'revoked') return [];
    if (abilities.isAdmin) return a.status === 'paused' ? ['resume', 'kill'] : ['pause', 'kill'];
    if (a.owner === human.id && a.status === 'active') return ['pause'];
    return [];
  };

  return (
    <>
      <PageHeader title="Agents">
        <label htmlFor="agent-filter">Filter</label>
        <input
          id="agent-filter"
          type="search"
          placeholder="id, role or owner"
          value={filter}
          onChange={(e) => setFilter(e.target.value)}
        />
        <label htmlFor="agent-status">Status</label>
        <select
          id="agent-status"
          value={status}
          onChange={(e) => setStatus(e.target.value as '' | AgentRecord['status'])}
        >
          <option value="">any</option>
          <option value="active">active</option>
          <option value="paused">paused</option>
          <option value="revoked">revoked</option>
        </select>
      </PageHeader>
      <ErrorNote error={agents.error ?? change.error} />
      <p className="muted">
        {shown.length} of {agents.data?.length ?? 0} agents
      </p>
      <VirtualRows
        label="Agents"
        items={shown}
        columns={['Agent', 'Role', 'Tier', 'Owner', 'Status', 'Environments', 'Actions']}
        rowKey={(a) => a.id}
        empty="No agent matches."
        renderRow={(a) => [
          <span key="id" title={a.displayName}>
            {a.id}
          </span>,
          a.role,
          `tier ${a.tier}`,
          a.owner,
          <Badge key="s" value={a.status} />,
          a.environments.join(', '),
          <span key="act" className="row-actions">
            {offered(a).map((c) => (
              <button
                key={c}
                type="button"
                className={c === 'kill' ? 'danger small' : 'small'}
                aria-label={`${c} ${a.id}`}
                disabled={change.isPending}
                onClick={() => {
                  if (c === 'kill' && !window.confirm(`Kill ${a.id}? Its tokens stop working for good.`))
                    return;
                  change.mutate({ id: a.id, change: c });
                }}
              >
                {c}
              </button>
            ))}
          </span>,
        ]}
      />
    </>
  );
}
