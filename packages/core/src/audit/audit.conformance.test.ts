import crypto from 'node:crypto';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  backends,
  dropAuditTriggers,
  postgresBackend,
  sqliteBackend,
} from '../../../../test/helpers/backends.js';
import type { TestStore } from '../../../../test/helpers/backends.js';
import { writeFormat1Records } from '../../../../test/helpers/audit-records.js';
import { canonicalJson } from '../crypto/canonical-json.js';
import { exportBundle, verifyBundle } from './bundle.js';
import { recordHash } from './chain.js';
import type { AuditRecord } from './chain.js';

async function seed(t: TestStore, n: number): Promise<void> {
  for (let i = 0; i < n; i++) {
    await t.store.audit.record({
      actor: 'operator:test',
      type: 'test.event',
      subject: `thing:${i}`,
      payload: { i },
    });
  }
}

async function rows(t: TestStore): Promise<AuditRecord[]> {
  const out: AuditRecord[] = [];
  for await (const r of t.store.audit.all()) out.push(r);
  return out;
}

// The same checks with verification on two worker threads, in ranges of two records: every log here of six records
// or more takes that path (ranges the workers pass, and the ones they refuse checked in place). Shorter ones, and
// the plain SQLite variant, are checked in ranges on the calling thread, PostgreSQL's record by record.
const auditVerify = { workers: 2, rangeSize: 2 };
const variants = [
  ...backends.map((b) => ({ ...b, label: b.name })),
  { ...sqliteBackend({ auditVerify }), label: 'sqlite, verified on worker threads' },
  { ...postgresBackend({ auditVerify }), label: 'postgres, verified on worker threads' },
];

describe.each(variants)('audit log on $label', (backend) => {
  let t: TestStore;
  beforeEach(async (ctx) => {
    if (!backend.enabled) return ctx.skip();
    t = await backend.create();
  });
  afterEach(async () => {
    await t?.cleanup();
  });

  it('chains records and verifies an intact log', async () => {
    await seed(t, 10);
    const records = await rows(t);
    expect(records.map((r) => r.seq)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
    for (let i = 1; i < records.length; i++) expect(records[i]?.prevHash).toBe(records[i - 1]?.hash);
    const report = await t.store.audit.verify();
    expect(report).toMatchObject({ ok: true, verified: 10, records: 10 });
  });

  it('refuses updates and deletes through the database while its guard is in place', async () => {
    await seed(t, 2);
    await expect(t.raw("UPDATE audit_log SET actor = 'x' WHERE seq = 1")).rejects.toThrow(/append-only/);
    await expect(t.raw('DELETE FROM audit_log WHERE seq = 1')).rejects.toThrow(/append-only/);
  });

  it('redacts secrets before hashing', async () => {
    const returned = await t.store.audit.record({
      actor: 'operator:test',
      type: 'test.secret',
      payload: {
        password: 'hunter2',
        note: `Authorization: Bearer abcdefghijklmnop`,
        apiKey: 'k',
        tokenId: 'tok_1',
      },
    });
    const [r] = await rows(t);
    const redacted = {
      password: '[REDACTED]',
      note: 'Authorization: [REDACTED]',
      apiKey: '[REDACTED]',
      tokenId: 'tok_1',
    };
    expect(r?.payload).toEqual(redacted);
    expect(JSON.stringify(await t.raw('SELECT * FROM audit_log'))).not.toContain('hunter2');
    // The record an append answers holds no secret either; with nothing to redact, it is the payload as given.
    expect(returned.payload).toEqual(redacted);
    const plain = { note: 'nothing secret', n: 1 };
    expect(
      (await t.store.audit.record({ actor: 'operator:test', type: 'test.plain', payload: plain })).payload,
    ).toBe(plain);
    expect((await t.store.audit.verify()).ok).toBe(true);
  });

  it('stores and hashes the same text for strings the database cannot hold as given (lone surrogates)', async () => {
    // JSON allows "\ud800", so any caller can hand one over — an agent's tool input, a header, a name. The database
    // stores a lone surrogate as U+FFFD; a record hashed over the string as given then failed verification for
    // ever after ("altered"), which anyone could use to make an intact log look tampered with.
    const odd = { actor: 'agent:a\ud800b', type: 'test.\udc00', subject: 'thing:\ud83d' };
    const returned = await t.store.audit.record({ ...odd, payload: { note: 'x\ud800y', ['k\udfff']: 1 } });
    await seed(t, 5);
    expect(await t.store.audit.verify()).toMatchObject({ ok: true, verified: 6, records: 6 });
    const [stored] = await rows(t);
    expect(stored).toMatchObject({
      actor: 'agent:a\ufffdb',
      type: 'test.\ufffd',
      subject: 'thing:\ufffd',
    });
    // The payload's canonical JSON escapes them (\ud800), so it keeps them as given.
    expect(stored?.payload).toEqual({ note: 'x\ud800y', ['k\udfff']: 1 });
    // What the append answers is what was stored.
    expect(returned).toMatchObject({ actor: stored?.actor, type: stored?.type, subject: stored?.subject });
    expect(returned.hash).toBe(stored?.hash);
  });

  describe('detects direct edits and names the first bad record', () => {
    beforeEach(async () => {
      await seed(t, 6);
      await dropAuditTriggers(t);
    });

    it('a changed record', async () => {
      await t.raw('UPDATE audit_log SET payload = ? WHERE seq = 3', ['{"i":999}']);
      const r = await t.store.audit.verify();
      expect(r.ok).toBe(false);
      expect(r.firstBad).toMatchObject({ seq: 3 });
      expect(r.firstBad?.reason).toMatch(/altered/);
    });

    it('a changed actor with the hash recomputed (the next link breaks)', async () => {
      const [r3] = (await rows(t)).slice(2, 3);
      const forged = { ...(r3 as AuditRecord), actor: 'human:mallory' };
      await t.raw('UPDATE audit_log SET actor = ?, hash = ? WHERE seq = 3', [
        forged.actor,
        recordHash(forged),
      ]);
      const r = await t.store.audit.verify();
      expect(r.firstBad).toMatchObject({ seq: 4 });
      expect(r.firstBad?.reason).toMatch(/does not link/);
    });

    it('a record relabelled from chain format 2 to 1', async () => {
      await t.raw('UPDATE audit_log SET version = 1 WHERE seq = 3');
      const r = await t.store.audit.verify();
      expect(r.firstBad).toMatchObject({ seq: 3 });
      expect(r.firstBad?.reason).toMatch(/altered/);
    });

    it('a changed hash', async () => {
      await t.raw('UPDATE audit_log SET hash = ? WHERE seq = 6', ['e'.repeat(64)]);
      const r = await t.store.audit.verify();
      expect(r.firstBad).toMatchObject({ seq: 6 });
      expect(r.firstBad?.reason).toMatch(/altered/);
    });

    it('a deleted record', async () => {
      await t.raw('DELETE FROM audit_log WHERE seq = 2');
      const r = await t.store.audit.verify();
      expect(r.firstBad).toMatchObject({ seq: 2 });
      expect(r.firstBad?.reason).toMatch(/missing/);
    });

    it('an inserted record', async () => {
      // Make room at seq 3 the way an attacker must: renumber what follows, then insert a well-formed record.
      for (let seq = 6; seq >= 3; seq--)
        await t.raw('UPDATE audit_log SET seq = ? WHERE seq = ?', [seq + 1, seq]);
      const prev = (await rows(t))[1] as AuditRecord;
      const body = {
        seq: 3,
        ts: new Date().toISOString(),
        actor: 'human:mallory',
        type: 'agent.created',
        subject: null,
        payload: {},
        prevHash: prev.hash,
      };
      await t.raw(
        'INSERT INTO audit_log (seq, ts, actor, type, subject, payload, prev_hash, hash) VALUES (?, ?, ?, ?, ?, ?, ?, ?)',
        [3, body.ts, body.actor, body.type, null, '{}', body.prevHash, recordHash(body)],
      );
      const r = await t.store.audit.verify();
      expect(r.ok).toBe(false);
      expect(r.firstBad?.seq).toBe(4);
    });

    it('a record appended at the end with a made-up hash', async () => {
      await t.raw(
        'INSERT INTO audit_log (seq, ts, actor, type, subject, payload, prev_hash, hash) VALUES (?, ?, ?, ?, ?, ?, ?, ?)',
        [
          7,
          new Date().toISOString(),
          'human:mallory',
          'x',
          null,
          '{}',
          'f'.repeat(64),
          crypto.randomBytes(32).toString('hex'),
        ],
      );
      expect((await t.store.audit.verify()).firstBad?.seq).toBe(7);
    });

    it('two records swapped', async () => {
      const all = await rows(t);
      const [a, b] = [all[1] as AuditRecord, all[2] as AuditRecord];
      const set =
        'UPDATE audit_log SET ts = ?, actor = ?, type = ?, subject = ?, payload = ?, prev_hash = ?, hash = ? WHERE seq = ?';
      const vals = (r: AuditRecord) => [
        r.ts,
        r.actor,
        r.type,
        r.subject,
        canonicalJson(r.payload),
        r.prevHash,
        r.hash,
      ];
      await t.raw(set, [...vals(b), 2]);
      await t.raw(set, [...vals(a), 3]);
      expect((await t.store.audit.verify()).firstBad?.seq).toBe(2);
    });

    it('a truncated tail, against a checkpoint saved before', async () => {
      const cp = await t.store.audit.checkpoint(t.store.signingKey());
      expect(cp.treeSize).toBe(6);
      await t.raw('DELETE FROM audit_log WHERE seq > 4');
      await t.raw('DELETE FROM audit_checkpoints');
      await t.raw('UPDATE audit_head SET seq = 4');
      expect((await t.store.audit.verify()).ok).toBe(true); // the chain alone cannot tell
      const r = await t.store.audit.verify({ extra: [{ checkpoint: cp, source: 'cp.json' }] });
      expect(r.ok).toBe(false);
      expect(r.firstBad?.seq).toBe(5);
      expect(r.checkpoints[0]?.reason).toMatch(/removed from the end/);
    });

    it('a rewritten history with every hash recomputed, against a stored checkpoint', async () => {
      await t.store.audit.checkpoint(t.store.signingKey());
      let prevHash = '0'.repeat(64);
      for (const r of await rows(t)) {
        const forged = { ...r, payload: r.seq === 2 ? { i: 'forged' } : r.payload, prevHash };
        const hash = recordHash(forged);
        await t.raw('UPDATE audit_log SET payload = ?, prev_hash = ?, hash = ? WHERE seq = ?', [
          canonicalJson(forged.payload),
          prevHash,
          hash,
          r.seq,
        ]);
        prevHash = hash;
      }
      const r = await t.store.audit.verify();
      expect(r.ok).toBe(false);
      expect(r.checkpoints[0]?.reason).toMatch(/Merkle root does not match/);
    });
  });

  it('writes chain format 2 and continues a log of format 1 records written before it', async () => {
    // Three records as a node before chain format 2 wrote them.
    await writeFormat1Records(t.raw, 3, (seq) => ({ seq, note: 'é' }));
    await seed(t, 2);
    const records = await rows(t);
    expect(records.map((r) => r.version)).toEqual([1, 1, 1, 2, 2]);
    expect(records[3]?.prevHash).toBe(records[2]?.hash);
    expect(await t.store.audit.verify()).toMatchObject({ ok: true, verified: 5 });

    const text = JSON.stringify(await exportBundle(t.store.audit, t.store.signingKey()));
    expect(await verifyBundle(text)).toMatchObject({ ok: true, verified: 5 });
    // A bundle exported before records carried a version: its records are format 1.
    const unversioned = JSON.parse(text) as { records: Partial<AuditRecord>[] };
    for (const r of unversioned.records.slice(0, 3)) delete r.version;
    expect(await verifyBundle(JSON.stringify(unversioned))).toMatchObject({ ok: true, verified: 5 });
    const edited = JSON.parse(text) as { records: AuditRecord[] };
    (edited.records[4] as AuditRecord).subject = 'thing:x';
    expect((await verifyBundle(JSON.stringify(edited))).firstBad?.seq).toBe(5);

    await dropAuditTriggers(t);
    await t.raw('UPDATE audit_log SET payload = ? WHERE seq = 2', ['{"seq":2}']);
    expect((await t.store.audit.verify()).firstBad).toMatchObject({ seq: 2 });
  });

  it('appends batches of any size in order, as the records it answers', async () => {
    const answered: AuditRecord[] = [];
    for (const size of [1, 63, 64, 65, 300]) {
      const events = Array.from({ length: size }, (_, i) => ({
        actor: 'operator:test',
        type: 'test.batch',
        subject: i % 2 ? null : `thing:${i}`,
        payload: { size, i, token: 'hunter2' },
      }));
      answered.push(...(await t.store.db.tx((tx) => t.store.audit.appendMany(tx, events))));
    }
    // Prepared outside the transaction, two batches in one transaction.
    const prepared = t.store.audit.prepare([{ actor: 'system', type: 'test.prepared' }]);
    answered.push(
      ...(await t.store.db.tx(async (tx) => [
        ...(await t.store.audit.appendMany(tx, prepared)),
        await t.store.audit.append(tx, { actor: 'system', type: 'test.after' }),
      ])),
    );
    const stored = await rows(t);
    expect(stored).toEqual(answered);
    expect(stored.map((r) => r.seq)).toEqual(Array.from({ length: 495 }, (_, i) => i + 1));
    expect(
      stored.every((r) => r.version === 2 && (r.payload as { token?: string }).token !== 'hunter2'),
    ).toBe(true);
    expect(await t.store.audit.head()).toEqual({ seq: 495, hash: stored[494]?.hash });
    expect(await t.store.audit.verify()).toMatchObject({ ok: true, verified: 495, records: 495 });
  });

  it('appends with independent writes: the same records, the writes counted, or none of either', async () => {
    await t.store.db.exec('CREATE TABLE aw_things (id TEXT PRIMARY KEY, n INTEGER NOT NULL)');
    await seed(t, 2);
    const events = Array.from({ length: 3 }, (_, i) => ({
      actor: 'operator:test',
      type: 'test.with',
      subject: `thing:${i}`,
      payload: { i, token: 'hunter2' },
    }));
    const out = await t.store.db.tx((tx) =>
      t.store.audit.appendWith(tx, events, [
        { sql: 'INSERT INTO aw_things (id, n) VALUES (?, ?), (?, ?)', params: ['a', 1, 'b', 2] },
        { sql: 'UPDATE aw_things SET n = n + 1 WHERE id = ?', params: ['absent'] },
      ]),
    );
    expect(out.changes).toEqual([2, 0]);
    const stored = await rows(t);
    expect(stored.slice(2)).toEqual(out.records);
    expect(out.records.map((r) => r.seq)).toEqual([3, 4, 5]);
    expect(out.records.every((r) => (r.payload as { token?: string }).token !== 'hunter2')).toBe(true);
    // No events: the writes alone.
    const none = await t.store.db.tx((tx) =>
      t.store.audit.appendWith(
        tx,
        [],
        [{ sql: 'UPDATE aw_things SET n = ? WHERE id = ?', params: [5, 'a'] }],
      ),
    );
    expect(none).toEqual({ changes: [1], records: [] });
    // A write that fails leaves no record and no write.
    await expect(
      t.store.db.tx((tx) =>
        t.store.audit.appendWith(tx, events, [
          { sql: 'UPDATE aw_things SET n = ? WHERE id = ?', params: [9, 'b'] },
          { sql: 'INSERT INTO aw_things (id, n) VALUES (?, ?)', params: ['a', 0] },
        ]),
      ),
    ).rejects.toThrow();
    expect(await t.store.db.all('SELECT id, n FROM aw_things ORDER BY id')).toEqual([
      { id: 'a', n: 5 },
      { id: 'b', n: 2 },
    ]);
    expect(await t.store.audit.head()).toEqual({ seq: 5, hash: stored[4]?.hash });
    expect(await t.store.audit.verify()).toMatchObject({ ok: true, records: 5 });
  });

  it('appends alone with its writes, the counts required, or writes nothing', async () => {
    await seed(t, 2);
    await t.raw('CREATE TABLE aw_alone (id TEXT PRIMARY KEY, n INTEGER NOT NULL)');
    const events = [1, 2].map((i) => ({
      actor: 'system',
      type: 'test.alone',
      payload: { i, token: 'hunter2' },
    }));
    const out = await t.store.audit.appendAlone(
      events,
      [{ sql: 'INSERT INTO aw_alone (id, n) VALUES (?, ?)', params: ['a', 1] }],
      { durable: false, expect: [1] },
    );
    expect(out.changes).toEqual([1]);
    expect(out.records.map((r) => r.seq)).toEqual([3, 4]);
    expect((await rows(t)).slice(2)).toEqual(out.records);
    expect(out.records.every((r) => (r.payload as { token?: string }).token !== 'hunter2')).toBe(true);
    // A count that differs: no record and no write.
    const head = await t.store.audit.head();
    await expect(
      t.store.audit.appendAlone(
        events,
        [
          { sql: 'INSERT INTO aw_alone (id, n) VALUES (?, ?)', params: ['b', 2] },
          { sql: 'UPDATE aw_alone SET n = 0 WHERE id = ?', params: ['absent'] },
        ],
        { expect: [1, 1] },
      ),
    ).rejects.toMatchObject({ name: 'UnexpectedChanges', index: 1, actual: 0 });
    expect(await t.store.db.all('SELECT id FROM aw_alone ORDER BY id')).toEqual([{ id: 'a' }]);
    expect(await t.store.audit.head()).toEqual(head);
    // No events: the writes alone.
    expect(
      await t.store.audit.appendAlone([], [{ sql: 'UPDATE aw_alone SET n = 5 WHERE id = ?', params: ['a'] }]),
    ).toEqual({ changes: [1], records: [] });
    expect(await t.store.audit.verify()).toMatchObject({ ok: true, records: 4 });
  });

  it.skipIf(backend.name !== 'postgres')(
    'commits no link the database made differently from this node (PostgreSQL appends in one call)',
    async () => {
      await seed(t, 1);
      // The database function of migration 14, replaced by one that links with another tag: a node must refuse.
      const [fn] = (await t.raw(
        "SELECT pg_get_functiondef(p.oid) AS def FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace WHERE p.proname = 'aos_audit_append' AND n.nspname = current_schema()",
      )) as { def: string }[];
      expect(fn?.def).toContain("'aos-audit/2'");
      await t.raw((fn as { def: string }).def.replace("'aos-audit/2'", "'aos-audit/9'"));
      await expect(t.store.audit.record({ actor: 'system', type: 'test.forked' })).rejects.toThrow(
        /linked record 2 differently/,
      );
      // A statement that commits by itself checks the links inside it: nothing of it is committed either.
      await t.raw('CREATE TABLE aw_alone (id TEXT PRIMARY KEY)');
      await expect(
        t.store.audit.appendAlone(
          [{ actor: 'system', type: 'test.forked' }],
          [{ sql: 'INSERT INTO aw_alone (id) VALUES (?)', params: ['x'] }],
          { durable: false },
        ),
      ).rejects.toThrow(/aos_expect: audit link of record 2/);
      expect(await t.store.db.all('SELECT id FROM aw_alone')).toEqual([]);
      expect((await t.store.audit.head()).seq).toBe(1);
      expect(await t.store.audit.verify()).toMatchObject({ ok: true, records: 1 });
    },
  );

  it('refuses a batch with a bad event before writing any of it', async () => {
    await seed(t, 1);
    await expect(
      t.store.db.tx((tx) =>
        t.store.audit.appendMany(tx, [
          { actor: 'system', type: 'test.ok' },
          { actor: '', type: 'test.bad' },
        ]),
      ),
    ).rejects.toThrow(/actor and a type/);
    expect((await t.store.audit.head()).seq).toBe(1);
  });

  it('exports a bundle that verifies offline and fails when edited', async () => {
    await seed(t, 5);
    const bundle = await exportBundle(t.store.audit, t.store.signingKey());
    const text = JSON.stringify(bundle);
    expect(await verifyBundle(text)).toMatchObject({ ok: true, verified: 5 });
    expect((await verifyBundle(text, t.store.signingKey().publicKeyPem)).ok).toBe(true);

    const edited = JSON.parse(text) as typeof bundle;
    (edited.records[1] as AuditRecord).payload = { i: 42 };
    expect((await verifyBundle(JSON.stringify(edited))).firstBad?.seq).toBe(2);

    const dropped = JSON.parse(text) as typeof bundle;
    dropped.records.pop();
    expect((await verifyBundle(JSON.stringify(dropped))).ok).toBe(false);

    const resigned = JSON.parse(text) as typeof bundle;
    resigned.checkpoint.rootHash = 'a'.repeat(64);
    expect((await verifyBundle(JSON.stringify(resigned))).checkpoints[0]?.reason).toMatch(
      /signature is invalid/,
    );

    const { publicKey } = crypto.generateKeyPairSync('ed25519');
    const other = publicKey.export({ type: 'spki', format: 'pem' }).toString();
    expect((await verifyBundle(text, other)).checkpoints[0]?.reason).toMatch(/different key/);
  });
});
