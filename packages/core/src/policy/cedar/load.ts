import * as cedar from '@cedar-policy/cedar-wasm/nodejs';
import { hashJson } from '../../crypto/canonical-json.js';
import { SystemError, UserError } from '../../errors.js';
import { rememberCompiled } from './authorize.js';
import { compilePolicy } from './compile.js';
import type { CedarPolicy, CedarPolicySet } from './types.js';

/** One Cedar source file. */
export interface CedarSource {
  file: string;
  text: string;
}

function lineOf(text: string, byteOffset: number): number {
  // cedar reports offsets in UTF-8 bytes.
  const prefix = Buffer.from(text, 'utf8').subarray(0, byteOffset).toString('utf8');
  return prefix.split('\n').length;
}

function describeErrors(text: string, errors: cedar.DetailedError[]): string {
  return errors
    .map((e) => {
      const loc = e.sourceLocations?.[0];
      const where = loc ? `line ${lineOf(text, loc.start)}: ` : '';
      return `${where}${e.message}${e.help ? ` (${e.help})` : ''}`;
    })
    .join('; ');
}

/**
 * Splits a file into its policies in file order. cedar-wasm returns them sorted by their generated ids
 * (`policy0`, `policy1`, `policy10`, …), so the file order is the inverse of that lexicographic sort; the result is
 * checked against the text (each policy's source must follow the previous one) rather than trusted.
 */
function splitPolicies(file: string, text: string): string[] {
  const parts = cedar.policySetTextToParts(text);
  if (parts.type === 'failure') {
    throw new UserError(`cannot parse Cedar policies: ${describeErrors(text, parts.errors)}`, {
      field: file,
    });
  }
  if (parts.policy_templates.length > 0) {
    const first = parts.policy_templates[0] ?? '';
    throw new UserError(`templates (policies with ?principal/?resource slots) are not supported: ${first}`, {
      field: file,
    });
  }
  const n = parts.policies.length;
  const sortedIds = Array.from({ length: n }, (_, i) => `policy${i}`).sort();
  const ordered = new Array<string>(n);
  sortedIds.forEach((id, k) => {
    ordered[Number(id.slice('policy'.length))] = parts.policies[k] as string;
  });
  let pos = 0;
  for (const p of ordered) {
    const at = text.indexOf(p, pos);
    if (at < 0) throw new SystemError(`cannot determine the order of the policies in ${file}`);
    pos = at + p.length;
  }
  return ordered;
}

/**
 * Parses Cedar policy files with cedar-wasm into Cedar's JSON policy format and compiles each policy for the
 * TypeScript evaluator. A policy's id is its `@id("…")` annotation, else `<file>#<index>` (0-based within the file).
 *
 * Throws `UserError` (with `field` = the file or `policy <id>`) on syntax errors, duplicate ids, templates, and any
 * construct the evaluator does not implement, so a policy is never evaluated by guesswork.
 *
 * @example
 * const set = loadCedarPolicies([{ file: 'base.cedar', text: '@id("allow-all") permit(principal, action, resource);' }]);
 * set.policies[0].id // 'allow-all'
 */
export function loadCedarPolicies(sources: readonly CedarSource[]): CedarPolicySet {
  const policies: CedarPolicy[] = [];
  const seen = new Map<string, string>();
  for (const { file, text } of sources) {
    splitPolicies(file, text).forEach((policyText, index) => {
      const parsed = cedar.policyToJson(policyText);
      if (parsed.type === 'failure') {
        throw new UserError(`cannot parse policy #${index}: ${describeErrors(policyText, parsed.errors)}`, {
          field: file,
        });
      }
      const est = parsed.json;
      const annotations: Record<string, string> = {};
      for (const [k, v] of Object.entries(est.annotations ?? {})) annotations[k] = (v as string | null) ?? '';
      const id = annotations['id'] ?? `${file}#${index}`;
      const previous = seen.get(id);
      if (previous !== undefined) {
        throw new UserError(`duplicate policy id '${id}' (also in ${previous})`, { field: file });
      }
      seen.set(id, file);
      policies.push({ id, effect: est.effect, annotations, est, file });
    });
  }
  const compiled = policies.map((p) => compilePolicy(p.id, p.est));
  const hash = hashJson(
    [...policies]
      .sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0))
      .map((p) => ({ id: p.id, est: p.est, annotations: p.annotations })),
  );
  const set: CedarPolicySet = { policies, hash };
  rememberCompiled(set, compiled);
  return set;
}
