import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { PG_URL, backends } from '../../../../test/helpers/backends.js';
import { openStore } from '../store/open-store.js';

const worker = fileURLToPath(new URL('../../../../test/fixtures/append-worker.mjs', import.meta.url));

function run(args: string[]): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [worker, ...args], { stdio: ['ignore', 'ignore', 'pipe'] });
    let err = '';
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), 110_000);
    child.on('exit', (code) => {
      clearTimeout(timer);
      if (code === 0) resolve();
      else reject(new Error(`writer exited ${code}: ${err}`));
    });
  });
}

describe('parallel audit writers', () => {
  it('two processes appending 1,000 records each to one SQLite file never fork the chain', async () => {
    const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'aos-par-'));
    try {
      await (await openStore({ dataDir })).close();
      await Promise.all([run([dataDir, '1000', 'p1']), run([dataDir, '1000', 'p2'])]);
      const store = await openStore({ dataDir });
      const report = await store.audit.verify();
      await store.close();
      expect(report).toMatchObject({ ok: true, verified: 2000, records: 2000 });
    } finally {
      fs.rmSync(dataDir, { recursive: true, force: true });
    }
  });

  it.skipIf(!PG_URL)(
    'eight PostgreSQL connections appending 1,000 records each never fork the chain',
    async () => {
      const t = await (backends.find((b) => b.name === 'postgres') as (typeof backends)[number]).create();
      const nodes = await Promise.all(Array.from({ length: 8 }, () => t.reopen()));
      try {
        await Promise.all(
          nodes.map(async (node, w) => {
            for (let i = 0; i < 1000; i++) {
              await node.audit.record({ actor: `operator:w${w}`, type: 'test.parallel', payload: { w, i } });
            }
          }),
        );
        const report = await t.store.audit.verify();
        expect(report).toMatchObject({ ok: true, verified: 8000, records: 8000 });
        const writers = new Set<string>();
        for await (const r of t.store.audit.all()) writers.add(r.actor);
        expect(writers.size).toBe(8);
      } finally {
        await Promise.all(nodes.map((n) => n.close()));
        await t.cleanup();
      }
    },
  );
});
