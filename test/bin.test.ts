import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const root = fileURLToPath(new URL('..', import.meta.url));
const bin = path.join(root, 'packages/cli/bin/aos.js');

describe('the aos bin entry', () => {
  it('is what the CLI package declares, so npm links it at install time before anything is built', () => {
    const pkg = JSON.parse(fs.readFileSync(path.join(root, 'packages/cli/package.json'), 'utf8')) as {
      bin: Record<string, string>;
      files: string[];
    };
    expect(pkg.bin.aos).toBe('./bin/aos.js');
    expect(pkg.files).toContain('bin');
    // Committed (not built): it exists in the checkout whether or not dist/ does, and is executable.
    expect(fs.statSync(bin).mode & 0o111).not.toBe(0);
    expect(fs.realpathSync(path.join(root, 'node_modules/.bin/aos'))).toBe(fs.realpathSync(bin));
  });

  it('runs the built CLI', () => {
    const res = spawnSync(process.execPath, [bin, '--version'], { encoding: 'utf8' });
    expect(res.status).toBe(0);
    expect(res.stdout.trim()).toMatch(/^\d+\.\d+\.\d+/);
  });

  it('says to build when the CLI is not built yet', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'aos-bin-'));
    try {
      fs.mkdirSync(path.join(dir, 'bin'));
      fs.copyFileSync(bin, path.join(dir, 'bin/aos.js'));
      fs.writeFileSync(path.join(dir, 'package.json'), '{"type":"module"}');
      const res = spawnSync(process.execPath, [path.join(dir, 'bin/aos.js'), '--version'], {
        encoding: 'utf8',
      });
      expect(res.status).toBe(1);
      expect(res.stderr).toContain('run npm run build');
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
