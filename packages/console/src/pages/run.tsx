import { useMemo, useRef, useState } from 'react';
import type { FormEvent, KeyboardEvent } from 'react';
import { Link, useParams } from 'react-router';
import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import type { RunDetail } from '@autonomy-os/sdk';
import { useSignedIn } from '../session/session.js';
import { Badge, ErrorNote, JsonText, PageHeader, Time } from '../components/text.js';
import { RunGraph } from '../runs/run-graph.js';
import type { GraphStep } from '../runs/run-graph.js';
import { RunTimeline } from '../runs/run-timeline.js';

type Step = RunDetail['steps'][string];

/** The steps of a run waiting for a human to say what became of an action whose outcome is unknown. */
export function unknownOutcomeSteps(run: RunDetail): Set<string> {
  const open = new Set<string>();
  for (const e of run.events) {
    const step = typeof e.stepId === 'string' ? e.stepId : undefined;
    if (!step) continue;
    if (e.type === 'step_escalated' && e.unknownOutcome) open.add(step);
    if (e.type === 'outcome_resolved' || e.type === 'step_completed' || e.type === 'step_failed')
      open.delete(step);
  }
  return open;
}

/** One run: its steps as a graph and a keyboard list, a folded timeline, and cancel/retry/pause/signal/resolve. */
export function RunPage() {
  const { id = '' } = useParams();
  const { client, human, abilities } = useSignedIn();
  const queryClient = useQueryClient();
  const run = useQuery({
    queryKey: ['runs', 'one', id],
    queryFn: () => client.getRun(id),
    refetchInterval: 3000,
  });
  const workflows = useQuery({ queryKey: ['workflows'], queryFn: () => client.listWorkflows() });
  const [selected, setSelected] = useState<string | null>(null);
  const [signal, setSignal] = useState({ name: '', data: '' });
  const [formError, setFormError] = useState<string | null>(null);
  const stepButtons = useRef<(HTMLButtonElement | null)[]>([]);
  const manage = useMutation({
    mutationFn: (f: () => Promise<unknown>) => f(),
    onSettled: () => queryClient.invalidateQueries({ queryKey: ['runs'] }),
  });

  const r = run.data;
  const def = workflows.data?.find((w) => w.name === r?.workflow);
  const steps: GraphStep[] = useMemo(
    () =>
      Object.entries(r?.steps ?? {}).map(([sid, s]) => {
        const d = def?.steps[sid];
        const deps = [...(d?.dependsOn ?? [])];
        // A review step reviews another step: draw that as a dependency too.
        if (d?.kind === 'review' && !deps.includes(d.step)) deps.push(d.step);
        return { id: sid, kind: s.kind, status: s.status, dependsOn: deps };
      }),
    [r?.steps, def],
  );
  if (!r) return <ErrorNote error={run.error} />;
  const unknown = unknownOutcomeSteps(r);
  const mayManage = abilities.isAdmin || r.owner === human.id;
  const finished = ['completed', 'failed', 'cancelled'].includes(r.status);
  const current = selected ? r.steps[selected] : undefined;

  // Arrow keys move between steps, Home/End jump; Enter or Space (the button's own click) selects.
  const onStepKey = (e: KeyboardEvent<HTMLButtonElement>, i: number) => {
    const next =
      e.key === 'ArrowDown' || e.key === 'ArrowRight'
        ? i + 1
        : e.key === 'ArrowUp' || e.key === 'ArrowLeft'
          ? i - 1
          : e.key === 'Home'
            ? 0
            : e.key === 'End'
              ? steps.length - 1
              : null;
    if (next === null) return;
    e.preventDefault();
    stepButtons.current[Math.max(0, Math.min(steps.length - 1, next))]?.focus();
  };
  const sendSignal = (e: FormEvent) => {
    e.preventDefault();
    setFormError(null);
    let data: unknown;
    try {
      data = signal.data.trim() ? JSON.parse(signal.data) : undefined;
    } catch {
      setFormError('Signal data must be JSON.');
      return;
    }
    manage.mutate(() => client.signalRun(r.id, signal.name.trim(), data));
  };

  return (
    <>
      <PageHeader title={`Run ${r.id}`}>
        <Badge value={r.status} />
        {r.paused ? <Badge value="paused" /> : null}
      </PageHeader>
      <p>
        Workflow <code>{r.workflow}</code> v{r.version}, owner {r.owner}, started by {r.createdBy} on{' '}
        <Time at={r.createdAt} />.
      </p>
      {mayManage ? (
        <div className="row-actions" role="group" aria-label="Run actions">
          {!finished && r.status !== 'compensating' ? (
            <button
              type="button"
              className="danger"
              disabled={manage.isPending}
              onClick={() =>
                manage.mutate(() => client.cancelRun(r.id, `cancelled from the console by ${human.id}`))
              }
            >
              Cancel run
            </button>
          ) : null}
          {r.status === 'failed' ? (
            <button
              type="button"
              disabled={manage.isPending}
              onClick={() => manage.mutate(() => client.retryRun(r.id))}
            >
              Retry run
            </button>
          ) : null}
          {r.status === 'running' && !r.paused ? (
            <button
              type="button"
              disabled={manage.isPending}
              onClick={() =>
                manage.mutate(() => client.pauseRun(r.id, `held from the console by ${human.id}`))
              }
            >
              Pause run
            </button>
          ) : null}
          {r.paused ? (
            <button
              type="button"
              disabled={manage.isPending}
              onClick={() => manage.mutate(() => client.resumeRun(r.id))}
            >
              Resume run
            </button>
          ) : null}
        </div>
      ) : null}
      <ErrorNote error={manage.error ?? formError} />
      <div className="run-layout">
        <section aria-labelledby="run-steps">
          <h2 id="run-steps">Steps</h2>
          <RunGraph steps={steps} onSelect={setSelected} />
          <ul className="step-list" aria-label="Steps (arrow keys move, Enter opens)">
            {steps.map((s, i) => (
              <li key={s.id}>
                <button
                  type="button"
                  ref={(el) => {
                    stepButtons.current[i] = el;
                  }}
                  aria-pressed={selected === s.id}
                  data-step={s.id}
                  onKeyDown={(e) => onStepKey(e, i)}
                  onClick={() => setSelected(s.id)}
                >
                  {s.id}
                </button>{' '}
                <span className="muted">{s.kind}</span>{' '}
                <Badge value={unknown.has(s.id) ? 'unknown_outcome' : s.status} />
              </li>
            ))}
          </ul>
        </section>
        {current && selected ? (
          <StepDetail
            id={selected}
            step={current}
            runId={r.id}
            unknown={unknown.has(selected)}
            mayManage={mayManage}
            resolve={(outcome) => manage.mutate(() => client.resolveRunStep(r.id, selected, { outcome }))}
            busy={manage.isPending}
          />
        ) : (
          <p className="muted">Select a step to see its state.</p>
        )}
      </div>
      {mayManage && !finished ? (
        <form className="engage" onSubmit={sendSignal} aria-label="Send a signal">
          <label htmlFor="signal-name">Signal name</label>
          <input
            id="signal-name"
            required
            value={signal.name}
            onChange={(e) => setSignal({ ...signal, name: e.target.value })}
          />
          <label htmlFor="signal-data">Data (JSON, optional)</label>
          <input
            id="signal-data"
            value={signal.data}
            onChange={(e) => setSignal({ ...signal, data: e.target.value })}
          />
          <button type="submit" disabled={manage.isPending}>
            Send signal
          </button>
        </form>
      ) : null}
      <section aria-labelledby="run-timeline">
        <h2 id="run-timeline">Timeline</h2>
        <RunTimeline events={r.events} />
      </section>
      {r.output !== null && r.output !== undefined ? <JsonText value={r.output} label="Run output" /> : null}
    </>
  );
}

function StepDetail(props: {
  id: string;
  step: Step;
  runId: string;
  unknown: boolean;
  mayManage: boolean;
  busy: boolean;
  resolve(outcome: 'succeeded' | 'failed' | 'retry'): void;
}) {
  const s = props.step;
  const actionId = typeof s.actionId === 'string' ? s.actionId : null;
  return (
    <section aria-labelledby="step-detail" className="card" data-testid="step-detail">
      <h2 id="step-detail">Step {props.id}</h2>
      <p>
        {s.kind}, <Badge value={s.status} />, attempt {s.attempt}.
      </p>
      {actionId ? (
        <p>
          Action: <Link to={`/actions/${encodeURIComponent(actionId)}`}>{actionId}</Link> (receipt)
        </p>
      ) : null}
      {s.error ? <p className="error">{s.error.message}</p> : null}
      {s.votes.length ? <p>Votes: {s.votes.map((v) => `${v.human} ${v.vote}`).join(', ')}</p> : null}
      {s.output !== undefined ? <JsonText value={s.output} label={`Output of ${props.id}`} /> : null}
      {props.unknown && props.mayManage ? (
        <div role="group" aria-label="Resolve the unknown outcome">
          <p>The step&apos;s action has an unknown outcome: say what happened upstream.</p>
          <button type="button" disabled={props.busy} onClick={() => props.resolve('succeeded')}>
            It succeeded
          </button>{' '}
          <button type="button" disabled={props.busy} onClick={() => props.resolve('failed')}>
            It failed
          </button>{' '}
          <button
            type="button"
            className="danger"
            disabled={props.busy}
            onClick={() => props.resolve('retry')}
          >
            Retry it (it did not happen)
          </button>
        </div>
      ) : null}
    </section>
  );
}
