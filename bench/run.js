// `npm run bench [-- --quick] [-- --json] [-- --only audit,policy]`: runs the benchmark suites and prints a table.
// Every figure that has a baseline is also given as a ratio to it, measured in the same run on the same machine.
import fs from 'node:fs';
import { fileURLToPath } from 'node:url';
import { fmt } from './harness.js';
import * as audit from './suites/audit.js';
import * as consoleSuite from './suites/console.js';
import * as demo from './suites/demo.js';
import * as footprint from './suites/footprint.js';
import * as gateway from './suites/gateway.js';
import * as mcp from './suites/mcp.js';
import * as policy from './suites/policy.js';
import * as scheduler from './suites/scheduler.js';
import * as store from './suites/store.js';
import * as workflows from './suites/workflows.js';

const suites = [audit, store, policy, gateway, mcp, workflows, scheduler, demo, footprint, consoleSuite];

const args = new Set(process.argv.slice(2));
const quick = args.has('--quick');
const json = args.has('--json');
const onlyArg = process.argv.find((a) => a.startsWith('--only='));
const only = onlyArg ? new Set(onlyArg.slice('--only='.length).split(',')) : undefined;

const started = Date.now();
const results = [];
for (const suite of suites) {
  if (only && !only.has(suite.name)) continue;
  process.stderr.write(`bench: ${suite.name}${quick ? ' (quick)' : ''}…\n`);
  const t0 = Date.now();
  results.push(...(await suite.run({ quick })));
  process.stderr.write(`bench: ${suite.name} took ${((Date.now() - t0) / 1000).toFixed(1)} s\n`);
}

const rows = results.map((r) => [
  r.suite,
  r.backend ?? '-',
  r.metric,
  fmt(r.value),
  r.ratio === undefined ? '' : `${r.ratio.toFixed(2)}x`,
  r.note ?? '',
]);
const header = ['suite', 'backend', 'metric', 'value', 'vs baseline', 'note'];
const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => String(r[i]).length)));
const line = (cells) =>
  cells
    .map((c, i) => String(c).padEnd(widths[i]))
    .join('  ')
    .trimEnd();
process.stdout.write(`${line(header)}\n${line(widths.map((w) => '-'.repeat(w)))}\n`);
for (const r of rows) process.stdout.write(`${line(r)}\n`);
process.stdout.write(`\n${results.length} measurements in ${((Date.now() - started) / 1000).toFixed(1)} s\n`);

if (json) {
  const out = fileURLToPath(new URL('./results.json', import.meta.url));
  fs.writeFileSync(
    out,
    JSON.stringify({ at: new Date().toISOString(), quick, node: process.version, results }, null, 2),
  );
  process.stderr.write(`bench: wrote ${out}\n`);
}
