import { useState } from 'react';
import { useQuery } from '@tanstack/react-query';
import type { ReportSummaryRow } from '@autonomy-os/sdk';
import { useSignedIn } from '../session/session.js';
import { ErrorNote, PageHeader, Time } from '../components/text.js';
import { CycleTimeChart } from '../components/report-chart.js';

const PERIODS = ['1d', '7d', '30d'] as const;
const share = (v: number | null | 'n/a') => (v === null || v === 'n/a' ? '—' : `${(v * 100).toFixed(1)}%`);
const secs = (v: number | null) => (v === null ? '—' : `${v}s`);
const pair = (p: { p50Sec: number | null; p90Sec: number | null }) => `${secs(p.p50Sec)} / ${secs(p.p90Sec)}`;
const units = (v: number | null) => (v === null ? '—' : String(Math.round(v * 100) / 100));

/** One table of report rows: the same columns for workflows, agents and the total. */
function ReportTable(props: { label: string; first: string; rows: readonly ReportSummaryRow[] }) {
  return (
    <table aria-label={props.label} className="report">
      <thead>
        <tr>
          <th scope="col">{props.first}</th>
          <th scope="col">Runs</th>
          <th scope="col">Cycle p50 / p90</th>
          <th scope="col">Actions</th>
          <th scope="col">Allowed · approval · denied</th>
          <th scope="col">Succeeded · failed · unknown</th>
          <th scope="col">Escalation</th>
          <th scope="col">Approval latency p50 / p90</th>
          <th scope="col">Cost per run</th>
          <th scope="col">Cost per change</th>
          <th scope="col">Eval coverage</th>
          <th scope="col">Auditability</th>
        </tr>
      </thead>
      <tbody>
        {props.rows.map((r) => (
          <tr key={r.name} data-report-row={r.name}>
            <th scope="row">{r.name}</th>
            <td>{r.runs}</td>
            <td>{pair(r.cycleTime)}</td>
            <td>{r.actions.total}</td>
            <td>
              {r.actions.allowed} · {r.actions.approval} · {r.actions.denied}
            </td>
            <td>
              {r.actions.succeeded} · {r.actions.failed} · {r.actions.unknownOutcome}
            </td>
            <td>{share(r.escalationRate)}</td>
            <td>{pair(r.approvalLatency)}</td>
            <td>{units(r.costPerRun)}</td>
            <td>{units(r.costPerChange)}</td>
            <td>{share(r.evalCoverage)}</td>
            <td>{share(r.auditability)}</td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}

/**
 * Leader metrics on one screen ("did we get faster without getting sloppier?"): speed (runs, cycle time, approval
 * latency, cost) beside care (outcomes, escalation, evaluation coverage, auditability), per workflow and per agent.
 * `GET /v1/reports/summary`, which any signed-in human may read; `aos report` prints the same figures.
 */
export function ReportPage() {
  const { client } = useSignedIn();
  const [since, setSince] = useState<(typeof PERIODS)[number]>('7d');
  const report = useQuery({
    queryKey: ['report', since],
    queryFn: () => client.getReportSummary({ since }),
  });
  const r = report.data;
  return (
    <>
      <PageHeader title="Report">
        <label>
          Period{' '}
          <select value={since} onChange={(e) => setSince(e.target.value as (typeof PERIODS)[number])}>
            {PERIODS.map((p) => (
              <option key={p}>{p}</option>
            ))}
          </select>
        </label>
      </PageHeader>
      <ErrorNote error={report.error} />
      {r ? (
        <>
          <p className="muted">
            From <Time at={r.since} /> to <Time at={r.until} />. Faster: runs, cycle time, approval latency,
            cost. Not sloppier: outcomes, escalation, evaluation coverage, auditability (complete receipts).
          </p>
          <div className="cards" data-testid="report-totals">
            <div className="card">
              <h2>Runs</h2>
              <p>{r.totals.runs}</p>
            </div>
            <div className="card">
              <h2>Cycle p50 / p90</h2>
              <p>{pair(r.totals.cycleTime)}</p>
            </div>
            <div className="card">
              <h2>Escalation</h2>
              <p>{share(r.totals.escalationRate)}</p>
            </div>
            <div className="card">
              <h2>Eval coverage</h2>
              <p>{share(r.totals.evalCoverage)}</p>
            </div>
            <div className="card">
              <h2>Auditability</h2>
              <p>{share(r.totals.auditability)}</p>
            </div>
          </div>
          <div className="cards charts">
            <CycleTimeChart workflows={r.workflows} />
          </div>
          <h2>Workflows</h2>
          <ReportTable label="Workflows" first="Workflow" rows={r.workflows} />
          <h2>Agents</h2>
          <ReportTable label="Agents" first="Agent" rows={r.agents} />
          <h2>Total</h2>
          <ReportTable label="Total" first="Scope" rows={[r.totals]} />
        </>
      ) : (
        <p className="muted">Loading the report…</p>
      )}
    </>
  );
}
