import { useMemo, useState } from 'react';
import { Link } from 'react-router';
import { useLiveEvents } from '../live/live-events.js';
import type { LiveEvent } from '../live/live-events.js';
import { PageHeader, Time } from '../components/text.js';
import { VirtualRows } from '../components/virtual-rows.js';

const str = (v: unknown) => (typeof v === 'string' ? v : '');

/** The live event stream, filterable by agent, tool and outcome; the view can be paused while reading. */
export function ActivityPage() {
  const { events, connected } = useLiveEvents();
  const [paused, setPaused] = useState<LiveEvent[] | null>(null);
  const [agent, setAgent] = useState('');
  const [tool, setTool] = useState('');
  const [type, setType] = useState('');
  const source = paused ?? events;
  const shown = useMemo(
    () =>
      source.filter(
        (e) =>
          (!agent || str(e.data.agentId).includes(agent)) &&
          (!tool || str(e.data.tool).includes(tool)) &&
          (!type || e.type.includes(type)),
      ),
    [source, agent, tool, type],
  );

  return (
    <>
      <PageHeader title="Live activity">
        <span className={connected ? 'live live-on' : 'live'}>{connected ? 'Live' : 'Reconnecting…'}</span>
        <button
          type="button"
          onClick={() => setPaused(paused ? null : events)}
          aria-pressed={paused !== null}
        >
          {paused ? `Resume (${events.length - paused.length} new)` : 'Pause view'}
        </button>
      </PageHeader>
      <div className="filters">
        <label htmlFor="f-agent">Agent</label>
        <input id="f-agent" value={agent} onChange={(e) => setAgent(e.target.value)} />
        <label htmlFor="f-tool">Tool</label>
        <input id="f-tool" value={tool} onChange={(e) => setTool(e.target.value)} />
        <label htmlFor="f-type">Event or outcome</label>
        <input
          id="f-type"
          placeholder="denied, approval…"
          value={type}
          onChange={(e) => setType(e.target.value)}
        />
      </div>
      <p className="muted">
        {shown.length} events since you signed in{paused ? ' (view paused)' : ''}.
      </p>
      <VirtualRows
        label="Events"
        items={shown}
        columns={['When', 'Event', 'Agent', 'Tool', 'Subject']}
        rowKey={(e) => String(e.seq)}
        empty="No event yet. Actions, approvals and runs appear here as they happen."
        renderRow={(e) => [
          <Time key="t" at={e.at} />,
          <code key="ty">{e.type}</code>,
          str(e.data.agentId),
          str(e.data.tool),
          str(e.data.actionId) ? (
            <Link key="s" to={`/actions/${encodeURIComponent(str(e.data.actionId))}`}>
              {str(e.data.actionId)}
            </Link>
          ) : (
            str(e.subject)
          ),
        ]}
      />
    </>
  );
}
