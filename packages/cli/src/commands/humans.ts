import type { Command } from 'commander';
import { cliActor, printJson, printTable, withStore } from '../context.js';

/** `aos humans …`: the people who own, approve and audit. */
export function registerHumans(program: Command): void {
  const humans = program
    .command('humans')
    .description('add and list humans (owners, approvers, auditors, admins)');

  humans
    .command('add')
    .description('add a human with groups, e.g. --groups approvers:finance,auditors')
    .argument('<id>', 'human id')
    .option('--name <text>', 'display name')
    .option('--groups <groups>', 'comma-separated groups', '')
    .option('--json', 'print JSON')
    .action(async (id: string, o: { name?: string; groups: string; json?: boolean }, cmd: Command) => {
      const human = await withStore(cmd, (s) =>
        s.humans.add(
          {
            id,
            ...(o.name ? { displayName: o.name } : {}),
            groups: o.groups
              .split(',')
              .map((g) => g.trim())
              .filter(Boolean),
          },
          cliActor(),
        ),
      );
      if (o.json) printJson(human);
      else printTable([human as unknown as Record<string, unknown>], ['id', 'displayName', 'groups']);
    });

  humans
    .command('list')
    .description('list humans')
    .option('--json', 'print JSON')
    .action(async (o: { json?: boolean }, cmd: Command) => {
      const list = await withStore(cmd, (s) => s.humans.list());
      if (o.json) printJson(list);
      else printTable(list as unknown as Record<string, unknown>[], ['id', 'displayName', 'groups']);
    });
}
