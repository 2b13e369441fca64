import { describe, expect, it } from 'vitest';
import { foldTimeline } from './run-timeline.js';
import type { TimelineEvent } from './run-timeline.js';
import { percentUsed } from '../pages/budgets.js';

const ev = (seq: number, type: string): TimelineEvent => ({ seq, type, at: '2026-12-01T09:00:00Z' });

describe('foldTimeline', () => {
  it('folds two or more consecutive routine events into one entry and keeps the rest one a line', () => {
    const entries = foldTimeline([
      ev(1, 'run_started'),
      ev(2, 'step_started'),
      ev(3, 'context_observed'),
      ev(4, 'step_completed'),
      ev(5, 'step_started'),
      ev(6, 'run_completed'),
    ]);
    expect(entries.map((e) => (e.kind === 'fold' ? e.events.map((x) => x.seq) : e.event.seq))).toEqual([
      1,
      [2, 3],
      4,
      5,
      6,
    ]);
  });
});

describe('percentUsed', () => {
  it.each([
    [50, 100, 50],
    [150, 100, 100],
    [0, 0, 0],
    [1, 0, 100],
    [3, undefined, null],
  ])('%s of %s is %s', (used, limit, pct) => {
    expect(percentUsed(used, limit)).toBe(pct);
  });
});
