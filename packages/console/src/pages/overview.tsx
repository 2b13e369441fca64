import { Suspense, lazy } from 'react';
import { Link } from 'react-router';
import { useQuery } from '@tanstack/react-query';
import { useLiveEvents } from '../live/live-events.js';
import { useSignedIn } from '../session/session.js';
import { Badge, ErrorNote, PageHeader, Time } from '../components/text.js';
import { percentUsed } from './budgets.js';

// The charts carry recharts: loaded after the figures, so the overview shows its numbers first.
const OverviewCharts = lazy(() =>
  import('../components/charts.js').then((m) => ({ default: m.OverviewCharts })),
);

/** Counts of items by a key, in a stable order. */
function countBy<T>(items: readonly T[], key: (t: T) => string): [string, number][] {
  const m = new Map<string, number>();
  for (const i of items) m.set(key(i), (m.get(key(i)) ?? 0) + 1);
  return [...m.entries()].sort((a, b) => a[0].localeCompare(b[0]));
}

/** The overview: agents by status and tier, pending approvals, kill switches, recent denials; live. */
export function OverviewPage() {
  const { client } = useSignedIn();
  const { events, connected } = useLiveEvents();
  const agents = useQuery({ queryKey: ['agents'], queryFn: () => client.listAgents() });
  const approvals = useQuery({
    queryKey: ['approvals', 'pending'],
    queryFn: () => client.listApprovals('pending'),
  });
  const switches = useQuery({ queryKey: ['killswitches'], queryFn: () => client.listKillSwitches() });
  const denials = useQuery({
    queryKey: ['actions', 'denied'],
    queryFn: () => client.listActions({ status: 'denied', limit: 10 }),
  });
  const recent = useQuery({
    queryKey: ['actions', 'recent'],
    queryFn: () => client.listActionsPage({ limit: 1000 }),
  });
  const decided = useQuery({ queryKey: ['approvals', 'all'], queryFn: () => client.listApprovals() });
  const tools = useQuery({ queryKey: ['tools'], queryFn: () => client.listTools() });
  const budgets = useQuery({ queryKey: ['budgets'], queryFn: () => client.listBudgets() });
  const nearLimit = (budgets.data ?? [])
    .map((b) => ({
      b,
      pct: Math.max(percentUsed(b.used.calls, b.calls) ?? 0, percentUsed(b.used.cost, b.cost) ?? 0),
    }))
    .filter((x) => x.pct >= 80);
  const engaged = (switches.data ?? []).filter((s) => s.active);
  const list = agents.data ?? [];

  return (
    <>
      <PageHeader title="Overview">
        <span className={connected ? 'live live-on' : 'live'} aria-live="polite">
          {connected ? 'Live' : 'Reconnecting…'}
        </span>
      </PageHeader>
      <ErrorNote error={agents.error ?? approvals.error ?? switches.error ?? denials.error} />
      <div className="cards">
        <section className="card" aria-labelledby="ov-approvals">
          <h2 id="ov-approvals">Pending approvals</h2>
          <p className="big" data-testid="pending-count">
            {approvals.data ? approvals.data.approvals.length : '…'}
          </p>
          <Link to="/approvals">Open the inbox</Link>
        </section>
        <section className="card" aria-labelledby="ov-switches">
          <h2 id="ov-switches">Kill switches</h2>
          <p className="big" data-testid="killswitch-state">
            {engaged.length === 0 ? 'None engaged' : `${engaged.length} engaged`}
          </p>
          <ul className="plain">
            {engaged.map((s) => (
              <li key={s.scope}>
                <Badge value="engaged" /> {s.scope}
              </li>
            ))}
          </ul>
          <Link to="/killswitches">Manage kill switches</Link>
        </section>
        <section className="card" aria-labelledby="ov-status">
          <h2 id="ov-status">Agents by status</h2>
          <ul className="plain">
            {countBy(list, (a) => a.status).map(([k, n]) => (
              <li key={k}>
                <Badge value={k} /> {n}
              </li>
            ))}
          </ul>
        </section>
        <section className="card" aria-labelledby="ov-tier">
          <h2 id="ov-tier">Agents by tier</h2>
          <ul className="plain">
            {countBy(list, (a) => `tier ${a.tier}`).map(([k, n]) => (
              <li key={k}>
                {k}: {n}
              </li>
            ))}
          </ul>
        </section>
        <section className="card" aria-labelledby="ov-budgets">
          <h2 id="ov-budgets">Budgets near their limits</h2>
          <p className="big">{budgets.data ? nearLimit.length : '…'}</p>
          <ul className="plain">
            {nearLimit.map((x) => (
              <li key={`${x.b.scope}-${x.b.period}`}>
                {x.b.scope}: {x.pct}% of this {x.b.period}
              </li>
            ))}
          </ul>
          <Link to="/budgets">All budgets</Link>
        </section>
      </div>
      <Suspense fallback={<p className="muted">Loading charts…</p>}>
        <OverviewCharts
          actions={recent.data?.actions ?? []}
          approvals={decided.data?.approvals ?? []}
          tools={tools.data ?? []}
        />
      </Suspense>
      <section aria-labelledby="ov-denials">
        <h2 id="ov-denials">Recent denials</h2>
        {denials.data && denials.data.length === 0 ? <p className="muted">No denied actions.</p> : null}
        <table>
          <thead>
            <tr>
              <th scope="col">When</th>
              <th scope="col">Agent</th>
              <th scope="col">Tool</th>
              <th scope="col">Why</th>
            </tr>
          </thead>
          <tbody>
            {(denials.data ?? []).map((a) => (
              <tr key={a.id}>
                <td>
                  <Link to={`/actions/${encodeURIComponent(a.id)}`}>
                    <Time at={a.createdAt} />
                  </Link>
                </td>
                <td>{a.agentId}</td>
                <td>{a.tool}</td>
                <td>{a.decision.reasons.join('; ')}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </section>
      <section aria-labelledby="ov-recent">
        <h2 id="ov-recent">Latest events</h2>
        <ul className="plain events-mini">
          {events.slice(0, 8).map((e) => (
            <li key={e.seq}>
              <Time at={e.at} /> <code>{e.type}</code>{' '}
              {typeof e.data.agentId === 'string' ? e.data.agentId : ''}
            </li>
          ))}
          {events.length === 0 ? <li className="muted">Nothing yet since you opened the console.</li> : null}
        </ul>
      </section>
    </>
  );
}
