// The false-positive rate of anomaly detection on the demo's normal traffic, over a longer synthetic run than the
// demo's own scenario: the actions a finished `aos demo --once --data DIR` recorded (agent, tool, outcome, whether
// the output was untrusted) are replayed as units of work through the detector with the default thresholds, on a
// synthetic clock: 28 days, weekdays 08:00-18:00 UTC, 10-60 units a day at random times. Nothing in it is an
// attack, so every anomaly raised is a false positive.
//
//   node packages/cli/dist/main.js --data /tmp/demo demo --once --json
//   node bench/anomaly-false-positives.js /tmp/demo [--days 28] [--seed 7]
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';
import { AnomalyDetector, anomaliesConfigSchema, openStore } from '@autonomy-os/core';

const args = process.argv.slice(2);
const demoData = args[0];
if (!demoData || !fs.existsSync(path.join(demoData, 'aos.db'))) {
  process.stderr.write(
    'usage: node bench/anomaly-false-positives.js <demo data dir> [--days N] [--seed N]\n',
  );
  process.exit(2);
}
const opt = (name, d) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? Number(args[i + 1]) : d;
};
const days = opt('days', 28);
let seed = opt('seed', 7);
const random = () => {
  // mulberry32: the same run from the same seed.
  seed = (seed + 0x6d2b79f5) | 0;
  let t = seed;
  t = Math.imul(t ^ (t >>> 15), t | 1);
  t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
};

const src = new Database(path.join(demoData, 'aos.db'), { readonly: true });
const tools = new Map(
  src
    .prepare('SELECT name, connector, definition_json FROM tools')
    .all()
    .map((t) => {
      const def = JSON.parse(t.definition_json);
      return [t.name, { connector: t.connector, effect: def.annotations?.readOnlyHint ? 'read' : 'write' }];
    }),
);
const unit = src
  .prepare('SELECT agent_id, tool, status, untrusted_output FROM actions ORDER BY created_at, id')
  .all();
src.close();

const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'aos-anomaly-fp-'));
const store = await openStore({ dataDir });
let now = 0;
const detector = new AnomalyDetector({
  db: store.db,
  audit: store.audit,
  config: anomaliesConfigSchema.parse({}),
  now: () => now,
});
const start = Date.parse('2026-01-05T00:00:00Z'); // a Monday
let calls = 0;
const raised = [];
for (let day = 0; day < days; day++) {
  const dow = (day % 7) + 1;
  if (dow > 5) continue;
  const units = 10 + Math.floor(random() * 51);
  const times = Array.from(
    { length: units },
    () => start + day * 86_400_000 + (8 + random() * 10) * 3_600_000,
  ).sort((a, b) => a - b);
  for (const t0 of times) {
    const tainted = new Set();
    let t = t0;
    for (const a of unit) {
      t += 1000 + random() * 4000;
      now = t;
      const tool = tools.get(a.tool) ?? { connector: a.tool.split('.')[0], effect: 'write' };
      const agent = { id: a.agent_id };
      const found = await store.db.tx(async (tx) => {
        const check = await detector.check(tx, {
          agent,
          tool: { name: a.tool, connector: tool.connector, effect: tool.effect },
          readUntrusted: tainted.has(a.agent_id),
        });
        const outcome =
          a.status === 'denied' ? 'deny' : a.status === 'pending_approval' ? 'approval' : 'allow';
        const out = await check.finish(tx, outcome, `act_${calls}`);
        if (a.status === 'failed')
          out.push(...(await detector.recordFailure(tx, a.agent_id, a.tool, `act_${calls}`)));
        return out;
      });
      calls++;
      if (a.untrusted_output) tainted.add(a.agent_id);
      raised.push(...found);
    }
  }
}
await store.close();
fs.rmSync(dataDir, { recursive: true, force: true });
const byKind = {};
for (const a of raised) byKind[a.kind] = (byKind[a.kind] ?? 0) + 1;
process.stdout.write(
  `${JSON.stringify({ days, calls, anomalies: raised.length, rate: raised.length / calls, byKind })}\n`,
);
