import fs from 'node:fs';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { NondeterminismError, checkDeterminism, loadRuleModule, replay } from '@autonomy-os/core';
import type { RecordedRun, RuleHandler, WorkflowDefinition } from '@autonomy-os/core';
import { INVOICES } from './helpers/invoices.js';

const DIR = path.join(INVOICES, 'histories');
const load = (name: string): RecordedRun =>
  JSON.parse(fs.readFileSync(path.join(DIR, `${name}.json`), 'utf8')) as RecordedRun;
const files = fs
  .readdirSync(DIR)
  .filter((f) => f.endsWith('.json'))
  .map((f) => f.replace(/\.json$/, ''));

/** A copy of a recorded run with its definition changed by `edit`. */
function edited(run: RecordedRun, edit: (def: WorkflowDefinition) => void): RecordedRun {
  const copy = structuredClone(run);
  edit(copy.workflow);
  return copy;
}

describe('recorded histories of the invoice example', () => {
  let rules: Record<string, RuleHandler>;
  beforeAll(async () => {
    rules = await loadRuleModule(path.join(INVOICES, 'rules.mjs'));
  });

  it('holds a completed, an approval, a compensated and a review-rejected run', () => {
    expect(files.sort()).toEqual(
      expect.arrayContaining(['approval', 'compensated', 'completed', 'review-rejected']),
    );
    expect(load('completed').status).toBe('completed');
    expect(load('approval').events.some((e) => e.type === 'approval_vote')).toBe(true);
    expect(load('compensated').events.some((e) => e.type === 'compensation_done')).toBe(true);
    expect(load('compensated').status).toBe('failed');
    expect(load('review-rejected').events.some((e) => e.type === 'review_rejected')).toBe(true);
  });

  it.each(files)(
    '%s replays to the recorded outcome and the engine decides every recorded step again',
    async (name) => {
      const run = load(name);
      expect(replay(run.workflow, run.events).status).toBe(run.status);
      await expect(checkDeterminism(run, rules)).resolves.toBeUndefined();
    },
  );

  it('catches a changed condition: the approval step would be skipped', async () => {
    const run = load('approval');
    const changed = edited(run, (def) => {
      (def.steps.approve as { when?: string }).when = 'steps.extract.amount > 5000';
    });
    const started = run.events.find((e) => e.type === 'step_started' && e.stepId === 'approve');
    const err = await checkDeterminism(changed, rules).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(NondeterminismError);
    expect((err as NondeterminismError).seq).toBe(started?.seq);
    expect((err as Error).message).toContain(`run ${run.runId}, seq ${started?.seq}`);
    expect((err as Error).message).toContain('"type":"step_skipped"');
    expect((err as Error).message).toContain('"type":"step_started"');
  });

  it('catches reordered steps: notify before post', async () => {
    const run = load('completed');
    const changed = edited(run, (def) => {
      def.steps.notify = { ...(def.steps.notify as object), dependsOn: ['approve'] } as never;
      def.steps.post = { ...(def.steps.post as object), dependsOn: ['notify'] } as never;
    });
    await expect(checkDeterminism(changed, rules)).rejects.toThrow(/the engine decides .*notify/);
  });

  it('catches a rule agent that answers differently from the recorded run', async () => {
    const extract = rules['invoice-extract'] as RuleHandler;
    const drifting: Record<string, RuleHandler> = {
      ...rules,
      'invoice-extract': (task) => ({ ...(extract(task) as object), vendor: 'someone else' }),
    };
    await expect(checkDeterminism(load('completed'), drifting)).rejects.toThrow(NondeterminismError);
  });

  it('catches a dropped compensation', async () => {
    const run = load('compensated');
    const changed = edited(run, (def) => {
      // Without a compensation on post, the run would finish without voiding it.
      delete (def.steps.post as { compensate?: unknown }).compensate;
    });
    await expect(checkDeterminism(changed, rules)).rejects.toThrow(/run_finished/);
  });
});
