import { useState } from 'react';
import { Link } from 'react-router';
import { useQuery } from '@tanstack/react-query';
import type { RunStatus } from '@autonomy-os/sdk';
import { useSignedIn } from '../session/session.js';
import { Badge, ErrorNote, PageHeader, Time } from '../components/text.js';
import { VirtualRows } from '../components/virtual-rows.js';

const STATUSES: RunStatus[] = ['running', 'compensating', 'completed', 'failed', 'cancelled'];

/** Recent workflow runs, newest first, filterable by status and workflow; each opens its run view. */
export function RunsPage() {
  const { client } = useSignedIn();
  const [status, setStatus] = useState<'' | RunStatus>('');
  const [workflow, setWorkflow] = useState('');
  const workflows = useQuery({ queryKey: ['workflows'], queryFn: () => client.listWorkflows() });
  const runs = useQuery({
    queryKey: ['runs', status, workflow],
    queryFn: () =>
      client.listRuns({ limit: 500, ...(status ? { status } : {}), ...(workflow ? { workflow } : {}) }),
  });
  return (
    <>
      <PageHeader title="Runs">
        <label htmlFor="run-status">Status</label>
        <select id="run-status" value={status} onChange={(e) => setStatus(e.target.value as '' | RunStatus)}>
          <option value="">any</option>
          {STATUSES.map((s) => (
            <option key={s} value={s}>
              {s}
            </option>
          ))}
        </select>
        <label htmlFor="run-workflow">Workflow</label>
        <select id="run-workflow" value={workflow} onChange={(e) => setWorkflow(e.target.value)}>
          <option value="">any</option>
          {(workflows.data ?? []).map((w) => (
            <option key={w.name} value={w.name}>
              {w.name}
            </option>
          ))}
        </select>
      </PageHeader>
      <ErrorNote error={runs.error ?? workflows.error} />
      <VirtualRows
        label="Runs"
        items={runs.data ?? []}
        columns={['Run', 'Workflow', 'Status', 'Owner', 'Started by', 'Started', 'Updated']}
        rowKey={(r) => r.id}
        empty="No run matches."
        renderRow={(r) => [
          <Link key="id" to={`/runs/${encodeURIComponent(r.id)}`}>
            {r.id}
          </Link>,
          r.workflow,
          <Badge key="s" value={r.status} />,
          r.owner,
          r.createdBy,
          <Time key="c" at={r.createdAt} />,
          <Time key="u" at={r.updatedAt} />,
        ]}
      />
    </>
  );
}
