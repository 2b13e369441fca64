import { useDeferredValue, useState } from 'react';
import { Link } from 'react-router';
import { useInfiniteQuery, useMutation, useQueryClient } from '@tanstack/react-query';
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
  const search = useDeferredValue(filter.trim());
  // Paged and filtered on the server: 1,000 agents cost one page of 500 rows, the rest on demand.
  const agents = useInfiniteQuery({
    queryKey: ['agents', 'pages', search, status],
    initialPageParam: undefined as string | undefined,
    queryFn: ({ pageParam }) =>
      client.listAgentsPage({
        limit: 500,
        ...(search ? { search } : {}),
        ...(status ? { status } : {}),
        ...(pageParam ? { cursor: pageParam } : {}),
      }),
    getNextPageParam: (last) => last.nextCursor ?? undefined,
  });
  const change = useMutation({
    mutationFn: (p: { id: string; change: Change }) =>
      client.setAgentStatus(p.id, p.change, `from the console by ${human.id}`),
    onSettled: () => queryClient.invalidateQueries({ queryKey: ['agents'] }),
  });

  const shown = agents.data?.pages.flatMap((p) => p.agents) ?? [];

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
        {shown.length} agents{agents.hasNextPage ? ' shown; more on the server' : ''}
      </p>
      <VirtualRows
        label="Agents"
        items={shown}
        columns={['Agent', 'Role', 'Tier', 'Owner', 'Status', 'Environments', 'Actions']}
        rowKey={(a) => a.id}
        empty="No agent matches."
        renderRow={(a) => [
          <Link key="id" to={`/agents/${encodeURIComponent(a.id)}`} title={a.displayName}>
            {a.id}
          </Link>,
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
      {agents.hasNextPage ? (
        <button
          type="button"
          disabled={agents.isFetchingNextPage}
          onClick={() => void agents.fetchNextPage()}
        >
          Load more agents
        </button>
      ) : null}
    </>
  );
}
