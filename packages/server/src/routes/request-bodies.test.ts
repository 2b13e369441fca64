/**
 * A bad body is a 400 that names the field, on every route that validates its body with a zod schema published in
 * the OpenAPI document (openapi.test.ts checks that each such route has one). One real server on SQLite; each case
 * is sent by a principal who may use the route, so the answer is the body's, not the authorization's.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createEngine, parseConfig } from '@autonomy-os/core';
import type { Engine } from '@autonomy-os/core';
import { backends } from '../../../../test/helpers/backends.js';
import type { TestStore } from '../../../../test/helpers/backends.js';
import { buildServer } from '../server.js';
import type { AosServer } from '../server.js';

type Who = 'admin' | 'agent';

/** Route, who sends it, the bad body, the field the 400 must name and what it must say of it. */
const CASES: [method: string, url: string, who: Who, body: unknown, field: string, says: RegExp][] = [
  ['POST', '/v1/sessions', 'agent', { reuse: true }, 'reuse', /is not a known field/],
  ['POST', '/v1/actions/act-1/undo', 'admin', { reason: 5 }, 'reason', /must be a string/],
  ['POST', '/v1/approvals/apr-1/approve', 'admin', { comment: 1 }, 'comment', /must be a string/],
  ['POST', '/v1/approvals/apr-1/approve', 'admin', { bindingHash: 1 }, 'bindingHash', /must be a string/],
  ['POST', '/v1/approvals/apr-1/deny', 'admin', { input: [1] }, 'input', /must be a JSON object/],
  ['POST', '/v1/approvals/apr-1/deny', 'admin', { vote: 'deny' }, 'vote', /is not a known field/],
  ['POST', '/v1/workflows/w/runs', 'admin', { inputs: {} }, 'inputs', /is not a known field/],
  ['POST', '/v1/runs/run-1/cancel', 'admin', { reason: 1 }, 'reason', /must be a string/],
  ['POST', '/v1/runs/run-1/signals', 'admin', { data: 1 }, 'name', /is required \(a signal name\)/],
  ['POST', '/v1/runs/run-1/signals', 'admin', { name: '9lives' }, 'name', /must be a signal name/],
  ['POST', '/v1/runs/run-1/retry', 'admin', { force: true }, 'force', /is not a known field/],
  ['POST', '/v1/runs/run-1/pause', 'admin', { reason: 'x'.repeat(501) }, 'reason', /at most 500/],
  ['POST', '/v1/runs/run-1/resume', 'admin', { now: true }, 'now', /is not a known field/],
  ['POST', '/v1/runs/run-1/steps/s/approve', 'admin', { comment: 2 }, 'comment', /must be a string/],
  ['POST', '/v1/runs/run-1/steps/s/deny', 'admin', { note: 'x' }, 'note', /is not a known field/],
  ['PUT', '/v1/runs/run-1/context/k', 'admin', {}, 'value', /is required/],
  ['PUT', '/v1/runs/run-1/context/k', 'admin', { value: 1, expectVersion: -1 }, 'expectVersion', /./],
  ['POST', '/v1/runs/run-1/messages', 'agent', { to: 'a' }, 'body', /is required/],
  ['POST', '/v1/runs/run-1/messages', 'agent', { to: 1, body: 'hi' }, 'to', /must be a string/],
  ['POST', '/v1/agents/bot-1/pause', 'admin', { reason: 3 }, 'reason', /must be a string/],
  ['POST', '/v1/agents/bot-1/resume', 'admin', { why: 'x' }, 'why', /is not a known field/],
  ['POST', '/v1/agents/bot-1/kill', 'admin', { reason: [] }, 'reason', /must be a string/],
  ['POST', '/v1/agents/bot-1/revoke', 'admin', { why: 'x' }, 'why', /is not a known field/],
  ['POST', '/v1/agents/bot-1/tier', 'admin', {}, 'tier', /is required \(0-3\)/],
  ['POST', '/v1/agents/bot-1/tier', 'admin', { tier: 7 }, 'tier', /must be 0-3/],
  ['POST', '/v1/agents/bot-1/tier', 'admin', { tier: 0, reason: 1 }, 'reason', /must be a string/],
  ['POST', '/v1/killswitch', 'admin', {}, 'active', /must be true or false/],
  ['POST', '/v1/killswitch', 'admin', { active: 'yes' }, 'active', /must be true or false/],
  ['POST', '/v1/killswitch', 'admin', { active: true, rol: 'support' }, 'rol', /is not a known field/],
  ['POST', '/v1/tools/payments.refund/approve', 'admin', { force: 1 }, 'force', /is not a known field/],
  ['POST', '/v1/audit/export', 'admin', { from: 1 }, 'from', /is not a known field/],
];

describe('request bodies of the REST routes', () => {
  const sqlite = backends.find((b) => b.name === 'sqlite')!;
  let t: TestStore;
  let engine: Engine;
  let server: AosServer;
  const tokens: Partial<Record<Who, string>> = {};

  beforeAll(async () => {
    t = await sqlite.create();
    await t.store.humans.add({ id: 'olivia', groups: ['admins'] }, 'operator:test');
    await t.store.agents.create({ id: 'bot-1', role: 'support', tier: 1, owner: 'olivia' }, 'operator:test');
    engine = await createEngine({ store: t.store, config: parseConfig({ server: { port: 0 } }) });
    server = buildServer({ engine, version: 'test' });
    tokens.admin = (
      await t.store.tokens.issue({ subjectType: 'human', subjectId: 'olivia' }, 'operator:test')
    ).token;
    tokens.agent = (
      await t.store.tokens.issue({ subjectType: 'agent', subjectId: 'bot-1' }, 'operator:test')
    ).token;
  });
  afterAll(async () => {
    await server?.close();
    await engine?.close();
    await t?.cleanup();
  });

  it.each(CASES)('%s %s as %s with %j is a 400 naming %s', async (method, url, who, body, field, says) => {
    const res = await server.app.inject({
      method: method as 'POST',
      url,
      headers: { authorization: `Bearer ${tokens[who]}`, 'content-type': 'application/json' },
      payload: JSON.stringify(body),
    });
    const error = (res.json() as { error: { field?: string; message: string } }).error;
    expect({ status: res.statusCode, field: error.field }).toEqual({ status: 400, field });
    expect(error.message).toMatch(says);
  });
});
