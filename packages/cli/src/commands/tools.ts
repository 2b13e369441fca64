import type { Command } from 'commander';
import { EncryptedFileSecretStore, assertSecretName, UserError } from '@autonomy-os/core';
import { cliActor, globals, printJson, printTable, withEngine } from '../context.js';

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of process.stdin) chunks.push(c as Buffer);
  return Buffer.concat(chunks)
    .toString('utf8')
    .replace(/\r?\n$/, '');
}

/** `aos tools …` and `aos secrets …`: the tool registry and connector credentials. */
export function registerTools(program: Command): void {
  const tools = program
    .command('tools')
    .description('list tools, sync them from connectors, approve changed definitions');

  tools
    .command('list')
    .description('pinned tools with their status and governance metadata')
    .option('--config <file>', 'aos.yaml (for per-tool settings)')
    .option('--json', 'print JSON')
    .action(async (o: { config?: string; json?: boolean }, cmd: Command) => {
      const list = await withEngine(cmd, o.config, (e) => Promise.resolve(e.tools.list()));
      if (o.json) printJson(list);
      else
        printTable(
          list.map((t) => ({
            ...t,
            effect: t.metadata.effect,
            risk: t.metadata.risk,
            hash: t.definitionHash.slice(0, 12),
          })),
          ['name', 'status', 'effect', 'risk', 'cost', 'hash'],
        );
    });

  tools
    .command('sync')
    .description("list every connector's tools now: pin new ones, quarantine changed ones")
    .requiredOption('--config <file>', 'aos.yaml with the connectors')
    .option('--json', 'print JSON')
    .action(async (o: { config: string; json?: boolean }, cmd: Command) => {
      const res = await withEngine(cmd, o.config, (e) => e.tools.sync(cliActor()));
      if (o.json) printJson(res);
      else
        process.stdout.write(
          `registered ${res.registered.length}, quarantined ${res.quarantined.length}${res.quarantined.length ? ` (${res.quarantined.join(', ')})` : ''}, unreachable ${res.unreachable.length}\n`,
        );
    });

  tools
    .command('approve')
    .description("approve a quarantined tool's new definition, which becomes the pinned one")
    .argument('<name>', 'tool name (<connector>.<tool>)')
    .action(async (name: string, _o: unknown, cmd: Command) => {
      const t = await withEngine(cmd, undefined, (e) => e.tools.approveDefinition(name, cliActor()));
      process.stdout.write(`${t.name} is ${t.status}; pinned ${t.definitionHash}\n`);
    });

  const secrets = program
    .command('secrets')
    .description('connector credentials in the encrypted secrets file (AES-256-GCM)');
  const open = (cmd: Command) => EncryptedFileSecretStore.open({ dataDir: globals(cmd).data });
  secrets
    .command('set')
    .description('store a secret; the value is read from standard input (or --value), never echoed')
    .argument('<name>', 'secret name, referenced as ${secret:NAME} in aos.yaml')
    .option('--value <v>', 'the value (prefer standard input: command lines end up in shell history)')
    .action(async (name: string, o: { value?: string }, cmd: Command) => {
      assertSecretName(name, 'name');
      const value = o.value ?? (await readStdin());
      if (!value) throw new UserError('is empty', { field: 'value' });
      await (await open(cmd)).set(name, value);
      process.stdout.write(`stored secret ${name}\n`);
    });
  secrets
    .command('list')
    .description('secret names (never values)')
    .action(async (_o: unknown, cmd: Command) => {
      for (const n of await (await open(cmd)).listNames()) process.stdout.write(`${n}\n`);
    });
  secrets
    .command('delete')
    .description('remove a secret')
    .argument('<name>', 'secret name')
    .action(async (name: string, _o: unknown, cmd: Command) => {
      const removed = await (await open(cmd)).delete(name);
      process.stdout.write(removed ? `deleted ${name}\n` : `no secret ${name}\n`);
    });
}
