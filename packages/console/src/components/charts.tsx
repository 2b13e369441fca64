import { Bar, BarChart, CartesianGrid, Legend, ResponsiveContainer, Tooltip, XAxis, YAxis } from 'recharts';
import type { Action, ApprovalRecord, ToolSummary } from '@autonomy-os/sdk';

const OUTCOMES = [
  ['allowed', '#1b7f3b'],
  ['pending_approval', '#a15c00'],
  ['denied', '#b3261e'],
] as const;

/** Actions per minute by outcome, oldest first (the minutes that had any). */
export function actionsPerMinute(actions: readonly Action[]): Record<string, number | string>[] {
  const buckets = new Map<string, Record<string, number | string>>();
  for (const a of actions) {
    const at = typeof a.createdAt === 'string' ? a.createdAt : '';
    const minute = at.slice(0, 16);
    if (!minute) continue;
    const b = buckets.get(minute) ?? { minute: minute.slice(11), allowed: 0, pending_approval: 0, denied: 0 };
    b[a.outcome] = Number(b[a.outcome] ?? 0) + 1;
    buckets.set(minute, b);
  }
  return [...buckets.entries()].sort((x, y) => x[0].localeCompare(y[0])).map((e) => e[1]);
}

/** Seconds from request to decision of each decided approval, oldest first. */
export function approvalLatency(approvals: readonly ApprovalRecord[]): { id: string; seconds: number }[] {
  return approvals
    .filter((a) => a.decidedAt)
    .sort((x, y) => x.createdAt.localeCompare(y.createdAt))
    .map((a) => ({
      id: `${a.evidence.tool} ${a.id.slice(-4)}`,
      seconds: Math.max(0, Math.round((Date.parse(a.decidedAt as string) - Date.parse(a.createdAt)) / 1000)),
    }));
}

/** Cost units by agent: each executed action charges its tool's cost (what budgets count). */
export function costByAgent(
  actions: readonly Action[],
  tools: readonly ToolSummary[],
): { agent: string; cost: number }[] {
  const cost = new Map(tools.map((t) => [t.name, t.cost]));
  const by = new Map<string, number>();
  for (const a of actions) {
    if (a.outcome === 'denied') continue;
    by.set(a.agentId, (by.get(a.agentId) ?? 0) + (cost.get(a.tool) ?? 1));
  }
  return [...by.entries()]
    .map(([agent, c]) => ({ agent, cost: c }))
    .sort((x, y) => y.cost - x.cost)
    .slice(0, 15);
}

/** A chart in a card: the picture is hidden from screen readers (and takes no focus); a text summary stands in. */
function ChartCard(props: { id: string; title: string; summary: string; children: React.ReactElement }) {
  return (
    <section className="card chart" aria-labelledby={props.id}>
      <h2 id={props.id}>{props.title}</h2>
      <p className="sr-only">{props.summary}</p>
      <div aria-hidden="true" className="chart-box">
        <ResponsiveContainer width="100%" height={220}>
          {props.children}
        </ResponsiveContainer>
      </div>
    </section>
  );
}

/** The overview's charts: actions over time by outcome, approval latency, cost by agent. */
export function OverviewCharts(props: {
  actions: readonly Action[];
  approvals: readonly ApprovalRecord[];
  tools: readonly ToolSummary[];
}) {
  const perMinute = actionsPerMinute(props.actions);
  const latency = approvalLatency(props.approvals);
  const costs = costByAgent(props.actions, props.tools);
  return (
    <div className="cards charts" data-testid="charts">
      <ChartCard
        id="chart-actions"
        title="Actions per minute by outcome"
        summary={`${props.actions.length} recent actions over ${perMinute.length} minutes.`}
      >
        <BarChart data={perMinute} accessibilityLayer={false}>
          <CartesianGrid strokeDasharray="3 3" />
          <XAxis dataKey="minute" />
          <YAxis allowDecimals={false} />
          <Tooltip />
          <Legend />
          {OUTCOMES.map(([k, colour]) => (
            <Bar
              key={k}
              dataKey={k}
              stackId="o"
              fill={colour}
              name={k.replace('_', ' ')}
              isAnimationActive={false}
            />
          ))}
        </BarChart>
      </ChartCard>
      <ChartCard
        id="chart-latency"
        title="Approval latency (seconds)"
        summary={`${latency.length} decided approvals.`}
      >
        <BarChart data={latency} accessibilityLayer={false}>
          <CartesianGrid strokeDasharray="3 3" />
          <XAxis dataKey="id" hide />
          <YAxis allowDecimals={false} />
          <Tooltip />
          <Bar dataKey="seconds" fill="#3558a8" isAnimationActive={false} />
        </BarChart>
      </ChartCard>
      <ChartCard
        id="chart-cost"
        title="Cost units by agent"
        summary={costs.map((c) => `${c.agent} ${c.cost}`).join(', ') || 'No cost yet.'}
      >
        <BarChart data={costs} layout="vertical" accessibilityLayer={false}>
          <CartesianGrid strokeDasharray="3 3" />
          <XAxis type="number" allowDecimals={false} />
          <YAxis type="category" dataKey="agent" width={110} />
          <Tooltip />
          <Bar dataKey="cost" fill="#6a3fa0" isAnimationActive={false} />
        </BarChart>
      </ChartCard>
    </div>
  );
}
