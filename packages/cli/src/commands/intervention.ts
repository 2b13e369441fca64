import type { Command } from 'commander';
import { UserError } from '@autonomy-os/core';
import {
  actingHuman,
  cliActor,
  printJson,
  printTable,
  remote,
  withEngine,
  withRemoteOptions,
} from '../context.js';

/** `aos killswitch …` and `aos undo`: stop things, reverse things. */
export function registerIntervention(program: Command): void {
  const ks = program
    .command('killswitch')
    .description('stop every action globally, for a role, or for one agent');
  for (const state of ['on', 'off'] as const) {
    withRemoteOptions(ks.command(state))
      .description(
        state === 'on'
          ? 'engage a kill switch (every node honours it from the next action)'
          : 'release a kill switch',
      )
      .option('--role <role>', 'only agents of this role')
      .option('--agent <id>', 'only this agent')
      .option('--reason <text>', 'why (recorded in the audit log)')
      .option('--json', 'print JSON')
      .action(async (o: { role?: string; agent?: string; reason?: string; json?: boolean }, cmd: Command) => {
        if (o.role && o.agent) throw new UserError('give --role or --agent, not both', { field: 'scope' });
        const scope = o.role ? `role:${o.role}` : o.agent ? `agent:${o.agent}` : 'global';
        const client = remote(cmd);
        const sw = client
          ? await client.killSwitch({
              active: state === 'on',
              ...(o.role ? { role: o.role } : {}),
              ...(o.agent ? { agent: o.agent } : {}),
              ...(o.reason ? { reason: o.reason } : {}),
            })
          : await withEngine(cmd, undefined, (e) =>
              e.killSwitches.set({ scope, active: state === 'on', reason: o.reason }, cliActor()),
            );
        if (o.json) printJson(sw);
        else process.stdout.write(`kill switch ${scope} ${state === 'on' ? 'ENGAGED' : 'released'}\n`);
      });
  }
  ks.command('list')
    .description('every kill switch and its state')
    .option('--json', 'print JSON')
    .action(async (o: { json?: boolean }, cmd: Command) => {
      const list = await withEngine(cmd, undefined, (e) => e.killSwitches.list());
      if (o.json) printJson(list);
      else
        printTable(list as unknown as Record<string, unknown>[], [
          'scope',
          'active',
          'reason',
          'setBy',
          'setAt',
        ]);
    });

  withRemoteOptions(program.command('undo'))
    .description('run the registered reversal of a succeeded action through the pipeline')
    .argument('<actionId>', 'action id (act_…)')
    .option('--as <human>', 'local mode: the human asking for it')
    .option('--config <file>', 'local mode: aos.yaml, for the connectors that execute the reversal')
    .option('--reason <text>', 'why')
    .option('--json', 'print JSON')
    .action(
      async (
        id: string,
        o: { as?: string; config?: string; reason?: string; json?: boolean },
        cmd: Command,
      ) => {
        const client = remote(cmd);
        const action = client
          ? await client.undo(id, o.reason)
          : await withEngine(cmd, o.config, async (e) =>
              e.actions.undo(id, await actingHuman(e.store, o.as), o.reason),
            );
        if (o.json) printJson(action);
        else
          process.stdout.write(
            `reversal ${action.id} (${action.tool}) is ${action.outcome}/${action.status}\n`,
          );
      },
    );
}
