import type { Command } from 'commander';
import { UserError } from '@autonomy-os/core';
import type { TaskStatus } from '@autonomy-os/core';
import { actingHuman, printJson, printTable, withActingHuman, withEngine } from '../context.js';

const STATUSES = ['open', 'claimed', 'escalated', 'completed', 'failed', 'cancelled'];

/** `aos tasks …`: list workflow tasks and decide escalated ones (local mode). */
export function registerTasks(program: Command): void {
  const tasks = program
    .command('tasks')
    .description('work for agents: list tasks, resolve or reject escalated ones');

  tasks
    .command('list')
    .description('tasks, newest first')
    .option('--status <status>', STATUSES.join(', '))
    .option('--run <id>', 'only this run')
    .option('--json', 'print JSON')
    .action(async (o: { status?: string; run?: string; json?: boolean }, cmd: Command) => {
      if (o.status !== undefined && !STATUSES.includes(o.status))
        throw new UserError(`must be one of ${STATUSES.join(', ')}`, { field: 'status' });
      const list = await withEngine(cmd, undefined, (e) =>
        e.workflows.tasks.list({
          ...(o.status ? { status: o.status as TaskStatus } : {}),
          ...(o.run ? { runId: o.run } : {}),
        }),
      );
      if (o.json) printJson(list);
      else
        printTable(list as unknown as Record<string, unknown>[], [
          'id',
          'runId',
          'stepId',
          'role',
          'status',
          'agentId',
          'updatedAt',
        ]);
    });

  withActingHuman(
    tasks
      .command('resolve')
      .description("complete an escalated task with a human's answer (the workflow owner or an admin)")
      .argument('<id>', 'task id (task_…)'),
    "the human you act as (the run's owner or an admin)",
  )
    .option('--output <json>', "the task's output", 'null')
    .action(async (id: string, o: { as?: string; config?: string; output: string }, cmd: Command) => {
      let output: unknown;
      try {
        output = JSON.parse(o.output) as unknown;
      } catch {
        throw new UserError('must be JSON', { field: 'output' });
      }
      printJson(
        await withEngine(cmd, o.config, async (e) =>
          e.workflows.tasks.decide(await actingHuman(e.store, o.as), id, { decision: 'resolve', output }),
        ),
      );
    });

  withActingHuman(
    tasks
      .command('reject')
      .description('fail an escalated task for good (the workflow owner or an admin)')
      .argument('<id>', 'task id (task_…)'),
    "the human you act as (the run's owner or an admin)",
  )
    .requiredOption('--message <text>', 'why')
    .action(async (id: string, o: { as?: string; config?: string; message: string }, cmd: Command) => {
      printJson(
        await withEngine(cmd, o.config, async (e) =>
          e.workflows.tasks.decide(await actingHuman(e.store, o.as), id, {
            decision: 'reject',
            message: o.message,
          }),
        ),
      );
    });
}
