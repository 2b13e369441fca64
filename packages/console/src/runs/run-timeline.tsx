import { useState } from 'react';
import { Time } from '../components/text.js';

/** One history event of a run, as `GET /v1/runs/:id` returns it. */
export interface TimelineEvent {
  type: string;
  seq: number;
  at: string;
  [key: string]: unknown;
}

/** Events that say little on their own; runs of them fold into one line, as Temporal's timeline does. */
const LOW_VALUE = new Set([
  'step_started',
  'item_started',
  'item_completed',
  'context_observed',
  'step_waiting',
  'approval_vote',
  'task_claimed',
  'task_heartbeat',
]);

/** A timeline entry: one event, or a fold of consecutive low-value events. */
export type TimelineEntry =
  { kind: 'event'; event: TimelineEvent } | { kind: 'fold'; events: TimelineEvent[] };

/** Folds consecutive low-value events (two or more) into one entry; everything else stays one event a line. */
export function foldTimeline(events: readonly TimelineEvent[]): TimelineEntry[] {
  const out: TimelineEntry[] = [];
  let run: TimelineEvent[] = [];
  const flush = () => {
    if (run.length === 1) out.push({ kind: 'event', event: run[0] as TimelineEvent });
    else if (run.length > 1) out.push({ kind: 'fold', events: run });
    run = [];
  };
  for (const e of events) {
    if (LOW_VALUE.has(e.type)) run.push(e);
    else {
      flush();
      out.push({ kind: 'event', event: e });
    }
  }
  flush();
  return out;
}

/** What an event is about, in a few words (its step, actor, reason or error). */
function detail(e: TimelineEvent): string {
  const parts: string[] = [];
  for (const k of ['stepId', 'actor', 'by', 'sentBy', 'name', 'to', 'reason', 'outcome', 'status']) {
    const v = e[k];
    if (typeof v === 'string' && v) parts.push(`${k === 'stepId' ? 'step' : k} ${v}`);
  }
  const err = e.error as { message?: unknown } | undefined;
  if (err && typeof err.message === 'string') parts.push(`error: ${err.message}`);
  return parts.join(' · ');
}

function Line(props: { e: TimelineEvent }) {
  return (
    <>
      <span className="tl-seq">#{props.e.seq}</span> <Time at={props.e.at} /> <code>{props.e.type}</code>{' '}
      <span className="tl-detail">{detail(props.e)}</span>
    </>
  );
}

/** A run's history as a timeline; folded stretches open with a button (keyboard: Tab, then Enter). */
export function RunTimeline(props: { events: readonly TimelineEvent[] }) {
  const [open, setOpen] = useState<Set<number>>(new Set());
  const entries = foldTimeline(props.events);
  return (
    <ol className="timeline" aria-label="Run timeline">
      {entries.map((x) =>
        x.kind === 'event' ? (
          <li key={x.event.seq} data-type={x.event.type}>
            <Line e={x.event} />
          </li>
        ) : (
          <li key={`fold-${(x.events[0] as TimelineEvent).seq}`} className="tl-fold">
            <button
              type="button"
              className="small"
              aria-expanded={open.has((x.events[0] as TimelineEvent).seq)}
              onClick={() =>
                setOpen((prev) => {
                  const next = new Set(prev);
                  const k = (x.events[0] as TimelineEvent).seq;
                  if (!next.delete(k)) next.add(k);
                  return next;
                })
              }
            >
              {x.events.length} routine events ({[...new Set(x.events.map((e) => e.type))].join(', ')})
            </button>
            {open.has((x.events[0] as TimelineEvent).seq) ? (
              <ol>
                {x.events.map((e) => (
                  <li key={e.seq} data-type={e.type}>
                    <Line e={e} />
                  </li>
                ))}
              </ol>
            ) : null}
          </li>
        ),
      )}
    </ol>
  );
}
