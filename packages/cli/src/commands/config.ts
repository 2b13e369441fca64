import type { Command } from 'commander';
import {
  assertPoliciesTypeCheck,
  configJsonSchema,
  configPolicyTools,
  loadConfigFile,
  loadPolicyDirectory,
} from '@autonomy-os/core';
import { printJson } from '../context.js';

/** `aos config …`: check an aos.yaml before serving it, and print its JSON Schema. */
export function registerConfig(program: Command): void {
  const config = program.command('config').description('validate aos.yaml and print its JSON Schema');

  config
    .command('validate')
    .description(
      "validate a config file and its policy directory (type-checked against the HTTP operations' schemas); errors name the path",
    )
    .argument('<file>', 'aos.yaml')
    .action((file: string) => {
      const c = loadConfigFile(file);
      const policies = c.policies ? loadPolicyDirectory(c.policies) : undefined;
      // MCP connectors' tools are only known once connected: aos serve checks the set against them at start.
      if (policies) assertPoliciesTypeCheck(policies, configPolicyTools(c).tools);
      process.stdout.write(
        `${file}: valid; ${c.connectors.length} connector(s), ${Object.keys(c.tools).length} tool setting(s), ${c.budgets.length} budget(s)` +
          `${policies ? `, policies ${policies.permits.policies.length}+${policies.approvals.policies.length} (hash ${policies.hash.slice(0, 12)})` : ''}\n`,
      );
    });

  config
    .command('schema')
    .description('print the JSON Schema of aos.yaml (also published as docs/aos.schema.json)')
    .action(() => printJson(configJsonSchema()));
}
