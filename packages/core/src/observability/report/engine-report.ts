import type { Engine } from '../../engine.js';
import { coverageShares, evalCoverage } from '../../evals/coverage.js';
import { leaderReport } from './leader-report.js';
import type { LeaderReport } from './leader-report.js';

/**
 * The leader report of an engine's store since `since`: what `aos report` and `GET /v1/reports/summary` print, with
 * the tools' effects from the registry and evaluation coverage from the stored eval runs.
 */
export async function engineLeaderReport(engine: Engine, since: string): Promise<LeaderReport> {
  const coverage = await evalCoverage(engine.store, { since });
  return leaderReport(engine.store.db, {
    since,
    isWrite: (tool) => {
      const t = engine.tools.get(tool);
      return t ? t.metadata.effect === 'write' : undefined;
    },
    evalCoverage: coverageShares(coverage),
  });
}
