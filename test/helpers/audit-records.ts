import { canonicalJson, recordHash } from '@autonomy-os/core';

/** Runs one SQL statement with `?` parameters against the database directly (an attacker's or an old node's view). */
export type RawSql = (sql: string, params: unknown[]) => unknown;

/**
 * Writes records 1..`n` as a node before chain format 2 wrote them — no version (the column defaults to 1), each
 * hashed as format 1 — and moves the chain head to the last, so appends continue after them. The log must be empty.
 */
export async function writeFormat1Records(
  raw: RawSql,
  n: number,
  payload: (seq: number) => unknown,
): Promise<void> {
  let prevHash = '0'.repeat(64);
  for (let seq = 1; seq <= n; seq++) {
    const body = {
      seq,
      ts: new Date().toISOString(),
      actor: 'system',
      type: 'test.old',
      subject: null,
      payload: payload(seq),
      prevHash,
    };
    prevHash = recordHash(body);
    await raw(
      'INSERT INTO audit_log (seq, ts, actor, type, subject, payload, prev_hash, hash) VALUES (?, ?, ?, ?, ?, ?, ?, ?)',
      [seq, body.ts, body.actor, body.type, null, canonicalJson(body.payload), body.prevHash, prevHash],
    );
  }
  await raw('UPDATE audit_head SET seq = ?, hash = ? WHERE id = 1', [n, prevHash]);
}
