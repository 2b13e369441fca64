// Deterministic rule agents of the demo: no model, no side effects (effects are action steps, through the pipeline).
// Finance reuses the invoice example's extraction and critic.
import { rules as invoiceRules } from '../invoices/rules.mjs';

/** The release agent plans the production change: a first rollout is capped at 50%. */
function changePlan({ input, critique }) {
  const rollout = input.rollout ?? 100;
  return {
    flag: input.flag,
    enabled: input.enabled,
    rollout: critique ? Math.min(rollout, 50) : rollout,
  };
}

/** The change critic: production rollouts start at 50% or less (kb/flag-changes.md). */
function changeCritic({ input }) {
  if (input.enabled && input.rollout > 50)
    return { accept: false, critique: 'a first production rollout is at most 50%' };
  return { accept: true };
}

/** A reviewer's vote on the reviewed plan. */
function changeVote({ input }) {
  return { vote: input.enabled && input.rollout > 50 ? 'reject' : 'approve' };
}

export const rules = {
  ...invoiceRules,
  'change-plan': changePlan,
  'change-critic': changeCritic,
  'change-vote': changeVote,
};
