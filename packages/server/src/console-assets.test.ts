import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createEngine, parseConfig } from '@autonomy-os/core';
import type { Engine } from '@autonomy-os/core';
import { AosClient } from '@autonomy-os/sdk';
import type { AosEvent } from '@autonomy-os/sdk';
import { backends } from '../../../test/helpers/backends.js';
import type { TestStore } from '../../../test/helpers/backends.js';
import { buildServer } from './server.js';
import type { AosServer } from './server.js';

const sqlite = backends.find((b) => b.name === 'sqlite') as (typeof backends)[number];

describe('the console at / of the HTTP server', () => {
  let t: TestStore;
  let engine: Engine;
  let server: AosServer;
  let base: string;
  let dir: string;
  let admin: string;

  const start = async (consoleDir: string | false) => {
    server = buildServer({ engine, version: 'test', consoleDir });
    base = await server.listen();
  };
  const page = (p: string) => fetch(`${base}${p}`, { headers: { accept: 'text/html,*/*' } });

  beforeEach(async () => {
    t = await sqlite.create();
    await t.store.humans.add({ id: 'ada', groups: ['admins'] }, 'operator:test');
    await t.store.agents.create({ id: 'bot-1', role: 'support', tier: 1, owner: 'ada' }, 'operator:test');
    admin = (await t.store.tokens.issue({ subjectType: 'human', subjectId: 'ada' }, 'operator:test')).token;
    engine = await createEngine({ store: t.store, config: parseConfig({ server: { port: 0 } }) });
    await engine.start({ background: false });
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'aos-console-dist-'));
    fs.mkdirSync(path.join(dir, 'assets'));
    fs.writeFileSync(path.join(dir, 'index.html'), '<!doctype html><div id="root"></div>');
    fs.writeFileSync(path.join(dir, 'assets', 'app-1.js'), 'export {};');
  });
  afterEach(async () => {
    await server?.close();
    await engine?.close();
    await t?.cleanup();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('serves index.html at / and for client routes, with a CSP that allows no inline script or eval', async () => {
    await start(dir);
    for (const p of ['/', '/approvals/apr_1', '/actions/act_1?tab=audit']) {
      const res = await page(p);
      expect(res.status, p).toBe(200);
      expect(await res.text()).toContain('<div id="root">');
      const csp = res.headers.get('content-security-policy') ?? '';
      expect(csp).toMatch(/script-src 'self'(;|$)/);
      expect(csp).toContain("frame-ancestors 'none'");
      expect(csp).not.toMatch(/unsafe-inline|unsafe-eval/);
    }
    const asset = await fetch(`${base}/assets/app-1.js`);
    expect(asset.status).toBe(200);
    expect(asset.headers.get('content-type')).toMatch(/javascript/);
    expect(asset.headers.get('cache-control')).toContain('immutable');
  });

  it.each(['/v1/nope', '/v1', '/mcp/x', '/metrics/x', '/healthz/x', '/assets/missing.js'])(
    'never answers %s with the console page',
    async (p) => {
      await start(dir);
      const res = await page(p);
      expect(res.status).toBe(404);
      expect(await res.json()).toMatchObject({ error: { code: 'not_found' } });
    },
  );

  it('keeps the API routes at their paths', async () => {
    await start(dir);
    expect(await (await fetch(`${base}/healthz`)).json()).toMatchObject({ status: 'ok' });
    expect((await fetch(`${base}/metrics`)).headers.get('content-type')).toMatch(/text\/plain/);
    expect((await page('/v1/whoami')).status).toBe(401);
  });

  it('says how to build the console when it is not built, and serves nothing at / when turned off', async () => {
    await start(path.join(dir, 'assets'));
    const res = await page('/');
    expect(res.status).toBe(200);
    expect(await res.text()).toMatch(/console is not built: run `npm run build`/);
    await server.close();
    await start(false);
    expect((await page('/')).status).toBe(404);
  });

  it('streams agent and kill switch changes to the SDK as live events', async () => {
    await start(false);
    const aos = new AosClient({ url: base, token: admin });
    const abort = new AbortController();
    const seen: AosEvent[] = [];
    let opened: () => void = () => undefined;
    const open = new Promise<void>((r) => (opened = r));
    const stream = aos.events({
      types: ['agent', 'killswitch'],
      signal: abort.signal,
      onOpen: () => opened(),
    });
    const first = stream.next();
    await open;
    await aos.setAgentStatus('bot-1', 'pause', 'looking into it');
    seen.push((await first).value as AosEvent);
    await aos.killSwitch({ active: true, agent: 'bot-1', reason: 'incident' });
    seen.push((await stream.next()).value as AosEvent);
    abort.abort();
    expect(seen.map((e) => [e.type, e.data])).toEqual([
      ['agent.paused', { agentId: 'bot-1', status: 'paused' }],
      ['killswitch.engaged', { scope: 'agent:bot-1', reason: 'incident' }],
    ]);
    expect((await aos.listAgents({ status: 'paused' })).map((a) => a.id)).toEqual(['bot-1']);
    expect(await aos.listKillSwitches()).toMatchObject([{ scope: 'agent:bot-1', active: true }]);
  });
});
