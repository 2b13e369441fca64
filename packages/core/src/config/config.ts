import fs from 'node:fs';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import { UserError } from '../errors.js';
import { parseInput } from '../validation.js';

/** The `aos.yaml` file. Every section is optional; unknown keys are errors (typos must not pass silently). */
export const configSchema = z
  .object({
    server: z
      .object({
        host: z.string().min(1).default('127.0.0.1'),
        port: z.number().int().min(0).max(65535).default(7420),
        /** Largest request body in bytes. */
        bodyLimit: z
          .number()
          .int()
          .min(1024)
          .max(64 * 1024 * 1024)
          .default(1024 * 1024),
      })
      .strict()
      .default({ host: '127.0.0.1', port: 7420, bodyLimit: 1024 * 1024 }),
    oidc: z
      .object({
        issuer: z.string().url(),
        audience: z.string().min(1),
        jwksUri: z.string().url().optional(),
        subjectClaim: z.string().min(1).optional(),
        algorithms: z.array(z.string()).min(1).optional(),
      })
      .strict()
      .optional(),
  })
  .strict();

/** A validated configuration. */
export type AosConfig = z.infer<typeof configSchema>;

/** The JSON Schema of `aos.yaml`, published for editors and CI checks. */
export function configJsonSchema(): unknown {
  return z.toJSONSchema(configSchema, { io: 'input' });
}

/** Validates a parsed config object; errors name the path (e.g. `config.server.port`). */
export function parseConfig(raw: unknown): AosConfig {
  return parseInput(configSchema, raw ?? {}, 'config');
}

/** Reads and validates a YAML (or JSON) config file. */
export function loadConfigFile(file: string): AosConfig {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (err) {
    throw new UserError(`cannot read ${file} (${(err as NodeJS.ErrnoException).code ?? 'error'})`, {
      field: 'config',
    });
  }
  let raw: unknown;
  try {
    raw = parseYaml(text);
  } catch (err) {
    throw new UserError(`${file} is not valid YAML: ${(err as Error).message.split('\n')[0]}`, {
      field: 'config',
    });
  }
  return parseConfig(raw);
}
