#!/usr/bin/env node
import { CommanderError } from 'commander';
import { AosError, UserError } from '@autonomy-os/core';
import { buildProgram } from './program.js';

/** One line on stderr; exit 2 for the caller's mistakes, 1 for everything else. */
function fail(err: unknown): never {
  if (err instanceof CommanderError) {
    // Help and version "errors" are successes; commander has already printed its message.
    process.exit(err.exitCode === 0 ? 0 : 2);
  }
  if (err instanceof UserError) {
    process.stderr.write(`aos: error: ${err.message}\n`);
    process.exit(2);
  }
  if (err instanceof AosError) {
    process.stderr.write(`aos: error: ${err.message}\n`);
    process.exit(1);
  }
  process.stderr.write(`aos: internal error: ${(err as Error)?.message ?? String(err)}\n`);
  process.exit(1);
}

buildProgram().parseAsync(process.argv).catch(fail);
