import { UserError } from '../errors.js';
import type { AuditLog, AuditVerifyReport } from './audit-log.js';
import { verifyRecords } from './audit-log.js';
import type { AuditRecord } from './chain.js';
import type { Checkpoint, SigningKey } from './checkpoint.js';

/** A self-contained export of the log: every record plus a signed checkpoint over all of them. */
export interface AuditBundle {
  format: 'aos-audit-bundle/1';
  exportedAt: string;
  records: AuditRecord[];
  checkpoint: Checkpoint;
}

/** Exports the whole log with a fresh signed checkpoint (also stored in the database). */
export async function exportBundle(log: AuditLog, key: SigningKey): Promise<AuditBundle> {
  const checkpoint = await log.checkpoint(key);
  const records: AuditRecord[] = [];
  for await (const r of log.all()) {
    if (r.seq > checkpoint.treeSize) break;
    records.push(r);
  }
  return { format: 'aos-audit-bundle/1', exportedAt: new Date().toISOString(), records, checkpoint };
}

/**
 * Verifies a bundle offline, with no database: the chain, the Merkle root against the signed checkpoint, and the
 * signature (against `trustedKeyPem` when given). The checkpoint must cover every record in the bundle.
 */
export async function verifyBundle(text: string, trustedKeyPem?: string): Promise<AuditVerifyReport> {
  let bundle: AuditBundle;
  try {
    bundle = JSON.parse(text) as AuditBundle;
  } catch {
    throw new UserError('bundle is not JSON', { field: 'bundle' });
  }
  if (bundle?.format !== 'aos-audit-bundle/1' || !Array.isArray(bundle.records) || !bundle.checkpoint) {
    throw new UserError('not an aos audit bundle (format aos-audit-bundle/1)', { field: 'bundle' });
  }
  const report = await verifyRecords(
    bundle.records,
    [{ checkpoint: bundle.checkpoint, source: 'bundle' }],
    trustedKeyPem,
  );
  if (report.ok && bundle.checkpoint.treeSize !== bundle.records.length) {
    report.ok = false;
    report.firstBad = {
      seq: bundle.checkpoint.treeSize + 1,
      reason: `the bundle holds ${bundle.records.length} records but its checkpoint covers ${bundle.checkpoint.treeSize}`,
    };
  }
  return report;
}
