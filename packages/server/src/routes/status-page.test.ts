import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createEngine, parseConfig } from '@autonomy-os/core';
import type { Engine } from '@autonomy-os/core';
import { backends } from '../../../../test/helpers/backends.js';
import type { TestStore } from '../../../../test/helpers/backends.js';
import { buildServer } from '../server.js';
import type { AosServer } from '../server.js';
import { escapeHtml } from './status-page.js';

const sqlite = backends.find((b) => b.name === 'sqlite')!;

describe('status page (GET /)', () => {
  let t: TestStore;
  let engine: Engine;
  let server: AosServer;
  let base: string;
  let humanToken: string;
  let agentToken: string;

  beforeEach(async () => {
    t = await sqlite.create();
    await t.store.humans.add({ id: 'olivia', groups: ['approvers'] }, 'operator:test');
    await t.store.agents.create({ id: 'bot-1', role: 'support', tier: 1, owner: 'olivia' }, 'operator:test');
    humanToken = (await t.store.tokens.issue({ subjectType: 'human', subjectId: 'olivia' }, 'operator:test'))
      .token;
    agentToken = (await t.store.tokens.issue({ subjectType: 'agent', subjectId: 'bot-1' }, 'operator:test'))
      .token;
    const policies = path.join(t.dataDir, 'policies');
    fs.mkdirSync(policies);
    fs.writeFileSync(
      path.join(policies, 'crm.cedar'),
      '@id("support-notes")\npermit (principal in Role::"support", action, resource in Connector::"crm");\n',
    );
    const config = parseConfig({
      policies,
      server: { port: 0 },
      connectors: [
        {
          id: 'crm',
          type: 'http',
          operations: [
            {
              name: 'note',
              method: 'POST',
              url: 'http://127.0.0.1:9/notes',
              body: 'input',
              inputSchema: { type: 'object', properties: { text: { type: 'string' } } },
            },
          ],
        },
      ],
    });
    engine = await createEngine({ store: t.store, config });
    await engine.start({ background: false });
    server = buildServer({ engine, version: 'test' });
    base = await server.listen();
  });
  afterEach(async () => {
    await server?.close();
    await engine?.close();
    await t?.cleanup();
  });

  const signIn = (token: string) =>
    fetch(`${base}/signin`, {
      method: 'POST',
      redirect: 'manual',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ token }).toString(),
    });

  it('shows a sign-in form, and nothing of the organisation, without a signed-in human', async () => {
    const res = await fetch(`${base}/`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^text\/html/);
    const html = await res.text();
    expect(html).toContain('<form method="post" action="/signin">');
    expect(html).not.toContain('bot-1');
  });

  it('refuses an agent token at sign-in', async () => {
    const res = await signIn(agentToken);
    expect(res.status).toBe(401);
    expect(res.headers.get('set-cookie')).toBeNull();
  });

  it('lists agents, pending approvals and the latest actions for a signed-in human, escaping what agents wrote', async () => {
    const agent = await t.store.agents.require('bot-1');
    const view = await engine.actions.submit(agent, {
      tool: 'crm.note',
      input: { text: '<img src=x onerror=alert(1)>' },
      reason: '</code><script>alert("owned")</script>',
    });
    expect(view.status).toBe('pending_approval');

    const signedIn = await signIn(humanToken);
    expect(signedIn.status).toBe(303);
    const cookie = signedIn.headers.get('set-cookie') as string;
    expect(cookie).toMatch(/^aos_token=/);
    expect(cookie).toMatch(/HttpOnly/);
    expect(cookie).toMatch(/SameSite=Strict/);

    const res = await fetch(`${base}/`, { headers: { cookie: cookie.split(';')[0] as string } });
    expect(res.status).toBe(200);
    const html = await res.text();
    expect(html).toContain('bot-1');
    expect(html).toContain(view.id);
    expect(html).toContain(view.approvalId as string);
    expect(html).not.toContain('<script>');
    expect(html).not.toContain('<img src=x');
    expect(html).toContain(escapeHtml('</code><script>alert("owned")</script>'));
  });

  it('sends a strict Content-Security-Policy that allows only its own stylesheet', async () => {
    const res = await fetch(`${base}/`);
    const csp = res.headers.get('content-security-policy') as string;
    expect(csp).toContain("default-src 'none'");
    expect(csp).toContain("frame-ancestors 'none'");
    expect(csp).not.toContain('unsafe-inline');
    const style = /<style>([\s\S]*?)<\/style>/.exec(await res.text())?.[1] as string;
    const hash = crypto.createHash('sha256').update(style).digest('base64');
    expect(csp).toContain(`style-src 'sha256-${hash}'`);
    expect(res.headers.get('x-content-type-options')).toBe('nosniff');
  });

  it('keeps the API JSON-only: a form body is refused outside the page', async () => {
    const res = await fetch(`${base}/v1/actions`, {
      method: 'POST',
      headers: {
        authorization: `Bearer ${agentToken}`,
        'content-type': 'application/x-www-form-urlencoded',
      },
      body: 'tool=crm.note',
    });
    expect(res.status).toBe(415);
  });
});

describe('escapeHtml', () => {
  it.each([
    ['<b>', '&lt;b&gt;'],
    ['"a" & \'b\'', '&quot;a&quot; &amp; &#39;b&#39;'],
    ['`x`', '&#96;x&#96;'],
  ])('escapes %s', (input, output) => {
    expect(escapeHtml(input)).toBe(output);
  });
});
