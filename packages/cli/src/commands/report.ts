import type { Command } from 'commander';
import { UserError, engineLeaderReport, formatReport, reportSince } from '@autonomy-os/core';
import type { LeaderReport } from '@autonomy-os/core';
import { printJson, remote, withEngine, withRemoteOptions } from '../context.js';

/** `aos report`: the leader metrics, per workflow and per agent, from the local store or a server. */
export function registerReport(program: Command): void {
  withRemoteOptions(program.command('report'))
    .description(
      'leader metrics per workflow and agent: runs, cycle time, outcomes, escalation rate, approval latency, cost, evaluation coverage, auditability',
    )
    .option('--since <period>', 'the period: 7d, 24h, 30m or an ISO date', '7d')
    .option('--json', 'print JSON')
    .action(async (o: { since: string; json?: boolean }, cmd: Command) => {
      const since = reportSince(o.since);
      if (!since)
        throw new UserError('must be a period like 7d, 24h or 30m, or an ISO date', { field: 'since' });
      const client = remote(cmd);
      const report: LeaderReport = client
        ? ((await client.getReportSummary({ since: o.since })) as LeaderReport)
        : await withEngine(cmd, undefined, (e) => engineLeaderReport(e, since));
      if (o.json) printJson(report);
      else process.stdout.write(formatReport(report));
    });
}
