import { useState } from 'react';
import type { FormEvent } from 'react';
import { Link } from 'react-router';
import { useInfiniteQuery, useMutation, useQuery } from '@tanstack/react-query';
import type { AuditQuery, AuditRecordView } from '@autonomy-os/sdk';
import { useSignedIn } from '../session/session.js';
import { ErrorNote, PageHeader, Time } from '../components/text.js';
import { VirtualRows } from '../components/virtual-rows.js';

const FIELDS = [
  ['agent', 'Agent', 'refund-bot'],
  ['tool', 'Tool', 'payments.refund'],
  ['type', 'Type', 'action. or action.decided'],
  ['since', 'Since', '2026-12-01T09:00:00Z'],
  ['until', 'Until', '2026-12-02'],
] as const;

/** Saves a JSON value as a file download (a Blob URL: nothing inline, nothing the CSP forbids). */
function download(name: string, value: unknown): void {
  const url = URL.createObjectURL(new Blob([JSON.stringify(value, null, 2)], { type: 'application/json' }));
  const a = document.createElement('a');
  a.href = url;
  a.download = name;
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
}

/** The subject of a record as a link where the console has a page for it. */
function Subject(props: { r: AuditRecordView }) {
  const s = props.r.subject;
  if (!s) return <span className="muted">—</span>;
  const [kind, ...rest] = s.split(':');
  const id = rest.join(':');
  if (kind === 'action') return <Link to={`/actions/${encodeURIComponent(id)}`}>{s}</Link>;
  if (kind === 'run') return <Link to={`/runs/${encodeURIComponent(id)}`}>{s}</Link>;
  if (kind === 'agent') return <Link to={`/agents/${encodeURIComponent(id)}`}>{s}</Link>;
  return <span>{s}</span>;
}

/** Search the whole audit log (paged on the server), verify the chain, see the latest checkpoint, export a bundle. */
export function AuditPage() {
  const { client, abilities } = useSignedIn();
  const allowed = abilities.isAuditor || abilities.isAdmin;
  const [draft, setDraft] = useState<Record<string, string>>({});
  const [q, setQ] = useState<AuditQuery>({});
  const search = useInfiniteQuery({
    queryKey: ['audit', q],
    enabled: allowed,
    initialPageParam: undefined as string | undefined,
    queryFn: ({ pageParam }) =>
      client.searchAudit({ ...q, limit: 200, ...(pageParam ? { cursor: pageParam } : {}) }),
    getNextPageParam: (last) => last.nextCursor ?? undefined,
    refetchInterval: false,
  });
  const checkpoint = useQuery({
    queryKey: ['audit', 'checkpoint'],
    queryFn: () => client.auditCheckpoint(),
    enabled: allowed,
  });
  const verify = useMutation({ mutationFn: () => client.verifyAudit() });
  const exporting = useMutation({
    mutationFn: () => client.exportAudit(),
    onSuccess: (b) => {
      download(`aos-audit-${b.checkpoint.treeSize}.json`, b);
      void checkpoint.refetch();
    },
  });
  if (!allowed)
    return (
      <>
        <PageHeader title="Audit" />
        <p className="muted">Only auditors and admins can read and verify the audit log.</p>
      </>
    );
  const records = search.data?.pages.flatMap((p) => p.records) ?? [];
  const submit = (e: FormEvent) => {
    e.preventDefault();
    const next: AuditQuery = {};
    for (const [k] of FIELDS) {
      const v = draft[k]?.trim();
      if (v) next[k] = v;
    }
    setQ(next);
  };
  const r = verify.data;
  const cp = checkpoint.data;
  return (
    <>
      <PageHeader title="Audit">
        <button type="button" onClick={() => verify.mutate()} disabled={verify.isPending}>
          Verify the chain
        </button>
        <button type="button" onClick={() => exporting.mutate()} disabled={exporting.isPending}>
          Export a bundle
        </button>
      </PageHeader>
      <ErrorNote error={verify.error ?? exporting.error ?? search.error ?? checkpoint.error} />
      {r ? (
        <div role="status" className={r.ok ? 'verify ok' : 'verify bad'}>
          <p>
            {r.ok
              ? `Intact: ${r.verified} of ${r.records} records verified.`
              : `Broken at record ${r.firstBad?.seq}: ${r.firstBad?.reason}.`}
          </p>
          <p>
            {r.checkpoints.length} signed checkpoint(s) checked
            {r.checkpoints.length
              ? `, the latest covers ${Math.max(...r.checkpoints.map((c) => c.treeSize))} records`
              : ''}
            ; {r.unsealed} record(s) not yet covered by a signature.
          </p>
        </div>
      ) : null}
      {exporting.data ? (
        <p role="status">
          Exported {exporting.data.records.length} records, signed at record{' '}
          {exporting.data.checkpoint.treeSize}. Check it offline with{' '}
          <code>aos audit verify --bundle FILE</code>.
        </p>
      ) : null}
      <section aria-labelledby="audit-checkpoint" className="card" data-testid="checkpoint">
        <h2 id="audit-checkpoint">Latest signed checkpoint</h2>
        {cp?.checkpoint ? (
          <dl className="facts">
            <dt>Covers</dt>
            <dd>
              records 1-{cp.checkpoint.treeSize} of {cp.head.seq}
            </dd>
            <dt>Signed</dt>
            <dd>
              <Time at={cp.checkpoint.timestamp} />
            </dd>
            <dt>Merkle root</dt>
            <dd>
              <code>{cp.checkpoint.rootHash}</code>
            </dd>
            <dt>Key</dt>
            <dd>
              <code>{cp.checkpoint.keyId.slice(0, 16)}</code>
            </dd>
          </dl>
        ) : (
          <p className="muted">
            No checkpoint signed yet ({cp?.head.seq ?? 0} records). Exporting signs one.
          </p>
        )}
      </section>
      <form className="filters" onSubmit={submit} aria-label="Search the audit log">
        {FIELDS.map(([k, label, hint]) => (
          <span key={k}>
            <label htmlFor={`audit-${k}`}>{label}</label>
            <input
              id={`audit-${k}`}
              placeholder={hint}
              value={draft[k] ?? ''}
              onChange={(e) => setDraft({ ...draft, [k]: e.target.value })}
            />
          </span>
        ))}
        <button type="submit">Search</button>
      </form>
      <p className="muted" data-testid="audit-count">
        {records.length} record(s){search.hasNextPage ? ' so far' : ''}
      </p>
      <VirtualRows
        label="Audit records"
        items={records}
        columns={['Seq', 'Time', 'Actor', 'Type', 'Subject']}
        rowKey={(x) => String(x.seq)}
        empty={search.isFetching ? 'Searching…' : 'No record matches.'}
        renderRow={(x) => [
          `#${x.seq}`,
          <Time key="t" at={x.ts} />,
          x.actor,
          <code key="y">{x.type}</code>,
          <Subject key="s" r={x} />,
        ]}
      />
      {search.hasNextPage ? (
        <button
          type="button"
          disabled={search.isFetchingNextPage}
          onClick={() => void search.fetchNextPage()}
        >
          Load older records
        </button>
      ) : null}
    </>
  );
}
