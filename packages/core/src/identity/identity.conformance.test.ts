import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { Authenticator, readSecurityEpoch } from './authenticate.js';
import type { Store } from '../store/open-store.js';
import { AuthenticationError, ConflictError, NotFoundError, UserError } from '../errors.js';
import { migrations } from '../store/migrations.js';
import { KillSwitches } from '../intervention/kill-switches.js';
import { backends } from '../../../../test/helpers/backends.js';
import type { TestStore } from '../../../../test/helpers/backends.js';

describe.each(backends)('identity on $name', (backend) => {
  let t: TestStore;
  beforeEach(async (ctx) => {
    if (!backend.enabled) return ctx.skip();
    t = await backend.create();
    await t.store.humans.add({ id: 'olivia', groups: ['approvers:finance'] }, 'operator:test');
  });
  afterEach(async () => {
    await t?.cleanup();
  });

  /** Agent `a1`, owned by olivia, and an API token for it. */
  async function agentWithToken() {
    await t.store.agents.create({ id: 'a1', role: 'r', tier: 0, owner: 'olivia' }, 'operator:test');
    return t.store.tokens.issue({ subjectType: 'agent', subjectId: 'a1' }, 'operator:test');
  }

  it('creates an agent owned by a known human and audits it', async () => {
    const agent = await t.store.agents.create(
      { id: 'refund-bot', role: 'support', tier: 1, owner: 'olivia', environments: ['dev', 'staging'] },
      'operator:test',
    );
    expect(agent).toMatchObject({
      id: 'refund-bot',
      role: 'support',
      tier: 1,
      owner: 'olivia',
      status: 'active',
    });
    expect(await t.store.agents.get('refund-bot')).toEqual(agent);
    const records = await t.store.audit.list({ subject: 'agent:refund-bot' });
    expect(records.map((r) => r.type)).toEqual(['agent.created']);
  });

  it.each([
    ['tier 7', { id: 'a1', role: 'r', tier: 7, owner: 'olivia' }, 'tier'],
    ['negative tier', { id: 'a1', role: 'r', tier: -1, owner: 'olivia' }, 'tier'],
    ['missing owner', { id: 'a1', role: 'r', tier: 0 }, 'owner'],
    ['bad id', { id: 'Bad Id!', role: 'r', tier: 0, owner: 'olivia' }, 'id'],
    ['missing role', { id: 'a1', tier: 0, owner: 'olivia' }, 'role'],
    ['no environments', { id: 'a1', role: 'r', tier: 0, owner: 'olivia', environments: [] }, 'environments'],
  ])('rejects %s naming the field and writes nothing', async (_name, input, field) => {
    const before = await t.store.audit.head();
    const err = await t.store.agents.create(input as never, 'operator:test').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(UserError);
    expect((err as UserError).field).toBe(field);
    expect((err as Error).message).toMatch(new RegExp(`^${field}: `));
    expect(await t.store.agents.list()).toEqual([]);
    expect(await t.store.audit.head()).toEqual(before);
  });

  it('rejects an unknown owner and a duplicate id without a partial write', async () => {
    await expect(
      t.store.agents.create({ id: 'a1', role: 'r', tier: 0, owner: 'nobody' }, 'operator:test'),
    ).rejects.toBeInstanceOf(NotFoundError);
    await t.store.agents.create({ id: 'a1', role: 'r', tier: 0, owner: 'olivia' }, 'operator:test');
    const head = await t.store.audit.head();
    const dup = await t.store.agents
      .create({ id: 'a1', role: 'x', tier: 2, owner: 'olivia' }, 'operator:test')
      .catch((e: unknown) => e);
    expect(dup).toBeInstanceOf(ConflictError);
    expect((dup as ConflictError).field).toBe('id');
    expect((await t.store.agents.get('a1'))?.role).toBe('r');
    expect(await t.store.audit.head()).toEqual(head);
  });

  it('keeps agent and human ids apart, so a JWT subject can never name both', async () => {
    await t.store.agents.create({ id: 'bob', role: 'r', tier: 0, owner: 'olivia' }, 'operator:test');
    const human = await t.store.humans.add({ id: 'bob' }, 'operator:test').catch((e: unknown) => e);
    expect(human).toBeInstanceOf(ConflictError);
    expect((human as ConflictError).message).toMatch(/^id: an agent named 'bob' exists/);
    const agent = await t.store.agents
      .create({ id: 'olivia', role: 'r', tier: 0, owner: 'olivia' }, 'operator:test')
      .catch((e: unknown) => e);
    expect(agent).toBeInstanceOf(ConflictError);
    expect((agent as ConflictError).message).toMatch(/^id: a human named 'olivia' exists/);
  });

  it('rejects a duplicate human', async () => {
    await expect(t.store.humans.add({ id: 'olivia' }, 'operator:test')).rejects.toBeInstanceOf(ConflictError);
  });

  it('issues tokens shown once and stored only as a hash', async () => {
    const { token, info } = await agentWithToken();
    expect(token).toMatch(/^aos_[A-Za-z0-9_-]{43}$/);
    const rows = await t.raw('SELECT * FROM tokens');
    expect(JSON.stringify(rows)).not.toContain(token);
    expect((await t.store.tokens.verify(token)).id).toBe(info.id);
    const audit = JSON.stringify(await t.store.audit.list());
    expect(audit).not.toContain(token);
  });

  it('refuses malformed, unknown, revoked and expired tokens', async () => {
    await t.store.agents.create({ id: 'a1', role: 'r', tier: 0, owner: 'olivia' }, 'operator:test');
    await expect(t.store.tokens.verify('not-a-token')).rejects.toThrow(/malformed/);
    await expect(t.store.tokens.verify(`aos_${'A'.repeat(43)}`)).rejects.toThrow(/unknown token/);
    const { token, info } = await t.store.tokens.issue(
      { subjectType: 'agent', subjectId: 'a1' },
      'operator:test',
    );
    await t.store.tokens.revoke(info.id, 'operator:test');
    await expect(t.store.tokens.verify(token)).rejects.toBeInstanceOf(AuthenticationError);
    const expiring = await t.store.tokens.issue(
      { subjectType: 'agent', subjectId: 'a1', expiresAt: new Date(Date.now() + 60_000) },
      'operator:test',
    );
    await t.raw('UPDATE tokens SET expires_at = ? WHERE id = ?', [
      new Date(Date.now() - 1000).toISOString(),
      expiring.info.id,
    ]);
    await expect(t.store.tokens.verify(expiring.token)).rejects.toThrow(/expired/);
  });

  it("pauses, resumes and revokes; revocation is final and kills the agent's tokens", async () => {
    await t.store.agents.create({ id: 'a1', role: 'r', tier: 0, owner: 'olivia' }, 'operator:test');
    const { token } = await t.store.tokens.issue({ subjectType: 'agent', subjectId: 'a1' }, 'operator:test');
    expect((await t.store.agents.setStatus('a1', 'pause', 'operator:test')).status).toBe('paused');
    expect((await t.store.agents.setStatus('a1', 'resume', 'operator:test')).status).toBe('active');
    expect((await t.store.agents.setStatus('a1', 'revoke', 'operator:test', 'compromised')).status).toBe(
      'revoked',
    );
    await expect(t.store.tokens.verify(token)).rejects.toThrow(/revoked/);
    await expect(t.store.agents.setStatus('a1', 'resume', 'operator:test')).rejects.toBeInstanceOf(
      ConflictError,
    );
    await expect(t.store.agents.setStatus('nope', 'pause', 'operator:test')).rejects.toBeInstanceOf(
      NotFoundError,
    );
    const types = (await t.store.audit.list({ subject: 'agent:a1' })).map((r) => r.type);
    expect(types).toEqual(['agent.created', 'token.issued', 'agent.paused', 'agent.active', 'agent.revoked']);
  });

  it('counts the active agents of a role and lists the roles in use, without reading the agents', async () => {
    for (const id of ['a1', 'a2', 'a3', 'a4'])
      await t.store.agents.create({ id, role: 'clerk', tier: 0, owner: 'olivia' }, 'operator:test');
    await t.store.agents.create({ id: 'b1', role: 'boss', tier: 0, owner: 'olivia' }, 'operator:test');
    await t.store.agents.setStatus('a2', 'pause', 'operator:test');
    await t.store.agents.setStatus('a3', 'revoke', 'operator:test');
    await t.store.agents.setStatus('b1', 'revoke', 'operator:test');
    expect(await t.store.agents.countActive('clerk')).toBe(2);
    expect(await t.store.agents.countActive('boss')).toBe(0);
    expect(await t.store.agents.countActive('nobody')).toBe(0);
    expect([...(await t.store.agents.roles())]).toEqual(['clerk']);
  });

  it('sees a revocation made through another connection on the next lookup', async () => {
    const { token, info } = await agentWithToken();
    const other = await t.reopen();
    try {
      expect((await other.tokens.verify(token)).id).toBe(info.id);
      await t.store.tokens.revoke(info.id, 'operator:test');
      await expect(other.tokens.verify(token)).rejects.toThrow(/revoked/);
    } finally {
      await other.close();
    }
  });

  describe('authentication with remembered principals (security epoch)', () => {
    /** An authenticator on `store` that counts token and agent lookups, as the server builds it. */
    function counting(store: Store) {
      const reads = { tokens: 0, agents: 0, humans: 0 };
      const auth = new Authenticator({
        tokens: { verify: (tok: string) => (reads.tokens++, store.tokens.verify(tok)) } as never,
        agents: { get: (id: string) => (reads.agents++, store.agents.get(id)) } as never,
        humans: { get: (id: string) => (reads.humans++, store.humans.get(id)) } as never,
        epoch: () => readSecurityEpoch(store.db),
      });
      return { auth, reads };
    }

    it('reads the token and its agent once, then only the epoch, until a change from any node', async () => {
      const { token, info } = await agentWithToken();
      // The node serving requests, and another node (or the CLI) changing things.
      const other = await t.reopen();
      try {
        const { auth, reads } = counting(t.store);
        expect((await auth.authenticate(token)).id).toBe('a1');
        expect((await auth.authenticate(token)).id).toBe('a1');
        expect(reads).toEqual({ tokens: 1, agents: 1, humans: 0 });
        // A tier change elsewhere: the next request reads the agent afresh and sees it.
        await other.agents.setTier('a1', 2, 'operator:test');
        const p = await auth.authenticate(token);
        expect(p.kind === 'agent' && p.agent.tier).toBe(2);
        expect(reads).toEqual({ tokens: 2, agents: 2, humans: 0 });
        // A pause elsewhere: the principal carries it (the pipeline's guards deny on it).
        await other.agents.setStatus('a1', 'pause', 'operator:test');
        const paused = await auth.authenticate(token);
        expect(paused.kind === 'agent' && paused.agent.status).toBe('paused');
        // A revocation elsewhere fails the very next request, and failures are not remembered.
        await other.tokens.revoke(info.id, 'operator:test');
        await expect(auth.authenticate(token)).rejects.toThrow(/revoked/);
        await expect(auth.authenticate(token)).rejects.toThrow(/revoked/);
      } finally {
        await other.close();
      }
    });

    it("sees an agent's revocation, a human's new groups and a token's expiry on the next request", async () => {
      await t.store.agents.create({ id: 'a1', role: 'r', tier: 0, owner: 'olivia' }, 'operator:test');
      const agentTok = await t.store.tokens.issue({ subjectType: 'agent', subjectId: 'a1' }, 'operator:test');
      const humanTok = await t.store.tokens.issue(
        { subjectType: 'human', subjectId: 'olivia' },
        'operator:test',
      );
      const expiring = await t.store.tokens.issue(
        { subjectType: 'agent', subjectId: 'a1', expiresAt: new Date(Date.now() + 60_000) },
        'operator:test',
      );
      const { auth } = counting(t.store);
      await auth.authenticate(agentTok.token);
      await auth.authenticate(expiring.token);
      const before = await auth.authenticate(humanTok.token);
      expect(before.kind === 'human' && before.human.groups).toEqual(['approvers:finance']);
      // Raw SQL, as an operator with database access or an older node would: the database bumps the epoch itself.
      await t.raw('UPDATE humans SET groups_json = ? WHERE id = ?', ['["approvers:legal"]', 'olivia']);
      const after = await auth.authenticate(humanTok.token);
      expect(after.kind === 'human' && after.human.groups).toEqual(['approvers:legal']);
      // Expiry needs no change at all: it is checked on every use of a remembered principal.
      const now = Date.now();
      const clock = vi.spyOn(Date, 'now').mockReturnValue(now + 120_000);
      try {
        await expect(auth.authenticate(expiring.token)).rejects.toThrow(/expired/);
      } finally {
        clock.mockRestore();
      }
      await t.store.agents.setStatus('a1', 'revoke', 'operator:test', 'compromised');
      await expect(auth.authenticate(agentTok.token)).rejects.toThrow(/revoked/);
    });

    it('bumps the epoch on every change of agents, humans, tokens and kill switches, never on a new token or human', async () => {
      const epoch = () => readSecurityEpoch(t.store.db);
      const switches = new KillSwitches(t.store.db, t.store.audit);
      const e0 = await epoch();
      await t.store.agents.create({ id: 'a1', role: 'r', tier: 0, owner: 'olivia' }, 'operator:test');
      // A new agent moves it (migration 15): the workflow gate keeps role lists under the epoch.
      const e1 = await epoch();
      expect(e1).toBeGreaterThan(e0);
      await t.store.tokens.issue({ subjectType: 'agent', subjectId: 'a1' }, 'operator:test');
      await t.store.humans.add({ id: 'hal' }, 'operator:test');
      expect(await epoch()).toBe(e1);
      let last = e1;
      const steps: (string | (() => Promise<unknown>))[] = [
        "UPDATE agents SET tier = 1 WHERE id = 'a1'",
        "UPDATE tokens SET revoked_at = 'x' WHERE subject_id = 'a1'",
        "UPDATE humans SET display_name = 'O' WHERE id = 'olivia'",
        // Engaging a switch first inserts its row, then updates it (the upsert's other branch); releasing updates.
        () => switches.set({ scope: 'role:r', active: true }, 'operator:test'),
        () => switches.set({ scope: 'role:r', active: false }, 'operator:test'),
        () => switches.set({ scope: 'role:r', active: true }, 'operator:test'),
        "DELETE FROM killswitches WHERE scope = 'role:r'",
        "DELETE FROM tokens WHERE subject_id = 'a1'",
        "DELETE FROM agents WHERE id = 'a1'",
      ];
      for (const step of steps) {
        await (typeof step === 'string' ? t.raw(step) : step());
        const now = await epoch();
        expect(now, String(step)).toBeGreaterThan(last);
        last = now;
      }
    });
  });

  it('applies migrations once, however often the store is opened', async () => {
    const again = await t.reopen();
    await again.close();
    const rows = (await t.raw('SELECT version FROM schema_migrations')) as { version: number }[];
    expect(rows.map((r) => Number(r.version))).toEqual(migrations.map((m) => m.version));
  });
});
