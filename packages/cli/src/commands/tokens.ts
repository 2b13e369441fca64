import type { Command } from 'commander';
import { UserError, parseExpiry } from '@autonomy-os/core';
import { cliActor, printJson, printTable, withStore } from '../context.js';

/** `aos tokens …`: API tokens for agents and humans. */
export function registerTokens(program: Command): void {
  const tokens = program.command('tokens').description('issue, list, verify and revoke API tokens');

  tokens
    .command('issue')
    .description('issue a token for an agent or a human; the token is printed once and stored only as a hash')
    .option('--agent <id>', 'the agent it speaks for')
    .option('--human <id>', 'the human it speaks for')
    .option('--name <text>', 'a label, e.g. laptop or ci')
    .option('--expires <when>', 'expiry: 30d, 12h, 45m or an ISO date')
    .option('--json', 'print JSON')
    .action(
      async (
        o: { agent?: string; human?: string; name?: string; expires?: string; json?: boolean },
        cmd: Command,
      ) => {
        if (!!o.agent === !!o.human)
          throw new UserError('give exactly one of --agent or --human', { field: 'subject' });
        const expiresAt = o.expires ? parseExpiry(o.expires) : undefined;
        const { token, info } = await withStore(cmd, (s) =>
          s.tokens.issue(
            {
              subjectType: o.agent ? 'agent' : 'human',
              subjectId: (o.agent ?? o.human) as string,
              ...(o.name ? { name: o.name } : {}),
              ...(expiresAt ? { expiresAt } : {}),
            },
            cliActor(),
          ),
        );
        if (o.json) printJson({ token, ...info });
        else {
          process.stdout.write(`${token}\n`);
          process.stderr.write(
            `token ${info.id} for ${info.subjectType} ${info.subjectId}; it is shown only now\n`,
          );
        }
      },
    );

  tokens
    .command('list')
    .description('list tokens (never their secrets)')
    .option('--agent <id>', "only this agent's")
    .option('--human <id>', "only this human's")
    .option('--json', 'print JSON')
    .action(async (o: { agent?: string; human?: string; json?: boolean }, cmd: Command) => {
      const filter = o.agent
        ? { subjectType: 'agent' as const, subjectId: o.agent }
        : o.human
          ? { subjectType: 'human' as const, subjectId: o.human }
          : {};
      const list = await withStore(cmd, (s) => s.tokens.list(filter));
      if (o.json) printJson(list);
      else
        printTable(list as unknown as Record<string, unknown>[], [
          'id',
          'subjectType',
          'subjectId',
          'name',
          'expiresAt',
          'revokedAt',
        ]);
    });

  tokens
    .command('revoke')
    .description('revoke a token by id (tok_…); effective on the next request')
    .argument('<tokenId>', 'token id')
    .option('--json', 'print JSON')
    .action(async (id: string, o: { json?: boolean }, cmd: Command) => {
      const info = await withStore(cmd, (s) => s.tokens.revoke(id, cliActor()));
      if (o.json) printJson(info);
      else process.stdout.write(`revoked ${info.id} (${info.subjectType} ${info.subjectId})\n`);
    });

  tokens
    .command('verify')
    .description('check a token: prints whom it speaks for, or why it is refused')
    .argument('<token>', 'the aos_… token')
    .option('--json', 'print JSON')
    .action(async (token: string, o: { json?: boolean }, cmd: Command) => {
      const info = await withStore(cmd, async (s) => {
        try {
          return await s.tokens.verify(token);
        } catch (err) {
          throw new UserError((err as Error).message, { field: 'token' });
        }
      });
      if (o.json) printJson(info);
      else process.stdout.write(`valid: ${info.id} for ${info.subjectType} ${info.subjectId}\n`);
    });
}
