import fs from 'node:fs';
import path from 'node:path';
import { UserError } from '@autonomy-os/core';

/**
 * One `aos serve` per SQLite data directory: a second server on the same file would mistake the first one's
 * in-flight actions for orphans. Several nodes need PostgreSQL. A lock left by a dead process is taken over.
 */
export function lockDataDir(dataDir: string): () => void {
  const file = path.join(dataDir, 'serve.lock');
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      fs.writeFileSync(file, String(process.pid), { flag: 'wx' });
      return () => fs.rmSync(file, { force: true });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      const pid = Number(fs.readFileSync(file, 'utf8'));
      let alive = false;
      try {
        process.kill(pid, 0);
        alive = pid !== process.pid;
      } catch {
        alive = false;
      }
      if (alive) {
        throw new UserError(
          `another aos serve (pid ${pid}) is using ${dataDir}; use --database-url for several nodes`,
          { field: 'data' },
        );
      }
      fs.rmSync(file, { force: true });
    }
  }
  throw new UserError(`cannot lock ${dataDir}`, { field: 'data' });
}
