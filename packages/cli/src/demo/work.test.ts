import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { agentsOf, loadOrganisation } from './organisation.js';
import { SCENARIO, expectedTotals, itemAt } from './work.js';

const demoDir = fileURLToPath(new URL('../../../../examples/demo', import.meta.url));

describe('the demo work stream', () => {
  it('starts with the scenario, then generates the same items from the same seed', () => {
    for (const [i, item] of SCENARIO.entries()) expect(itemAt(i, 42)).toBe(item);
    const a = Array.from({ length: 200 }, (_, i) => itemAt(SCENARIO.length + i, 42));
    const b = Array.from({ length: 200 }, (_, i) => itemAt(SCENARIO.length + i, 42));
    const c = Array.from({ length: 200 }, (_, i) => itemAt(SCENARIO.length + i, 7));
    expect(b).toEqual(a);
    expect(c).not.toEqual(a);
    expect(new Set(a.map((x) => x.kind))).toEqual(
      new Set(['invoice', 'ticket', 'change', 'shortcut', 'library']),
    );
  });

  it('gives every item its own id (the id keys its run and its idempotency keys)', () => {
    const ids = Array.from({ length: 500 }, (_, i) => itemAt(i, 42).id);
    expect(new Set(ids).size).toBe(ids.length);
  });

  it('sums what the scenario expects', () => {
    expect(expectedTotals()).toEqual({ allowed: 22, approved: 3, denied: 3, completed: 3, compensated: 1 });
  });
});

describe('organisation.yaml', () => {
  it('loads the demo organisation: every department has agents, every owner is one of the humans', () => {
    const org = loadOrganisation(path.join(demoDir, 'organisation.yaml'));
    const agents = agentsOf(org);
    expect(new Set(agents.map((a) => a.department))).toEqual(new Set(['finance', 'support', 'engineering']));
    expect(new Set(agents.map((a) => a.tier))).toEqual(new Set([0, 1, 2, 3]));
  });

  it.each([
    [
      'an owner who is not one of the humans',
      'owner: fiona',
      'owner: nobody',
      /organisation\.departments\.finance\.agents/,
    ],
    [
      'a tier out of range',
      'tier: 2, owner: fiona',
      'tier: 4, owner: fiona',
      /organisation\.departments\.finance\.agents\.2\.tier/,
    ],
    ['an unknown key', 'departments:', 'departmnts:', /organisation/],
  ])('refuses %s, naming the field', (_what, from, to, message) => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'aos-org-'));
    try {
      const file = path.join(dir, 'organisation.yaml');
      fs.writeFileSync(
        file,
        fs.readFileSync(path.join(demoDir, 'organisation.yaml'), 'utf8').replace(from, to),
      );
      expect(() => loadOrganisation(file)).toThrow(message);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
