import type { Command } from 'commander';
import { buildReceipt, formatReceipt } from '@autonomy-os/core';
import type { ActionStatus, Receipt } from '@autonomy-os/core';
import { printJson, printTable, remote, withEngine, withRemoteOptions } from '../context.js';

/** `aos actions …` and `aos explain`: read actions and their receipts. */
export function registerActions(program: Command): void {
  const actions = program.command('actions').description('list and show actions');

  actions
    .command('list')
    .description('recent actions, newest first')
    .option('--agent <id>', 'only this agent')
    .option('--status <status>', 'only this status (succeeded, denied, pending_approval, unknown_outcome, …)')
    .option('--limit <n>', 'at most this many', '50')
    .option('--json', 'print JSON')
    .action(
      async (o: { agent?: string; status?: ActionStatus; limit: string; json?: boolean }, cmd: Command) => {
        const list = await withEngine(cmd, undefined, (e) =>
          e.actions.list({
            ...(o.agent ? { agentId: o.agent } : {}),
            ...(o.status ? { status: o.status } : {}),
            limit: Number(o.limit) || 50,
          }),
        );
        if (o.json) printJson(list);
        else
          printTable(list as unknown as Record<string, unknown>[], [
            'id',
            'createdAt',
            'agentId',
            'tool',
            'outcome',
            'status',
          ]);
      },
    );

  withRemoteOptions(actions.command('show'))
    .description('one action as JSON')
    .argument('<id>', 'action id (act_…)')
    .action(async (id: string, _o: unknown, cmd: Command) => {
      const client = remote(cmd);
      printJson(
        client ? await client.getAction(id) : await withEngine(cmd, undefined, (e) => e.actions.require(id)),
      );
    });

  withRemoteOptions(program.command('explain'))
    .description(
      'the receipt of an action: what it did, what data it touched, which policy, which checks, who approved, how to reverse',
    )
    .argument('<actionId>', 'action id (act_…)')
    .option('--json', 'print JSON')
    .action(async (id: string, o: { json?: boolean }, cmd: Command) => {
      const client = remote(cmd);
      const receipt = client
        ? ((await client.receipt(id)) as unknown as Receipt)
        : await withEngine(cmd, undefined, (e) =>
            buildReceipt(
              { actions: e.actions, approvals: e.approvals, tools: e.tools, audit: e.store.audit },
              id,
            ),
          );
      if (o.json) printJson(receipt);
      else process.stdout.write(formatReceipt(receipt));
    });
}
