import { pathToFileURL } from 'node:url';
import { UserError } from '../errors.js';
import type { RuleHandler } from './step-runner.js';

/**
 * Imports the config's `rules` module: an ES module exporting `rules`, an object of named {@link RuleHandler}s.
 *
 * @example
 * // rules.mjs
 * export const rules = { 'invoice-extract': ({ input }) => ({ amount: input.amount }) };
 */
export async function loadRuleModule(file: string): Promise<Record<string, RuleHandler>> {
  let mod: { rules?: unknown };
  try {
    mod = (await import(pathToFileURL(file).href)) as { rules?: unknown };
  } catch (err) {
    throw new UserError(`cannot load rule module ${file}: ${(err as Error).message}`, {
      field: 'config.rules',
    });
  }
  const rules = mod.rules;
  if (!rules || typeof rules !== 'object')
    throw new UserError(`${file} must export 'rules', an object of handlers`, { field: 'config.rules' });
  for (const [name, fn] of Object.entries(rules)) {
    if (typeof fn !== 'function')
      throw new UserError(`rule '${name}' is not a function`, { field: `config.rules.${name}` });
  }
  return rules as Record<string, RuleHandler>;
}
