import { createRequire } from 'node:module';

/** The installed version of the `aos` command. */
export const VERSION: string = (createRequire(import.meta.url)('../package.json') as { version: string })
  .version;
