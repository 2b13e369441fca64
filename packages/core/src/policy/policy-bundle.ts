import fs from 'node:fs';
import path from 'node:path';
import { hashJson } from '../crypto/canonical-json.js';
import { UserError } from '../errors.js';
import { loadCedarPolicies } from './cedar/index.js';
import type { CedarPolicySet } from './cedar/index.js';

/** The version of the built-in rules (tier rules, environments, risk); part of every policy hash. */
export const BUILTIN_RULES_VERSION = 'aos-builtin/1';

/**
 * The policies in force: permit/forbid policies, approval rules (a second Cedar set whose matching permits mean
 * "needs approval", and whose matching forbids exempt), and the content hash that names this exact version.
 */
export interface PolicyBundle {
  permits: CedarPolicySet;
  approvals: CedarPolicySet;
  /** SHA-256 over both sets' hashes and the built-in rules version. */
  hash: string;
  /** Where it was loaded from, for messages. */
  source: string;
}

/** The `*.cedar` files directly in `dir`, sorted by name; none when it does not exist. */
export function readCedarFiles(dir: string): { file: string; text: string }[] {
  if (!fs.existsSync(dir)) return [];
  return fs
    .readdirSync(dir, { withFileTypes: true })
    .filter((e) => e.isFile() && e.name.endsWith('.cedar'))
    .map((e) => e.name)
    .sort()
    .map((name) => ({ file: name, text: fs.readFileSync(path.join(dir, name), 'utf8') }));
}

/** Builds a bundle from policy texts (used by tests and by the directory loader). */
export function policyBundleFromTexts(
  permits: { file: string; text: string }[],
  approvals: { file: string; text: string }[] = [],
  source = 'inline',
): PolicyBundle {
  const p = loadCedarPolicies(permits);
  const a = loadCedarPolicies(approvals.map((f) => ({ file: `approvals/${f.file}`, text: f.text })));
  return {
    permits: p,
    approvals: a,
    hash: hashJson({ permits: p.hash, approvals: a.hash, builtin: BUILTIN_RULES_VERSION }),
    source,
  };
}

/**
 * Loads `<dir>/*.cedar` (permit/forbid) and `<dir>/approvals/*.cedar` (approval rules). A missing directory is an
 * error; an empty one means every action is denied (default deny).
 */
export function loadPolicyDirectory(dir: string): PolicyBundle {
  if (!fs.existsSync(dir) || !fs.statSync(dir).isDirectory()) {
    throw new UserError(`policy directory ${dir} does not exist`, { field: 'policies' });
  }
  return policyBundleFromTexts(readCedarFiles(dir), readCedarFiles(path.join(dir, 'approvals')), dir);
}

/** A bundle with no policies: everything is denied. */
export function emptyPolicyBundle(): PolicyBundle {
  return policyBundleFromTexts([], [], 'none');
}
