import { useQuery } from '@tanstack/react-query';
import type { ReactNode } from 'react';
import { Link } from 'react-router';
import type { BudgetUsage } from '@autonomy-os/sdk';
import { useSignedIn } from '../session/session.js';
import { Badge, ErrorNote, PageHeader, Time } from '../components/text.js';

/** How much of a limit is used, 0-100 (null when there is no limit). */
export function percentUsed(used: number, limit: number | undefined): number | null {
  if (limit === undefined) return null;
  if (limit === 0) return used > 0 ? 100 : 0;
  return Math.min(100, Math.round((used / limit) * 100));
}

function Meter(props: { label: string; used: number; limit: number | undefined }) {
  const pct = percentUsed(props.used, props.limit);
  if (pct === null) return <span className="muted">no limit ({props.used} used)</span>;
  return (
    <span className="meter-cell">
      <meter min={0} max={100} low={70} high={90} optimum={0} value={pct} aria-label={props.label} />{' '}
      {props.used} / {props.limit} ({pct}%)
    </span>
  );
}

/** A budget's calls and cost against its limits, anything between, and what happens over it: table cells. */
function UseCells(props: {
  of: string;
  budget: Pick<BudgetUsage, 'used' | 'calls' | 'cost' | 'onExceed'>;
  children?: ReactNode;
}) {
  const b = props.budget;
  return (
    <>
      <td>
        <Meter label={`calls of ${props.of}`} used={b.used.calls} limit={b.calls} />
      </td>
      <td>
        <Meter label={`cost of ${props.of}`} used={b.used.cost} limit={b.cost} />
      </td>
      {props.children}
      <td>
        <Badge value={b.onExceed === 'deny' ? 'denied' : 'approval'} /> {b.onExceed}
      </td>
    </>
  );
}

/** Budget use against limits per scope (global, role, agent) in the current period, and per workflow run. */
export function BudgetsPage() {
  const { client } = useSignedIn();
  // Not ['budgets'] alone: that key holds the configured budgets' array (the overview's).
  const use = useQuery({ queryKey: ['budgets', 'with-runs'], queryFn: () => client.budgetUse() });
  const budgets = { ...use, data: use.data?.budgets };
  const runs = use.data?.runs ?? [];
  return (
    <>
      <PageHeader title="Budgets" />
      <ErrorNote error={budgets.error} />
      {budgets.data && budgets.data.length === 0 ? <p className="muted">No budget is configured.</p> : null}
      <table aria-label="Budgets">
        <thead>
          <tr>
            <th scope="col">Scope</th>
            <th scope="col">Period</th>
            <th scope="col">Calls</th>
            <th scope="col">Cost units</th>
            <th scope="col">Model tokens</th>
            <th scope="col">Over budget</th>
          </tr>
        </thead>
        <tbody>
          {(budgets.data ?? []).map((b) => (
            <tr key={`${b.scope}-${b.period}`} data-budget={b.scope}>
              <td>{b.scope}</td>
              <td>
                {b.period} since <Time at={b.periodStart} />
              </td>
              <UseCells of={b.scope} budget={b}>
                <td>
                  {b.tokens.input} in / {b.tokens.output} out
                </td>
              </UseCells>
            </tr>
          ))}
        </tbody>
      </table>
      <h2 id="run-budgets">Per run</h2>
      {use.data && runs.length === 0 ? (
        <p className="muted">No recent run has spent from a workflow budget.</p>
      ) : null}
      {runs.length > 0 ? (
        <table aria-labelledby="run-budgets">
          <thead>
            <tr>
              <th scope="col">Run</th>
              <th scope="col">Workflow</th>
              <th scope="col">Status</th>
              <th scope="col">Calls</th>
              <th scope="col">Cost units</th>
              <th scope="col">Over budget</th>
            </tr>
          </thead>
          <tbody>
            {runs.map((b) => (
              <tr key={b.scope} data-budget={b.scope}>
                <td>
                  <Link to={`/runs/${encodeURIComponent(b.run.id)}`}>{b.run.id}</Link>
                </td>
                <td>{b.run.workflow}</td>
                <td>
                  <Badge value={b.run.status} />
                </td>
                <UseCells of={`run ${b.run.id}`} budget={b} />
              </tr>
            ))}
          </tbody>
        </table>
      ) : null}
    </>
  );
}
