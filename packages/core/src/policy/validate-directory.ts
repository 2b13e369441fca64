import fs from 'node:fs';
import path from 'node:path';
import { parseDurationSec } from '../config/duration.js';
import { UserError } from '../errors.js';
import { loadCedarPolicies } from './cedar/index.js';
import type { CedarPolicy } from './cedar/index.js';
import { policyBundleFromTexts, readCedarFiles } from './policy-bundle.js';
import { typeCheckPolicies } from './type-check.js';
import type { PolicyProblem, PolicyTool } from './type-check.js';

/** Counts for one of the two policy sets. */
export interface PolicySetSummary {
  files: number;
  permit: number;
  forbid: number;
}

export type { PolicyProblem } from './type-check.js';

/** Options of {@link validatePolicyDirectory}. */
export interface PolicyValidationOptions {
  /**
   * The tools the set will decide for (from a tools file or aos.yaml): when given, policies are type-checked against
   * the schema of the engine's requests for them ({@link typeCheckPolicies}), and a policy that can fail to evaluate
   * on valid input is an error.
   */
  tools?: readonly PolicyTool[] | undefined;
}

/** What {@link validatePolicyDirectory} found. */
export interface PolicyValidationReport {
  ok: boolean;
  dir: string;
  /** The policy hash decisions would record; only when the set loads. */
  hash?: string;
  permits: PolicySetSummary;
  approvals: PolicySetSummary;
  /** Problems that stop the set from loading or make a rule fail at decision time. */
  errors: PolicyProblem[];
  /** Things that load but probably do not do what was meant. */
  warnings: PolicyProblem[];
  /** How many tools the policies were type-checked against; absent when no tools were given (not type-checked). */
  typeCheckedTools?: number;
}

const APPROVAL_ANNOTATIONS = ['approvers', 'quorum', 'expires', 'escalate', 'barOwner'];

function approvalProblems(p: CedarPolicy): string[] {
  const a = p.annotations;
  const out: string[] = [];
  if (a.quorum !== undefined && !/^\d{1,3}$/.test(a.quorum.trim()))
    out.push(`@quorum("${a.quorum}") is not a whole number`);
  else if (a.quorum !== undefined && (Number(a.quorum) < 1 || Number(a.quorum) > 100)) {
    out.push(`@quorum("${a.quorum}") must be 1 to 100`);
  }
  if (a.expires !== undefined) {
    try {
      parseDurationSec(a.expires, '@expires');
    } catch (err) {
      out.push((err as Error).message);
    }
  }
  if (a.approvers !== undefined && a.approvers.trim() === '') out.push('@approvers is empty');
  return out;
}

/**
 * Loads a policy directory the way `aos serve` would, but reports every problem instead of stopping at the first:
 * parse errors, templates and constructs the evaluator does not support (per file), duplicate ids, and approval
 * annotations that would fail or be ignored (`@quorum` not 1-100, `@expires` not a duration, approval annotations
 * on permit/forbid policies, where they have no effect), and, given the tools, every policy that can fail to evaluate
 * on input their schemas accept. A missing directory is a {@link UserError}.
 */
export function validatePolicyDirectory(
  dir: string,
  options: PolicyValidationOptions = {},
): PolicyValidationReport {
  if (!fs.existsSync(dir) || !fs.statSync(dir).isDirectory()) {
    throw new UserError(`policy directory ${dir} does not exist`, { field: 'policies' });
  }
  const permitFiles = readCedarFiles(dir);
  const approvalFiles = readCedarFiles(path.join(dir, 'approvals'));
  const errors: PolicyProblem[] = [];
  const warnings: PolicyProblem[] = [];
  const summarize = (files: { file: string; text: string }[], approvals: boolean): PolicySetSummary => {
    const s: PolicySetSummary = { files: files.length, permit: 0, forbid: 0 };
    for (const f of files) {
      const file = approvals ? `approvals/${f.file}` : f.file;
      let policies: CedarPolicy[];
      try {
        policies = loadCedarPolicies([{ file, text: f.text }]).policies;
      } catch (err) {
        const message = (err as Error).message;
        errors.push({
          file,
          message: message.startsWith(`${file}: `) ? message.slice(file.length + 2) : message,
        });
        continue;
      }
      for (const p of policies) {
        s[p.effect] += 1;
        if (approvals) {
          for (const message of approvalProblems(p)) errors.push({ file, policy: p.id, message });
        } else {
          const misplaced = APPROVAL_ANNOTATIONS.filter((k) => k in p.annotations);
          if (misplaced.length > 0) {
            warnings.push({
              file,
              policy: p.id,
              message: `${misplaced.map((k) => `@${k}`).join(', ')} only take effect on approval rules (approvals/*.cedar)`,
            });
          }
        }
      }
    }
    return s;
  };
  const permits = summarize(permitFiles, false);
  const approvals = summarize(approvalFiles, true);
  let hash: string | undefined;
  if (errors.length === 0) {
    try {
      const bundle = policyBundleFromTexts(permitFiles, approvalFiles, dir);
      if (options.tools) {
        const checked = typeCheckPolicies(bundle, options.tools);
        errors.push(...checked.errors);
        warnings.push(...checked.warnings);
      }
      if (errors.length === 0) hash = bundle.hash;
    } catch (err) {
      // Problems that only show across files, such as an id used in two of them.
      errors.push({ file: dir, message: (err as Error).message });
    }
  }
  return {
    ok: errors.length === 0,
    dir,
    ...(hash ? { hash } : {}),
    permits,
    approvals,
    errors,
    warnings,
    ...(options.tools ? { typeCheckedTools: options.tools.length } : {}),
  };
}
