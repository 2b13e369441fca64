import type { ReactNode } from 'react';

/** Sorts object keys recursively, so the same arguments always read the same (canonical JSON, pretty-printed). */
export function canonicalJson(value: unknown): string {
  const sort = (v: unknown): unknown => {
    if (Array.isArray(v)) return v.map(sort);
    if (v && typeof v === 'object') {
      return Object.fromEntries(
        Object.keys(v as Record<string, unknown>)
          .sort()
          .map((k) => [k, sort((v as Record<string, unknown>)[k])]),
      );
    }
    return v;
  };
  return JSON.stringify(sort(value), null, 2) ?? 'null';
}

/**
 * Tool arguments as text. Anything an agent or an upstream wrote is rendered as a text node, never as markup or a
 * link, so `<script>` or `javascript:` in it is only characters on the screen.
 */
export function JsonText(props: { value: unknown; label: string }) {
  return (
    <pre className="json" aria-label={props.label} tabIndex={0}>
      {canonicalJson(props.value)}
    </pre>
  );
}

/** Agent-written prose (a reason, a note), as text. */
export function AgentText(props: { text: string | null | undefined; empty?: string }) {
  if (!props.text) return <span className="muted">{props.empty ?? 'none given'}</span>;
  return <span className="agent-text">{props.text}</span>;
}

/** A timestamp in the reader's locale, with the exact ISO time on hover. */
export function Time(props: { at: string | null | undefined }) {
  if (!props.at) return <span className="muted">—</span>;
  const d = new Date(props.at);
  return (
    <time dateTime={props.at} title={props.at}>
      {d.toLocaleString()}
    </time>
  );
}

const TONE: Record<string, string> = {
  active: 'ok',
  succeeded: 'ok',
  allowed: 'ok',
  approved: 'ok',
  pass: 'ok',
  paused: 'warn',
  pending: 'warn',
  pending_approval: 'warn',
  approval: 'warn',
  executing: 'info',
  unknown_outcome: 'warn',
  revoked: 'bad',
  denied: 'bad',
  failed: 'bad',
  rejected: 'bad',
  expired: 'bad',
  blocked: 'bad',
  fail: 'bad',
  engaged: 'bad',
  released: 'ok',
  allow: 'ok',
  deny: 'bad',
  completed: 'ok',
  running: 'info',
  waiting: 'warn',
  compensating: 'warn',
  cancelled: 'bad',
  skipped: 'plain',
};

/** A status word in a coloured pill (the word itself carries the meaning; colour only helps). */
export function Badge(props: { value: string }) {
  return (
    <span className={`badge badge-${TONE[props.value] ?? 'plain'}`}>{props.value.replace(/_/g, ' ')}</span>
  );
}

/** A page's heading and its optional tools. */
export function PageHeader(props: { title: string; children?: ReactNode }) {
  return (
    <header className="page-header">
      <h1>{props.title}</h1>
      {props.children ? <div className="page-tools">{props.children}</div> : null}
    </header>
  );
}

/** An API error, as the server worded it. */
export function ErrorNote(props: { error: unknown }) {
  if (!props.error) return null;
  const message = props.error instanceof Error ? props.error.message : String(props.error);
  return (
    <p className="error" role="alert">
      {message}
    </p>
  );
}
