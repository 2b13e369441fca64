#!/usr/bin/env node
import { Command, CommanderError, Option } from 'commander';
import { AosError, UserError } from '@autonomy-os/core';
import { registerActions } from './commands/actions.js';
import { registerAgents } from './commands/agents.js';
import { registerApprovals } from './commands/approvals.js';
import { registerIntervention } from './commands/intervention.js';
import { registerTools } from './commands/tools.js';
import { registerAudit } from './commands/audit.js';
import { registerConfig } from './commands/config.js';
import { registerDemo } from './commands/demo.js';
import { registerCoordination } from './commands/coordination.js';
import { registerHumans } from './commands/humans.js';
import { registerInit } from './commands/init.js';
import { registerPolicy } from './commands/policy.js';
import { registerMcp } from './commands/mcp.js';
import { registerServe } from './commands/serve.js';
import { registerTokens } from './commands/tokens.js';
import { registerTasks } from './commands/tasks.js';
import { registerWorkflows } from './commands/workflows.js';
import { VERSION } from './version.js';

const program = new Command('aos')
  .description('Autonomy OS: the control plane for a governed workforce of AI agents')
  .version(VERSION, '-V, --version')
  .addOption(new Option('--data <dir>', 'data directory').env('AOS_DATA').default('./.aos'))
  .addOption(
    new Option('--database-url <url>', 'PostgreSQL URL (postgres://…) instead of SQLite').env(
      'AOS_DATABASE_URL',
    ),
  )
  .showSuggestionAfterError(true)
  .exitOverride();

registerInit(program);
registerServe(program);
registerDemo(program);
registerConfig(program);
registerAgents(program);
registerHumans(program);
registerTokens(program);
registerAudit(program);
registerActions(program);
registerApprovals(program);
registerIntervention(program);
registerTools(program);
registerPolicy(program);
registerMcp(program);
registerWorkflows(program);
registerCoordination(program);
registerTasks(program);

/** One line on stderr; exit 2 for the caller's mistakes, 1 for everything else. */
function fail(err: unknown): never {
  if (err instanceof CommanderError) {
    // Help and version "errors" are successes; commander has already printed its message.
    process.exit(err.exitCode === 0 ? 0 : 2);
  }
  if (err instanceof UserError) {
    process.stderr.write(`aos: error: ${err.message}\n`);
    process.exit(2);
  }
  if (err instanceof AosError) {
    process.stderr.write(`aos: error: ${err.message}\n`);
    process.exit(1);
  }
  process.stderr.write(`aos: internal error: ${(err as Error)?.message ?? String(err)}\n`);
  process.exit(1);
}

program.parseAsync(process.argv).catch(fail);
