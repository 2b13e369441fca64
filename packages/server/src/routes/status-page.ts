import crypto from 'node:crypto';
import fastifyCookie from '@fastify/cookie';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { AuthenticationError } from '@autonomy-os/core';
import type { ActionView, Agent, Approval, Authenticator, Engine, Human } from '@autonomy-os/core';

/** The cookie the status page keeps a signed-in person's bearer token in (HttpOnly, SameSite=Strict). */
export const STATUS_COOKIE = 'aos_token';

const STYLE = `body{font:14px/1.45 system-ui,sans-serif;margin:2rem;color:#1b1b1b;max-width:80rem}
h1{font-size:1.4rem}h2{font-size:1.1rem;margin-top:2rem}table{border-collapse:collapse;width:100%}
th,td{text-align:left;padding:.3rem .6rem;border-bottom:1px solid #ddd;vertical-align:top}
th{background:#f4f4f4}code{font-size:12px;word-break:break-all}.denied{color:#a00}.pending_approval{color:#a60}
.allowed{color:#060}form{display:inline}input[type=password]{width:28rem}.muted{color:#666}`;

/** Only this stylesheet, nothing else: no script, no other origin, no framing. */
const CSP = [
  "default-src 'none'",
  `style-src 'sha256-${crypto.createHash('sha256').update(STYLE).digest('base64')}'`,
  "form-action 'self'",
  "frame-ancestors 'none'",
  "base-uri 'none'",
].join('; ');

/** Escapes text for HTML element content and quoted attribute values. */
export function escapeHtml(value: unknown): string {
  return String(value ?? '').replace(
    /[&<>"'`]/g,
    (c) =>
      ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;', '`': '&#96;' })[c] as string,
  );
}

function page(title: string, body: string): string {
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>${escapeHtml(title)}</title>
<meta name="viewport" content="width=device-width,initial-scale=1"><style>${STYLE}</style></head>
<body>${body}</body></html>`;
}

function table(columns: string[], rows: unknown[][], empty: string): string {
  if (!rows.length) return `<p class="muted">${escapeHtml(empty)}</p>`;
  const head = columns.map((c) => `<th>${escapeHtml(c)}</th>`).join('');
  const body = rows
    .map((r) => `<tr>${r.map((cell) => `<td>${cell === undefined ? '' : String(cell)}</td>`).join('')}</tr>`)
    .join('');
  return `<table><thead><tr>${head}</tr></thead><tbody>${body}</tbody></table>`;
}

const code = (v: unknown) => `<code>${escapeHtml(typeof v === 'string' ? v : JSON.stringify(v))}</code>`;
const text = (v: unknown) => escapeHtml(v);

function signInPage(version: string, message?: string): string {
  return page(
    'Autonomy OS',
    `<h1>Autonomy OS ${text(version)}</h1>
<p>Sign in with a human bearer token (<code>aos demo</code> prints one; <code>aos tokens issue --human ID</code> makes one).</p>
${message ? `<p class="denied">${text(message)}</p>` : ''}
<form method="post" action="/signin"><label>Token <input type="password" name="token" autocomplete="off" required></label>
<button type="submit">Sign in</button></form>`,
  );
}

function statusPage(p: {
  version: string;
  human: Human;
  agents: Agent[];
  pending: Approval[];
  actions: ActionView[];
}): string {
  const agents = table(
    ['agent', 'role', 'tier', 'owner', 'environments', 'status'],
    p.agents.map((a) => [
      code(a.id),
      text(a.role),
      text(a.tier),
      text(a.owner),
      text(a.environments.join(', ')),
      text(a.status),
    ]),
    'No agents yet.',
  );
  const pending = table(
    ['approval', 'group', 'agent', 'tool', 'input', 'reason', 'expires'],
    p.pending.map((a) => [
      code(a.id),
      text(a.group),
      code(a.evidence.agent.id),
      code(a.evidence.tool),
      code(a.evidence.input),
      text(a.evidence.reason ?? ''),
      text(a.expiresAt),
    ]),
    'Nothing waits for an approver.',
  );
  const actions = table(
    ['action', 'when', 'agent', 'tool', 'outcome', 'status', 'policies'],
    p.actions.map((a) => [
      code(a.id),
      text(a.createdAt),
      code(a.agentId),
      code(a.tool),
      `<span class="${escapeHtml(a.outcome)}">${text(a.outcome)}</span>`,
      text(a.status),
      text(a.decision.policies.join(', ')),
    ]),
    'No actions yet.',
  );
  return page(
    'Autonomy OS status',
    `<h1>Autonomy OS ${text(p.version)}: status</h1>
<p>Signed in as ${code(p.human.id)} (${text(p.human.groups.join(', ') || 'no groups')}).
<form method="post" action="/signout"><button type="submit">Sign out</button></form>
<span class="muted">This page is a plain stand-in until the web console lands; reload to refresh. Approve with
<code>aos approvals approve ID</code> or <code>POST /v1/approvals/ID/approve</code>.</span></p>
<h2>Pending approvals (${p.pending.length})</h2>${pending}
<h2>Agents (${p.agents.length})</h2>${agents}
<h2>Latest actions</h2>${actions}`,
  );
}

function send(reply: FastifyReply, status: number, html: string): FastifyReply {
  return reply
    .code(status)
    .header('content-type', 'text/html; charset=utf-8')
    .header('content-security-policy', CSP)
    .header('x-content-type-options', 'nosniff')
    .header('referrer-policy', 'no-referrer')
    .header('cache-control', 'no-store')
    .send(html);
}

/**
 * `GET /`: a plain server-rendered status page (agents, pending approvals, the latest actions) for a signed-in
 * human, read through the same services as the REST API; a sign-in form otherwise. `POST /signin` takes a human
 * token from the form and keeps it in an HttpOnly, SameSite=Strict cookie; `POST /signout` drops it. Everything
 * shown is escaped, and the Content-Security-Policy allows one stylesheet and nothing else.
 */
export function registerStatusPage(
  app: FastifyInstance,
  engine: Engine,
  authenticator: Authenticator,
  version: string,
): void {
  void app.register(async (scope) => {
    await scope.register(fastifyCookie);
    // The sign-in form posts urlencoded; only in this scope (the API stays JSON-only).
    scope.addContentTypeParser(
      'application/x-www-form-urlencoded',
      { parseAs: 'string', bodyLimit: 8192 },
      (_req, body, done) => done(null, Object.fromEntries(new URLSearchParams(body as string))),
    );

    const humanOf = async (token: string | undefined): Promise<Human | undefined> => {
      if (!token) return undefined;
      try {
        const p = await authenticator.authenticate(token);
        return p.kind === 'human' ? p.human : undefined;
      } catch (err) {
        if (err instanceof AuthenticationError) return undefined;
        throw err;
      }
    };

    scope.get('/', async (req: FastifyRequest, reply) => {
      const human = await humanOf(req.cookies[STATUS_COOKIE]);
      if (!human) return send(reply, 200, signInPage(version));
      const [agents, pending, actions] = await Promise.all([
        engine.store.agents.list(),
        engine.approvals.list({ status: 'pending' }),
        engine.actions.list({ limit: 25 }),
      ]);
      return send(reply, 200, statusPage({ version, human, agents, pending, actions }));
    });

    scope.post('/signin', async (req, reply) => {
      const token = (req.body as { token?: unknown } | undefined)?.token;
      const human = await humanOf(typeof token === 'string' ? token.trim() : undefined);
      if (!human) return send(reply, 401, signInPage(version, 'That is not a valid human token.'));
      void reply.setCookie(STATUS_COOKIE, (token as string).trim(), {
        path: '/',
        httpOnly: true,
        sameSite: 'strict',
        secure: req.protocol === 'https',
      });
      return reply.code(303).header('location', '/').send();
    });

    scope.post('/signout', async (_req, reply) => {
      void reply.clearCookie(STATUS_COOKIE, { path: '/' });
      return reply.code(303).header('location', '/').send();
    });
  });
}
