#!/usr/bin/env node
// The `aos` command as npm links it (node_modules/.bin/aos, `npx aos`): loads the built CLI. This file is committed
// so npm can link it at install time, before anything is built; the CLI itself is compiled to dist/ by the build.
import fs from 'node:fs';

const main = new URL('../dist/main.js', import.meta.url);
if (!fs.existsSync(main)) {
  process.stderr.write('aos: the CLI is not built yet: run npm run build (npm start builds it too)\n');
  process.exit(1);
}
await import(main.href);
