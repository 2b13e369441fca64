import { useMutation } from '@tanstack/react-query';
import { useSignedIn } from '../session/session.js';
import { ErrorNote, PageHeader } from '../components/text.js';

/** Verifies the audit chain and its signed checkpoints (auditors and admins). */
export function AuditPage() {
  const { client, abilities } = useSignedIn();
  const verify = useMutation({ mutationFn: () => client.verifyAudit() });
  const r = verify.data;
  return (
    <>
      <PageHeader title="Audit" />
      {abilities.isAuditor || abilities.isAdmin ? (
        <button type="button" onClick={() => verify.mutate()} disabled={verify.isPending}>
          Verify the chain
        </button>
      ) : (
        <p className="muted">Only auditors and admins can verify the audit log.</p>
      )}
      <ErrorNote error={verify.error} />
      {r ? (
        <div role="status" className={r.ok ? 'verify ok' : 'verify bad'}>
          <p>
            {r.ok
              ? `Intact: ${r.verified} of ${r.records} records verified.`
              : `Broken at record ${r.firstBad?.seq}: ${r.firstBad?.reason}.`}
          </p>
          <p>
            {r.checkpoints.length} signed checkpoint(s) checked
            {r.checkpoints.length
              ? `, the latest covers ${Math.max(...r.checkpoints.map((c) => c.treeSize))} records`
              : ''}
            ; {r.unsealed} record(s) not yet covered by a signature.
          </p>
        </div>
      ) : null}
    </>
  );
}
