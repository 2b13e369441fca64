import fs from 'node:fs';
import type { Command } from 'commander';
import { UserError, exportBundle, parseCheckpoint, verifyBundle } from '@autonomy-os/core';
import type { AuditVerifyReport } from '@autonomy-os/core';
import { printJson, printTable, withStore } from '../context.js';

function readFile(file: string, field: string): string {
  try {
    return fs.readFileSync(file, 'utf8');
  } catch (err) {
    throw new UserError(`cannot read ${file} (${(err as NodeJS.ErrnoException).code ?? 'error'})`, { field });
  }
}

/** Writes a file atomically: a crash leaves the old file or the new one, never half of one. */
function writeFileAtomic(file: string, text: string): void {
  const tmp = `${file}.${process.pid}.tmp`;
  try {
    fs.writeFileSync(tmp, text, { mode: 0o644 });
    fs.renameSync(tmp, file);
  } catch (err) {
    fs.rmSync(tmp, { force: true });
    throw new UserError(`cannot write ${file} (${(err as NodeJS.ErrnoException).code ?? 'error'})`, {
      field: 'out',
    });
  }
}

function report(r: AuditVerifyReport, json: boolean, what: string): void {
  if (json) printJson(r);
  else if (r.ok) {
    const cps = r.checkpoints.length ? `, ${r.checkpoints.length} checkpoint(s) ok` : '';
    const unsealed = r.unsealed ? `, ${r.unsealed} record(s) after the last checkpoint` : '';
    process.stdout.write(`${what} intact: ${r.verified} records verified${cps}${unsealed}\n`);
  } else {
    const bad = r.firstBad ?? r.checkpoints.find((c) => !c.ok);
    const reason = r.firstBad ? r.firstBad.reason : (bad as { reason?: string } | undefined)?.reason;
    process.stdout.write(
      `${what} BROKEN at record ${r.firstBad?.seq ?? '?'}: ${reason ?? 'unknown problem'}\n`,
    );
    for (const c of r.checkpoints.filter((x) => !x.ok)) {
      process.stdout.write(`  checkpoint ${c.treeSize} (${c.source}): ${c.reason}\n`);
    }
  }
  if (!r.ok) process.exitCode = 1;
}

/** `aos audit …`: verify, checkpoint, export and read the tamper-evident log. */
export function registerAudit(program: Command): void {
  const audit = program.command('audit').description('verify, checkpoint, export and read the audit log');

  audit
    .command('verify')
    .description('verify the hash chain and signed checkpoints; exits 1 naming the first bad record')
    .option('--json', 'print the report as JSON')
    .option(
      '--checkpoint <file...>',
      'also check against checkpoint files saved earlier (detects a truncated tail)',
    )
    .option('--bundle <file>', 'verify an exported bundle offline, without any database')
    .option('--key <file>', 'trust only checkpoints signed by this public key (PEM)')
    .action(
      async (o: { json?: boolean; checkpoint?: string[]; bundle?: string; key?: string }, cmd: Command) => {
        const trustedKey = o.key ? readFile(o.key, 'key') : undefined;
        if (o.bundle) {
          report(await verifyBundle(readFile(o.bundle, 'bundle'), trustedKey), !!o.json, 'bundle');
          return;
        }
        const extra = (o.checkpoint ?? []).map((f) => ({
          checkpoint: parseCheckpoint(readFile(f, 'checkpoint'), f),
          source: f,
        }));
        const r = await withStore(cmd, (s) =>
          s.audit.verify({ extra, ...(trustedKey ? { trustedKeyPem: trustedKey } : {}) }),
        );
        report(r, !!o.json, 'audit log');
      },
    );

  audit
    .command('checkpoint')
    .description('sign a checkpoint (Merkle root) over the log as it is now, store it, and save it to a file')
    .requiredOption('--out <file>', 'where to write the checkpoint JSON')
    .action(async (o: { out: string }, cmd: Command) => {
      const cp = await withStore(cmd, (s) => s.audit.checkpoint(s.signingKey()));
      writeFileAtomic(o.out, `${JSON.stringify(cp, null, 2)}\n`);
      process.stdout.write(
        `checkpoint of ${cp.treeSize} records, root ${cp.rootHash}, written to ${o.out}\n`,
      );
    });

  audit
    .command('export')
    .description(
      'export every record with a signed checkpoint, verifiable offline with audit verify --bundle',
    )
    .requiredOption('--out <file>', 'where to write the bundle JSON')
    .action(async (o: { out: string }, cmd: Command) => {
      const bundle = await withStore(cmd, (s) => exportBundle(s.audit, s.signingKey()));
      writeFileAtomic(o.out, JSON.stringify(bundle));
      process.stdout.write(`exported ${bundle.records.length} records to ${o.out}\n`);
    });

  audit
    .command('key')
    .description('print the audit signing public key (PEM), to pin with --key')
    .action(async (_o: unknown, cmd: Command) => {
      const pem = await withStore(cmd, (s) => Promise.resolve(s.signingKey().publicKeyPem));
      process.stdout.write(pem);
    });

  audit
    .command('list')
    .description('list audit records')
    .option('--subject <s>', 'only records about this subject, e.g. agent:bot-1')
    .option('--type <t>', 'only this event type, e.g. agent.created')
    .option('--after <seq>', 'only records after this sequence number', '0')
    .option('--limit <n>', 'at most this many', '100')
    .option('--json', 'print JSON')
    .action(
      async (
        o: { subject?: string; type?: string; after: string; limit: string; json?: boolean },
        cmd: Command,
      ) => {
        const records = await withStore(cmd, (s) =>
          s.audit.list({
            afterSeq: Number(o.after) || 0,
            limit: Number(o.limit) || 100,
            ...(o.subject ? { subject: o.subject } : {}),
            ...(o.type ? { type: o.type } : {}),
          }),
        );
        if (o.json) printJson(records);
        else
          printTable(records as unknown as Record<string, unknown>[], [
            'seq',
            'ts',
            'actor',
            'type',
            'subject',
          ]);
      },
    );
}
