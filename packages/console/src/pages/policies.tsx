import { useEffect, useState } from 'react';
import type { ChangeEvent, FormEvent } from 'react';
import { Link } from 'react-router';
import { useMutation, useQuery } from '@tanstack/react-query';
import type { PolicyFile, PolicySetView } from '@autonomy-os/sdk';
import { useSignedIn } from '../session/session.js';
import { Badge, ErrorNote, PageHeader, Time } from '../components/text.js';

const joined = (files: readonly PolicyFile[]) =>
  files.map((f) => `// ${f.file}\n${f.text.trim()}\n`).join('\n');

/** Reads uploaded `.cedar` files as one text (each under a comment naming it). */
async function readUploads(list: FileList | null): Promise<string> {
  const files = [...(list ?? [])];
  const texts = await Promise.all(files.map(async (f) => ({ file: f.name, text: await f.text() })));
  return joined(texts);
}

function PolicyTable(props: { label: string; policies: PolicySetView['permits'] }) {
  return (
    <table aria-label={props.label}>
      <thead>
        <tr>
          <th scope="col">Policy</th>
          <th scope="col">Effect</th>
          <th scope="col">File</th>
        </tr>
      </thead>
      <tbody>
        {props.policies.map((p) => (
          <tr key={p.id}>
            <td>
              <code>{p.id}</code>
            </td>
            <td>
              <Badge value={p.effect === 'permit' ? 'allowed' : 'denied'} /> {p.effect}
            </td>
            <td>{p.file}</td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}

/**
 * The active policy set and its hash; paste or upload a proposed set and see which recorded decisions of the last N
 * days it would change (`aos policy replay`), before anyone deploys it. Replaying writes nothing.
 */
export function PoliciesPage() {
  const { client, abilities } = useSignedIn();
  const active = useQuery({ queryKey: ['policies'], queryFn: () => client.getPolicies() });
  const [permits, setPermits] = useState('');
  const [approvals, setApprovals] = useState('');
  const [days, setDays] = useState(7);
  const replay = useMutation({
    mutationFn: () =>
      client.replayPolicies({
        policies: [{ file: 'proposed.cedar', text: permits }],
        approvals: approvals.trim() ? [{ file: 'proposed.cedar', text: approvals }] : [],
        days,
      }),
  });
  const a = active.data;
  const reset = () => {
    if (!a) return;
    setPermits(joined(a.files.policies));
    setApprovals(joined(a.files.approvals));
  };
  // Start the proposal from what is on disk now, once it has loaded.
  useEffect(reset, [a]);
  const mayReplay = abilities.isAdmin || abilities.isAuditor;
  const upload = (set: (t: string) => void) => (e: ChangeEvent<HTMLInputElement>) =>
    void readUploads(e.target.files).then(set);
  const submit = (e: FormEvent) => {
    e.preventDefault();
    replay.mutate();
  };
  const r = replay.data;
  return (
    <>
      <PageHeader title="Policies" />
      <ErrorNote error={active.error} />
      {a ? (
        <p>
          Active set <code data-testid="policy-hash">{a.hash}</code> from {a.source}: {a.permits.length}{' '}
          permit/forbid policies, {a.approvals.length} approval rules.
        </p>
      ) : null}
      <div className="run-layout">
        <section aria-labelledby="pol-permits">
          <h2 id="pol-permits">Permit and forbid</h2>
          <PolicyTable label="Active policies" policies={a?.permits ?? []} />
        </section>
        <section aria-labelledby="pol-approvals">
          <h2 id="pol-approvals">Approval rules</h2>
          <PolicyTable label="Active approval rules" policies={a?.approvals ?? []} />
        </section>
      </div>
      <h2>Replay a proposed set</h2>
      {mayReplay ? (
        <form onSubmit={submit} aria-label="Replay a proposed policy set" className="replay">
          <label htmlFor="proposed-permits">Proposed policies (Cedar)</label>
          <textarea
            id="proposed-permits"
            rows={14}
            value={permits}
            onChange={(e) => setPermits(e.target.value)}
          />
          <label htmlFor="upload-permits">or upload .cedar files</label>
          <input id="upload-permits" type="file" accept=".cedar" multiple onChange={upload(setPermits)} />
          <label htmlFor="proposed-approvals">Proposed approval rules (Cedar)</label>
          <textarea
            id="proposed-approvals"
            rows={6}
            value={approvals}
            onChange={(e) => setApprovals(e.target.value)}
          />
          <label htmlFor="replay-days">Over the last (days)</label>
          <input
            id="replay-days"
            type="number"
            min={1}
            max={366}
            value={days}
            onChange={(e) => setDays(Number(e.target.value))}
          />
          <div className="row-actions">
            <button type="submit" disabled={replay.isPending}>
              Replay
            </button>
            <button type="button" onClick={reset}>
              Reset to the active set
            </button>
          </div>
        </form>
      ) : (
        <p className="muted">Only admins and auditors can replay policies.</p>
      )}
      <ErrorNote error={replay.error} />
      {r ? (
        <section aria-labelledby="replay-result">
          <h2 id="replay-result">What would change</h2>
          <p role="status">
            {r.changed.length} of {r.replayed} decisions since <Time at={r.since} /> would change;{' '}
            {r.unchanged} unchanged, {r.skipped.length} skipped (guards and budgets are not policy decisions).
            Proposed set <code>{r.policyHash.slice(0, 16)}</code>.
          </p>
          {Object.keys(r.transitions).length ? (
            <ul className="plain">
              {Object.entries(r.transitions).map(([k, n]) => (
                <li key={k}>
                  {k}: {n}
                </li>
              ))}
            </ul>
          ) : null}
          <table aria-label="Changed decisions">
            <thead>
              <tr>
                <th scope="col">Decided</th>
                <th scope="col">Action</th>
                <th scope="col">Agent</th>
                <th scope="col">Tool</th>
                <th scope="col">Was</th>
                <th scope="col">Would be</th>
                <th scope="col">By</th>
              </tr>
            </thead>
            <tbody>
              {r.changed.slice(0, 500).map((c) => (
                <tr key={c.seq} data-changed={c.actionId}>
                  <td>
                    <Time at={c.at} />
                  </td>
                  <td>
                    <Link to={`/actions/${encodeURIComponent(c.actionId)}`}>{c.actionId}</Link>
                  </td>
                  <td>{c.agent}</td>
                  <td>{c.tool}</td>
                  <td>
                    <Badge value={c.before} />
                  </td>
                  <td>
                    <Badge value={c.after} />
                  </td>
                  <td>{c.policies.join(', ') || 'default deny'}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </section>
      ) : null}
    </>
  );
}
