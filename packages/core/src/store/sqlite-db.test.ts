import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { SqliteDb } from './sqlite-db.js';

describe('SqliteDb', () => {
  it.skipIf(process.platform === 'win32')(
    'creates the database and its -wal and -shm files readable by the owner only (0600), as the key files',
    async () => {
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'aos-perm-'));
      const file = path.join(dir, 'aos.db');
      const old = process.umask(0o022);
      try {
        const db = new SqliteDb(file);
        await db.run('CREATE TABLE t (x INTEGER)');
        await db.run('INSERT INTO t VALUES (1)');
        for (const f of [file, `${file}-wal`, `${file}-shm`])
          expect((fs.statSync(f).mode & 0o777).toString(8)).toBe('600');
        await db.close();
      } finally {
        process.umask(old);
        fs.rmSync(dir, { recursive: true, force: true });
      }
    },
  );
});
