import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';

const src = (pkg: string, entry = 'index.ts') =>
  fileURLToPath(new URL(`./packages/${pkg}/src/${entry}`, import.meta.url));

export default defineConfig({
  resolve: {
    // Tests run against the sources, so one copy of each class is loaded (instanceof holds across packages).
    alias: [
      { find: /^@autonomy-os\/core$/, replacement: src('core') },
      { find: /^@autonomy-os\/server$/, replacement: src('server') },
      { find: /^@autonomy-os\/sdk$/, replacement: src('sdk') },
      { find: /^@autonomy-os\/sdk\/testing$/, replacement: src('sdk', 'testing/index.ts') },
    ],
  },
  test: {
    include: ['packages/*/src/**/*.test.ts', 'test/**/*.test.ts'],
    globalSetup: ['test/global-setup.ts'],
    testTimeout: 120_000,
    hookTimeout: 60_000,
    pool: 'forks',
  },
});
