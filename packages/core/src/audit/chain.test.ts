import { createHash } from 'node:crypto';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { canonicalJson } from '../crypto/canonical-json.js';
import {
  ChainVerifier,
  contentHash,
  GENESIS_HASH,
  linkHash,
  recordHash,
  recordHashOfCanonical,
} from './chain.js';
import type { AuditRecord, AuditRow } from './chain.js';

const text = fc.string({ unit: 'grapheme', maxLength: 20 });
const record = fc.record({
  seq: fc.integer({ min: 1, max: Number.MAX_SAFE_INTEGER }),
  ts: fc.date({ noInvalidDate: true }).map((d) => d.toISOString()),
  actor: text,
  type: text,
  subject: fc.option(text, { nil: null }),
  payload: fc.dictionary(text, fc.jsonValue()),
  prevHash: fc.stringMatching(/^[0-9a-f]{64}$/),
});

describe('recordHashOfCanonical', () => {
  it('hashes the same bytes as recordHash for any record', () => {
    fc.assert(
      fc.property(record, (r) => {
        expect(recordHashOfCanonical(r, canonicalJson(r.payload))).toBe(recordHash(r));
      }),
      { numRuns: 500 },
    );
  });

  it('changes when any field changes', () => {
    const r = {
      seq: 7,
      ts: '2026-01-01T00:00:00.000Z',
      actor: 'system',
      type: 't',
      subject: null,
      prevHash: '0'.repeat(64),
    };
    const base = recordHashOfCanonical(r, '{}');
    expect(recordHashOfCanonical({ ...r, subject: 'x' }, '{}')).not.toBe(base);
    expect(recordHashOfCanonical({ ...r, seq: 8 }, '{}')).not.toBe(base);
    expect(recordHashOfCanonical(r, '{"a":1}')).not.toBe(base);
  });
});

describe('chain format 2', () => {
  const r = {
    seq: 7,
    ts: '2026-01-01T00:00:00.000Z',
    actor: 'system',
    type: 't',
    subject: null,
    payload: { b: 1, a: 'x' },
    prevHash: 'ab'.repeat(32),
    version: 2 as const,
  };

  it('hashes the documented byte layout: a content hash, then the link to the previous hash', () => {
    const sha = (s: string) => createHash('sha256').update(s, 'utf8').digest('hex');
    const content = sha(
      'aos-audit-content/2\n"system"\n"t"\nnull\n"2026-01-01T00:00:00.000Z"\n{"a":"x","b":1}',
    );
    expect(contentHash(r, '{"a":"x","b":1}')).toBe(content);
    expect(recordHash(r)).toBe(sha(`aos-audit/2\n7\n${'ab'.repeat(32)}\n${content}`));
    expect(linkHash(r.seq, r.prevHash, content)).toBe(recordHash(r));
  });

  it('keeps version 1 hashes as they were', () => {
    const { version: _v, ...v1 } = r;
    expect(recordHash({ ...v1, version: 1 })).toBe(recordHash(v1));
    expect(recordHash(v1)).toBe(recordHashOfCanonical(v1, canonicalJson(v1.payload)));
    expect(recordHash(r)).not.toBe(recordHash(v1));
  });

  it.each([
    ['seq', { seq: 8 }],
    ['ts', { ts: '2026-01-01T00:00:00.001Z' }],
    ['actor', { actor: 'human:mallory' }],
    ['type', { type: 'u' }],
    ['subject', { subject: 'null' }],
    ['payload', { payload: { b: 1, a: 'y' } }],
    ['prevHash', { prevHash: 'cd'.repeat(32) }],
  ])('changes when %s changes', (_field, change) => {
    expect(recordHash({ ...r, ...change })).not.toBe(recordHash(r));
  });

  it('cannot move text between fields: every field but the payload is a JSON literal on its own line', () => {
    const a = contentHash({ ts: 't', actor: 'a\n"b"', type: 'c', subject: null }, '{}');
    const b = contentHash({ ts: 't', actor: 'a', type: '"b"\n"c"', subject: null }, '{}');
    expect(a).not.toBe(b);
  });
});

function chainOf(versions: (1 | 2)[]): AuditRecord[] {
  let prevHash = GENESIS_HASH;
  return versions.map((version, i) => {
    const body = {
      seq: i + 1,
      ts: `2026-01-01T00:00:0${i}.000Z`,
      actor: 'system',
      type: 'test.event',
      subject: i % 2 ? `thing:${i}` : null,
      payload: { i, nested: { z: [1, 'two'], a: null } },
      prevHash,
      version,
    };
    const record = { ...body, hash: recordHash(body) };
    prevHash = record.hash;
    return record;
  });
}

function rowOf(r: AuditRecord): AuditRow {
  return {
    seq: r.seq,
    ts: r.ts,
    actor: r.actor,
    type: r.type,
    subject: r.subject,
    payload: canonicalJson(r.payload),
    prev_hash: r.prevHash,
    hash: r.hash,
    version: r.version,
  };
}

describe('ChainVerifier', () => {
  it.each([
    ['version 1 only', [1, 1, 1, 1]],
    ['version 2 only', [2, 2, 2, 2]],
    ['version 1 then 2', [1, 1, 2, 2, 2]],
    ['versions interleaved (a rolling upgrade)', [1, 2, 1, 2]],
  ] as [string, (1 | 2)[]][])(
    'accepts a chain of %s, from records and from stored rows alike',
    (_n, versions) => {
      const records = chainOf(versions);
      const fromRecords = new ChainVerifier();
      const fromRows = new ChainVerifier();
      for (const r of records) {
        expect(fromRecords.push(r)).toBe(true);
        expect(fromRows.pushRow(rowOf(r))).toBe(true);
      }
      expect(fromRows.verified).toBe(versions.length);
      expect(fromRows.merkle.root()).toBe(fromRecords.merkle.root());
    },
  );

  it('accepts exported records that carry no version as version 1', () => {
    const records = chainOf([1, 1]).map(({ version: _v, ...r }) => r as AuditRecord);
    const v = new ChainVerifier();
    expect(records.every((r) => v.push(r))).toBe(true);
  });

  it('accepts a version 1 row whose payload text is not canonical, as before', () => {
    const [r] = chainOf([1]);
    const v = new ChainVerifier();
    expect(
      v.pushRow({ ...rowOf(r as AuditRecord), payload: JSON.stringify((r as AuditRecord).payload, null, 2) }),
    ).toBe(true);
  });

  const tamper: [string, (rows: AuditRow[]) => AuditRow[], number, RegExp][] = [
    [
      'a version 2 payload',
      (rows) => rows.map((r) => (r.seq === 2 ? { ...r, payload: '{"i":99}' } : r)),
      2,
      /altered/,
    ],
    [
      'a version 2 payload re-spaced',
      (rows) => rows.map((r) => (r.seq === 2 ? { ...r, payload: ` ${r.payload}` } : r)),
      2,
      /altered/,
    ],
    [
      'a version 2 subject',
      (rows) => rows.map((r) => (r.seq === 2 ? { ...r, subject: 'thing:x' } : r)),
      2,
      /altered/,
    ],
    [
      'a version 2 hash',
      (rows) => rows.map((r) => (r.seq === 3 ? { ...r, hash: 'f'.repeat(64) } : r)),
      3,
      /altered/,
    ],
    [
      'a version 2 record relabelled version 1',
      (rows) => rows.map((r) => (r.seq === 2 ? { ...r, version: 1 } : r)),
      2,
      /altered/,
    ],
    [
      'an unknown version',
      (rows) => rows.map((r) => (r.seq === 2 ? { ...r, version: 3 } : r)),
      2,
      /unknown format version/,
    ],
    ['a deleted record', (rows) => rows.filter((r) => r.seq !== 2), 2, /missing/],
    ['two records reordered', (rows) => [rows[0], rows[2], rows[1], rows[3]] as AuditRow[], 2, /missing/],
    [
      'two version 2 records swapped, their positions kept',
      (rows) => {
        const [a, b] = [rows[1] as AuditRow, rows[2] as AuditRow];
        return [rows[0], { ...b, seq: a.seq }, { ...a, seq: b.seq }, rows[3]] as AuditRow[];
      },
      2,
      /does not link/,
    ],
    [
      'a version 1 record before version 2 ones',
      (rows) => rows.map((r) => (r.seq === 1 ? { ...r, actor: 'x' } : r)),
      1,
      /altered/,
    ],
  ];
  it.each(tamper)('detects %s', (_n, edit, seq, reason) => {
    const rows = edit(chainOf([1, 2, 2, 2]).map(rowOf));
    const v = new ChainVerifier();
    for (const row of rows) if (!v.pushRow(row)) break;
    expect(v.problem?.seq).toBe(seq);
    expect(v.problem?.reason).toMatch(reason);
  });
});
