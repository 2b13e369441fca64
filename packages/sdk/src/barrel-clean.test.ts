import fs from 'node:fs';
import { builtinModules } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const dist = fileURLToPath(new URL('../dist/', import.meta.url));

/** Every module the built SDK imports, following relative imports from the entry. */
function importsOf(file: string, seen = new Set<string>()): string[] {
  if (seen.has(file)) return [];
  seen.add(file);
  const text = fs.readFileSync(file, 'utf8');
  const specs = [
    ...text.matchAll(/(?:import|export)[^'"]*from\s*['"]([^'"]+)['"]|import\(\s*['"]([^'"]+)['"]\s*\)/g),
  ].map((m) => (m[1] ?? m[2]) as string);
  return specs.flatMap((s) =>
    s.startsWith('.') ? [s, ...importsOf(path.resolve(path.dirname(file), s), seen)] : [s],
  );
}

describe('the SDK bundle', () => {
  it('imports no Node built-in module, so it runs in a browser', () => {
    const specs = importsOf(path.join(dist, 'index.js'));
    expect(specs.length).toBeGreaterThan(0);
    const builtins = new Set([...builtinModules, ...builtinModules.map((m) => `node:${m}`)]);
    expect(specs.filter((s) => builtins.has(s) || s.startsWith('node:'))).toEqual([]);
  });
});
