import { Command, Option } from 'commander';
import { registerActions } from './commands/actions.js';
import { registerAgents } from './commands/agents.js';
import { registerApprovals } from './commands/approvals.js';
import { registerIntervention } from './commands/intervention.js';
import { registerTools } from './commands/tools.js';
import { registerAudit } from './commands/audit.js';
import { registerReport } from './commands/report.js';
import { registerConfig } from './commands/config.js';
import { registerDemo } from './commands/demo.js';
import { registerEval } from './commands/eval.js';
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

/**
 * The `aos` command with every subcommand registered. A fresh one per call: commander keeps parsed option values on
 * the command objects, so one program parses one command line.
 */
export function buildProgram(): Command {
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
  registerReport(program);
  registerActions(program);
  registerApprovals(program);
  registerIntervention(program);
  registerTools(program);
  registerPolicy(program);
  registerMcp(program);
  registerWorkflows(program);
  registerCoordination(program);
  registerTasks(program);
  registerEval(program);
  return program;
}
