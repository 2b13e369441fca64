import { useState } from 'react';
import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { agentEvals, evalCoverage, promoteAgent } from '@autonomy-os/sdk';
import type { GateCheckRecord } from '@autonomy-os/sdk';
import { useSignedIn } from '../session/session.js';
import { Badge, ErrorNote, PageHeader, Time } from '../components/text.js';

const pct = (v: number | null) => (v === null ? '—' : `${v.toFixed(1)}%`);

/**
 * One agent's latest run per suite, the gates of each higher tier (with promotion where it is earned) and its
 * evaluation coverage over the period: on the Evals page and on the agent's own page.
 */
export function AgentEvalsPanel(props: { agentId: string; owner: string | undefined; since?: string }) {
  const since = props.since ?? '7d';
  const { client, abilities, human } = useSignedIn();
  const queryClient = useQueryClient();
  const evals = useQuery({
    queryKey: ['agent-evals', props.agentId],
    queryFn: () => agentEvals(client, props.agentId),
  });
  const coverage = useQuery({
    queryKey: ['eval-coverage', since],
    queryFn: () => evalCoverage(client, { since }),
  });
  const promote = useMutation({
    mutationFn: (tier: number) => promoteAgent(client, props.agentId, { tier }),
    onSettled: () => queryClient.invalidateQueries({ queryKey: ['agent-evals', props.agentId] }),
  });
  const mine = coverage.data?.agents.find((c) => c.agentId === props.agentId);
  // Offered only where the API would accept it: an admin who is not the owner, and the gate passed.
  const mayPromote = (g: GateCheckRecord) => abilities.isAdmin && human.id !== props.owner && g.ok;
  const data = evals.data;
  return (
    <section aria-label={`Evaluations of ${props.agentId}`}>
      <h2>
        {props.agentId} · tier {data?.tier ?? '…'}
      </h2>
      <ErrorNote error={evals.error ?? promote.error ?? coverage.error} />
      <p data-testid="agent-eval-coverage">
        Evaluation coverage ({since}):{' '}
        {mine
          ? `${pct(mine.coverage)} of ${mine.actions} actions (suites: ${mine.suites.join(', ') || 'none'})`
          : '—'}
      </p>
      <table aria-label="Latest runs">
        <thead>
          <tr>
            <th scope="col">Suite</th>
            <th scope="col">Result</th>
            <th scope="col">Pass</th>
            <th scope="col">Failed by category</th>
            <th scope="col">When</th>
          </tr>
        </thead>
        <tbody>
          {data && !data.latest.length ? (
            <tr>
              <td colSpan={5} className="muted">
                No suite run recorded yet (`aos eval run`).
              </td>
            </tr>
          ) : null}
          {(data?.latest ?? []).map((r) => (
            <tr key={r.id}>
              <td>{r.suite}</td>
              <td>
                <Badge value={r.result} />
              </td>
              <td>
                {r.passed}/{r.cases} ({r.passRate.toFixed(1)}%, threshold {r.threshold.toFixed(1)}%)
              </td>
              <td>{r.failedByCategory.map((f) => `${f.count} ${f.category}`).join(', ') || '—'}</td>
              <td>
                <Time at={r.finishedAt} />
              </td>
            </tr>
          ))}
        </tbody>
      </table>
      <table aria-label="Tier gates">
        <thead>
          <tr>
            <th scope="col">Tier</th>
            <th scope="col">Gate</th>
            <th scope="col">Suites required</th>
            <th scope="col">Missing</th>
            {abilities.isAdmin ? <th scope="col">Promote</th> : null}
          </tr>
        </thead>
        <tbody>
          {data && !data.gates.length ? (
            <tr>
              <td colSpan={abilities.isAdmin ? 5 : 4} className="muted">
                No tier of this agent is gated by a suite.
              </td>
            </tr>
          ) : null}
          {(data?.gates ?? []).map((g) => (
            <tr key={g.tier}>
              <td>{g.tier}</td>
              <td>
                <Badge value={g.ok ? 'passed' : 'not_met'} />
              </td>
              <td>
                {g.suites
                  .map((s) => `${s.suite} ≥ ${s.threshold}%, ${s.consecutive} in a row within ${s.window}`)
                  .join('; ') || 'none'}
              </td>
              <td>{g.missing.join('; ') || '—'}</td>
              {abilities.isAdmin ? (
                <td>
                  {mayPromote(g) ? (
                    <button type="button" className="small" onClick={() => promote.mutate(g.tier)}>
                      Promote to tier {g.tier}
                    </button>
                  ) : (
                    <span className="muted">—</span>
                  )}
                </td>
              ) : null}
            </tr>
          ))}
        </tbody>
      </table>
    </section>
  );
}

/** Evaluations: coverage per agent and workflow, and each agent's latest results and gates. */
export function EvalsPage() {
  const { client } = useSignedIn();
  const [since, setSince] = useState('7d');
  const coverage = useQuery({
    queryKey: ['eval-coverage', since],
    queryFn: () => evalCoverage(client, { since }),
  });
  const agents = useQuery({ queryKey: ['agents'], queryFn: () => client.listAgents() });
  const [selected, setSelected] = useState<string>('');
  const agentId = selected || agents.data?.[0]?.id || '';
  return (
    <>
      <PageHeader title="Evaluations">
        <label>
          Period{' '}
          <select value={since} onChange={(e) => setSince(e.target.value)}>
            {['1d', '7d', '30d'].map((s) => (
              <option key={s}>{s}</option>
            ))}
          </select>
        </label>
      </PageHeader>
      <ErrorNote error={coverage.error ?? agents.error} />
      <table aria-label="Evaluation coverage">
        <thead>
          <tr>
            <th scope="col">Agent or workflow</th>
            <th scope="col">Actions</th>
            <th scope="col">Covered</th>
            <th scope="col">Coverage</th>
            <th scope="col">Most frequent gap</th>
          </tr>
        </thead>
        <tbody>
          {[
            ...(coverage.data?.agents ?? []).map((a) => ({ key: `agent:${a.agentId}`, ...a })),
            ...(coverage.data?.workflows ?? []).map((w) => ({ key: `workflow:${w.workflow}`, ...w })),
          ].map((c) => (
            <tr key={c.key}>
              <td>{c.key}</td>
              <td>{c.actions}</td>
              <td>{c.covered}</td>
              <td>{pct(c.coverage)}</td>
              <td>
                {c.uncovered[0]
                  ? `${c.uncovered[0].tool} (${c.uncovered[0].outcome}) ×${c.uncovered[0].count}`
                  : '—'}
              </td>
            </tr>
          ))}
        </tbody>
      </table>
      <label>
        Agent{' '}
        <select value={agentId} onChange={(e) => setSelected(e.target.value)}>
          {(agents.data ?? []).map((a) => (
            <option key={a.id}>{a.id}</option>
          ))}
        </select>
      </label>
      {agentId ? (
        <AgentEvalsPanel
          agentId={agentId}
          owner={agents.data?.find((a) => a.id === agentId)?.owner}
          since={since}
        />
      ) : null}
    </>
  );
}
