import type { Command } from 'commander';
import { DEFAULT_ACCESS_GROUPS, loadConfigFile } from '@autonomy-os/core';
import { cliActor, globals, printJson, withStore } from '../context.js';

/** `aos init`: create the data directory, database schema and audit signing key; optionally a first admin. */
export function registerInit(program: Command): void {
  program
    .command('init')
    .description('create the data directory, apply migrations and create the audit signing key')
    .option('--admin <id>', 'also add this human to the admins group and issue them a token')
    .option('--config <file>', "aos.yaml: its groups.admins names the admins group (default 'admins')")
    .option('--json', 'print JSON')
    .action(async (o: { admin?: string; config?: string; json?: boolean }, cmd: Command) => {
      const g = globals(cmd);
      const admins = o.config ? loadConfigFile(o.config).groups.admins : DEFAULT_ACCESS_GROUPS.admins;
      const out = await withStore(cmd, async (s) => {
        const key = s.signingKey();
        let admin: { id: string; token: string } | undefined;
        if (o.admin) {
          const existing = await s.humans.get(o.admin);
          if (!existing) await s.humans.add({ id: o.admin, groups: [admins] }, cliActor());
          const { token } = await s.tokens.issue(
            { subjectType: 'human', subjectId: o.admin, name: 'init' },
            cliActor(),
          );
          admin = { id: o.admin, token };
        }
        return {
          dataDir: s.dataDir,
          database: g.databaseUrl ? 'postgres' : 'sqlite',
          auditKeyId: key.keyId,
          ...(admin ? { admin } : {}),
        };
      });
      if (o.json) printJson(out);
      else {
        process.stdout.write(
          `initialised ${out.dataDir} (${out.database}); audit key ${out.auditKeyId.slice(0, 16)}…\n`,
        );
        if (out.admin) process.stdout.write(`admin ${out.admin.id} token (shown once): ${out.admin.token}\n`);
      }
    });
}
