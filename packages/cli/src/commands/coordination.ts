import type { Command } from 'commander';
import { UserError } from '@autonomy-os/core';
import { actingHuman, printJson, printTable, withEngine } from '../context.js';

/** The local operator reads any run, as a human would. */
const OPERATOR = { kind: 'human' as const, id: 'operator' };

/** `aos runs context`, `aos runs messages` and `aos runs leases`: a run's coordination state (local store). */
export function registerCoordination(program: Command): void {
  const runs =
    program.commands.find((c) => c.name() === 'runs') ?? program.command('runs').description('workflow runs');

  runs
    .command('context')
    .description("print a run's shared context (every entry, or one KEY); --set writes KEY")
    .argument('<id>', 'run id')
    .argument('[key]', 'one entry')
    .option('--set <json>', 'write KEY with this JSON value')
    .option('--as <human>', 'the human the write is attributed to (required with --set)')
    .option('--expect-version <n>', 'fail unless KEY is at this version (0: must not exist)')
    .action(
      async (
        id: string,
        key: string | undefined,
        o: { set?: string; as?: string; expectVersion?: string },
        cmd: Command,
      ) => {
        await withEngine(cmd, undefined, async (e) => {
          const ctx = e.coordination.context;
          if (o.set === undefined) {
            printJson(key ? await ctx.get(id, key, OPERATOR) : { entries: await ctx.list(id, OPERATOR) });
            return;
          }
          if (!key) throw new UserError('is required with --set', { field: 'key' });
          let value: unknown;
          try {
            value = JSON.parse(o.set);
          } catch {
            throw new UserError('must be JSON', { field: 'set' });
          }
          let expectVersion: number | undefined;
          if (o.expectVersion !== undefined) {
            expectVersion = Number(o.expectVersion);
            if (!Number.isInteger(expectVersion) || expectVersion < 0)
              throw new UserError('must be a whole number', { field: 'expect-version' });
          }
          const human = await actingHuman(e.store, o.as);
          printJson(
            await ctx.write(
              { runId: id, key, value, ...(expectVersion !== undefined ? { expectVersion } : {}) },
              { kind: 'human', id: human.id },
            ),
          );
        });
      },
    );

  runs
    .command('messages')
    .description("print a run's messages between agents")
    .argument('<id>', 'run id')
    .action(async (id: string, _o: unknown, cmd: Command) => {
      printJson({
        messages: await withEngine(cmd, undefined, (e) => e.coordination.messages.forRun(id, OPERATOR)),
      });
    });

  runs
    .command('leases')
    .description('print held resource leases and the steps waiting for them (optionally one run’s)')
    .argument('[id]', 'run id')
    .option('--json', 'print JSON')
    .action(async (id: string | undefined, o: { json?: boolean }, cmd: Command) => {
      const filter = id ? { runId: id } : {};
      const view = await withEngine(cmd, undefined, async (e) => ({
        leases: await e.coordination.leases.list(filter),
        waiters: await e.coordination.leases.waiters(filter),
      }));
      if (o.json) printJson(view);
      else
        printTable(
          [
            ...view.leases.map((l) => ({
              key: l.key,
              state: 'held',
              holder: l.holder,
              priority: l.priority,
            })),
            ...view.waiters.map((w) => ({
              key: w.key,
              state: 'waiting',
              holder: w.holder,
              priority: w.priority,
            })),
          ],
          ['key', 'state', 'holder', 'priority'],
        );
    });
}
