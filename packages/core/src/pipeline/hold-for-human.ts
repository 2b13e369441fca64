import type { DecisionOptions } from '../policy/decide.js';
import type { StoredDecision } from './types.js';

/** Why an allowed action is held for a human anyway, and how the receipt names it. */
export interface HoldForHumanOptions {
  /** The built-in rule's id in the decision's policies (e.g. `builtin:anomaly-hold`). */
  id: string;
  reason: string;
  /** The check's name in the receipt. */
  check: string;
  detail?: string;
  options: Pick<DecisionOptions, 'defaultApprovalGroup' | 'defaultExpirySec'>;
}

/**
 * Turns an allow into an approval by the default approval group (quorum 1), naming the built-in rule that held it.
 * This only ever tightens an allow, never loosens a deny: callers pass allows only.
 */
export function holdForHuman(decision: StoredDecision, o: HoldForHumanOptions): StoredDecision {
  const held: StoredDecision = {
    ...decision,
    outcome: 'approval',
    policies: [...decision.policies, o.id],
    reasons: [...decision.reasons, o.reason],
    approval: {
      group: o.options.defaultApprovalGroup,
      quorum: 1,
      expirySec: o.options.defaultExpirySec,
      escalation: [],
      barOwner: false,
      policies: [o.id],
    },
    checks: [...decision.checks, { name: o.check, result: 'approval', detail: o.detail ?? o.reason }],
  };
  return held;
}
