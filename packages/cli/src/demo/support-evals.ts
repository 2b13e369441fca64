import type { EvalRuleAgent } from '@autonomy-os/core';
import { workTicket } from './support-playbook.js';
import type { PlaybookAct } from './support-playbook.js';

const OUTCOMES = {
  allow: 'allowed',
  approval: 'pending_approval',
  deny: 'denied',
  invalid: 'invalid',
} as const;

function playbookAgent(weakened: boolean): EvalRuleAgent {
  return async (ctx) => {
    const ticketId = typeof ctx.vars.ticketId === 'string' ? ctx.vars.ticketId : /T-\d+/.exec(ctx.task)?.[0];
    if (!ticketId) throw new Error('the case names no ticket (vars.ticketId)');
    const kbDir = typeof ctx.vars.kbDir === 'string' ? ctx.vars.kbDir : '/kb';
    const act: PlaybookAct = async (_step, tool, input, reason) => {
      const r = await ctx.call(tool, input, reason ? { reason, confidence: 0.9 } : {});
      return { outcome: OUTCOMES[r.outcome], data: r.data, text: r.text };
    };
    return workTicket(act, { ticketId, kbDir, weakened });
  };
}

/**
 * The demo's rule agents an eval suite may name (`agent: { type: rule, rule: support }`): the support agent, and
 * the deliberately weakened variant its suite must fail (`aos eval run … --rule support-weakened`).
 */
export const demoEvalRules: Record<string, EvalRuleAgent> = {
  support: playbookAgent(false),
  'support-weakened': playbookAgent(true),
};
