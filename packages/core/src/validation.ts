import type { z } from 'zod';
import { UserError } from './errors.js';

/**
 * Parses input with a zod schema; the first problem becomes a {@link UserError} that names the field
 * (dotted path), so every front reports bad input the same way.
 */
export function parseInput<S extends z.ZodType>(schema: S, input: unknown, prefix?: string): z.infer<S> {
  const result = schema.safeParse(input);
  if (result.success) return result.data;
  const issue = result.error.issues[0];
  const pathParts = [...(prefix ? [prefix] : []), ...(issue?.path ?? []).map(String)];
  const field = pathParts.length ? pathParts.join('.') : 'input';
  throw new UserError(issue?.message ?? 'invalid', { field });
}
