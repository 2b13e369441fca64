import type { Command } from 'commander';
import { UserError, checkPasswordStrength } from '@autonomy-os/core';
import { cliActor, printJson, printTable, withStore } from '../context.js';

/** The password in environment variable `name` (for scripts and containers that hold it there). */
export function readPasswordFromEnv(name: string): string {
  const password = process.env[name];
  if (password === undefined)
    throw new UserError(`environment variable ${name} is not set`, { field: 'password-env' });
  checkPasswordStrength(password);
  return password;
}

/**
 * The password piped to the command: all of standard input, less one trailing newline. Never an argument, so it
 * stays out of shell history and the process list; a terminal is refused rather than prompted (scripts hang on a
 * prompt, and an echo would show it).
 */
export async function readPasswordFromStdin(stdin: NodeJS.ReadStream = process.stdin): Promise<string> {
  if (stdin.isTTY)
    throw new UserError('pipe the password on standard input, e.g. `printf %s "$PW" | aos humans …`', {
      field: 'password',
    });
  const chunks: Buffer[] = [];
  for await (const c of stdin) chunks.push(typeof c === 'string' ? Buffer.from(c) : (c as Buffer));
  const password = Buffer.concat(chunks)
    .toString('utf8')
    .replace(/\r?\n$/, '');
  checkPasswordStrength(password);
  return password;
}

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
    .option('--password', 'set a sign-in password read from standard input (never an argument)')
    .option('--password-stdin', 'the same as --password')
    .option('--password-env <var>', 'set a sign-in password read from this environment variable')
    .option('--json', 'print JSON')
    .action(
      async (
        id: string,
        o: {
          name?: string;
          groups: string;
          json?: boolean;
          password?: boolean;
          passwordStdin?: boolean;
          passwordEnv?: string;
        },
        cmd: Command,
      ) => {
        const password = o.passwordEnv
          ? readPasswordFromEnv(o.passwordEnv)
          : o.password || o.passwordStdin
            ? await readPasswordFromStdin()
            : undefined;
        const human = await withStore(cmd, async (s) => {
          const h = await s.humans.add(
            {
              id,
              ...(o.name ? { displayName: o.name } : {}),
              groups: o.groups
                .split(',')
                .map((g) => g.trim())
                .filter(Boolean),
            },
            cliActor(),
          );
          if (password !== undefined) await s.humans.setPassword(h.id, password, cliActor());
          return h;
        });
        if (o.json) printJson(human);
        else printTable([human as unknown as Record<string, unknown>], ['id', 'displayName', 'groups']);
      },
    );

  humans
    .command('set-password')
    .description("set or replace a human's sign-in password, read from standard input")
    .argument('<id>', 'human id')
    .option('--password-env <var>', 'read it from this environment variable instead')
    .action(async (id: string, o: { passwordEnv?: string }, cmd: Command) => {
      const password = o.passwordEnv ? readPasswordFromEnv(o.passwordEnv) : await readPasswordFromStdin();
      await withStore(cmd, (s) => s.humans.setPassword(id, password, cliActor()));
      process.stdout.write(`password set for ${id}\n`);
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
