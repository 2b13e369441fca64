import { Bar, BarChart, CartesianGrid, Legend, ResponsiveContainer, Tooltip, XAxis, YAxis } from 'recharts';
import type { ReportSummaryRow } from '@autonomy-os/sdk';

/**
 * Cycle time p50/p90 per workflow: "did we get faster" at a glance. The picture is hidden from screen readers and a
 * text summary stands in (the table beside it has every figure).
 */
export function CycleTimeChart(props: { workflows: readonly ReportSummaryRow[] }) {
  const data = props.workflows.map((w) => ({
    name: w.name,
    p50: w.cycleTime.p50Sec ?? 0,
    p90: w.cycleTime.p90Sec ?? 0,
  }));
  const summary =
    props.workflows
      .map((w) => `${w.name}: p50 ${w.cycleTime.p50Sec ?? '—'}s, p90 ${w.cycleTime.p90Sec ?? '—'}s`)
      .join('; ') || 'No workflow runs in the period.';
  return (
    <section className="card chart" aria-labelledby="chart-cycle" data-testid="report-chart">
      <h2 id="chart-cycle">Cycle time per workflow (seconds)</h2>
      <p className="sr-only">{summary}</p>
      <div aria-hidden="true" className="chart-box">
        <ResponsiveContainer width="100%" height={220}>
          <BarChart data={data} accessibilityLayer={false}>
            <CartesianGrid strokeDasharray="3 3" />
            <XAxis dataKey="name" />
            <YAxis />
            <Tooltip />
            <Legend />
            <Bar dataKey="p50" fill="#3558a8" isAnimationActive={false} />
            <Bar dataKey="p90" fill="#a15c00" isAnimationActive={false} />
          </BarChart>
        </ResponsiveContainer>
      </div>
    </section>
  );
}
