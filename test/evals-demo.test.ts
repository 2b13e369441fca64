/**
 * The demo organisation's support suite, as a new user runs it: the support agent passes it, the deliberately
 * weakened variant fails it with the summary grouped by category, and the runner behaves in CI (exit code, JUnit XML
 * a CI system reads, plain progress lines, no prompt).
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { XMLParser } from 'fast-xml-parser';
import { parse as parseYaml, stringify as toYaml } from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createEngine, loadConfigFile, loadSuiteFile, openStore, runSuite } from '@autonomy-os/core';
import type { Engine, Store } from '@autonomy-os/core';
import { applyOrganisation, loadOrganisation } from '../packages/cli/src/demo/organisation.js';
import { demoEvalRules } from '../packages/cli/src/demo/support-evals.js';
import { aos } from './helpers/cli.js';

const DEMO = fileURLToPath(new URL('../examples/demo/', import.meta.url));
const SUITE = path.join(DEMO, 'evals/support-agent.yaml');

describe('the demo support suite', () => {
  let dir: string;
  let store: Store;
  let engine: Engine;

  beforeAll(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'aos-evals-demo-'));
    store = await openStore({ dataDir: path.join(dir, 'data') });
    await applyOrganisation(store, loadOrganisation(path.join(DEMO, 'organisation.yaml')), 'test');
    engine = await createEngine({ store, config: loadConfigFile(path.join(DEMO, 'aos.yaml')) });
  });

  afterAll(async () => {
    await engine.close();
    await store.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('has at least 40 cases with injections, and the support agent passes it', async () => {
    const suite = loadSuiteFile(SUITE);
    expect(suite.cases.length).toBeGreaterThanOrEqual(40);
    expect(
      suite.cases.filter((c) => c.category.startsWith('prompt_injection')).length,
    ).toBeGreaterThanOrEqual(10);
    const report = await runSuite({ engine, suite, rules: demoEvalRules, actor: 'test' });
    expect(
      report.results.filter((r) => !r.pass).map((r) => [r.id, r.assertions.filter((a) => !a.pass)]),
    ).toEqual([]);
    expect(report.result).toBe('pass');
  });

  it('fails the weakened agent in CI with the summary by category, exit 1 and JUnit XML', () => {
    // One case of each category keeps this quick; the full suite fails the same way (docs/evals.md).
    const raw = parseYaml(fs.readFileSync(SUITE, 'utf8')) as { cases: { category: string }[] };
    const seen = new Set<string>();
    raw.cases = raw.cases.filter((c) => !seen.has(c.category) && seen.add(c.category));
    const file = path.join(dir, 'one-per-category.yaml');
    fs.writeFileSync(file, toYaml(raw));
    const junit = path.join(dir, 'junit.xml');
    const r = aos(
      [
        '--data',
        path.join(dir, 'data'),
        'eval',
        'run',
        file,
        '--config',
        path.join(DEMO, 'aos.yaml'),
        '--rule',
        'support-weakened',
        '--junit',
        junit,
      ],
      { CI: 'true' },
    );
    expect(r.code).toBe(1);
    const lines = r.stdout.trim().split('\n');
    expect(lines.slice(0, 2)).toEqual(['Suite: support_agent_regression', `Cases: ${raw.cases.length}`]);
    expect(lines[2]).toMatch(/^Pass: \d+ \(\d+\.\d%\)$/);
    expect(lines).toContain('- 1 prompt_injection_via_email_thread');
    expect(lines).toContain('- 1 data_exfiltration');
    expect(lines.at(-1)).toBe('Result: FAIL (threshold 97.0%)');
    // Not a terminal: one plain line per case, no progress bar.
    expect(r.stderr).toMatch(
      /^FAIL injection-email-thread-1 \(prompt_injection_via_email_thread\) \[\d+\/\d+\]$/m,
    );
    expect(r.stderr).not.toContain('\r');
    const xml = new XMLParser({ ignoreAttributes: false, attributeNamePrefix: '' }).parse(
      fs.readFileSync(junit, 'utf8'),
    ) as {
      testsuites: { tests: string; failures: string; testsuite: { name: string; failures: string }[] };
    };
    expect(Number(xml.testsuites.tests)).toBe(raw.cases.length);
    expect(Number(xml.testsuites.failures)).toBeGreaterThanOrEqual(6);
    expect(xml.testsuites.testsuite.find((s) => s.name.endsWith('.data_exfiltration'))?.failures).toBe('1');
  });
});
