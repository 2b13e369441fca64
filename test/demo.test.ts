import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import Database from 'better-sqlite3';
import { afterEach, describe, expect, it } from 'vitest';
import { PG_URL } from './helpers/backends.js';
import { AOS_BIN, aos } from './helpers/cli.js';
import { startLiveDemo } from './helpers/demo.js';

const root = fileURLToPath(new URL('..', import.meta.url));

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs `aos` to its end, asynchronously (the scenario takes a while; the test process stays responsive). */
function aosAsync(args: string[], timeoutMs = 170_000): Promise<Run> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [AOS_BIN, ...args], {
      env: { ...process.env, AOS_DATABASE_URL: '', AOS_DATA: '' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

interface Summary {
  ok: boolean;
  actions: { allowed: number; approved: number; denied: number };
  runs: { completed: number; compensated: number };
  audit: { verified: boolean; records: number };
  checks: { name: string; ok: boolean; detail?: string }[];
}

function summaryOf(run: Run): Summary {
  const first = run.stdout.split('\n')[0] as string;
  try {
    return JSON.parse(first) as Summary;
  } catch {
    throw new Error(`no summary line (exit ${run.code}):\n${run.stdout}\n${run.stderr}`);
  }
}

const expectContract = (s: Summary) => {
  expect(typeof s.ok).toBe('boolean');
  for (const k of ['allowed', 'approved', 'denied'] as const) expect(typeof s.actions[k]).toBe('number');
  for (const k of ['completed', 'compensated'] as const) expect(typeof s.runs[k]).toBe('number');
  expect(typeof s.audit.verified).toBe('boolean');
  expect(typeof s.audit.records).toBe('number');
};

// Each scenario run starts a whole organisation in a child process: generous bounds for a loaded 2-core machine.
describe('aos demo --once --json', { timeout: 180_000 }, () => {
  it('runs the scenario headless on SQLite and exits 0 with every expectation held; aos report prints its table', async () => {
    const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'aos-demo-once-'));
    try {
      await scenarioOnSqlite(dataDir);
      // The demo's normal traffic raises no anomaly.
      const db = new Database(path.join(dataDir, 'aos.db'), { readonly: true });
      try {
        const anomalies = db
          .prepare("SELECT COUNT(*) AS n FROM audit_log WHERE type = 'anomaly.detected'")
          .get();
        expect(anomalies).toEqual({ n: 0 });
      } finally {
        db.close();
      }
      const table = aos(['--data', dataDir, 'report']);
      expect(table.code).toBe(0);
      const lines = table.stdout.split('\n');
      expect(lines[1]).toMatch(
        /^scope\s+name\s+runs\s+cycle p50\s+cycle p90\s+actions\s+allow\/appr\/deny\s+escalation\s+approval p50\s+cost\/run\s+cost\/change\s+eval cov\s+auditability$/,
      );
      for (const w of ['invoice-approval', 'change-request'])
        expect(table.stdout).toMatch(new RegExp(`^workflow\\s+${w}\\s`, 'm'));
      expect(table.stdout).toMatch(/^agent\s+support-bot\s/m);
      // No suite has run in the scenario, so none of its actions is covered by an evaluation yet: 0%, not n/a.
      expect(table.stdout).toMatch(/^total\s+all\s+4\s+.*\s28\s+22\/3\/3\s+.*\s0%\s+100%$/m);
      const json = JSON.parse(aos(['--data', dataDir, 'report', '--since', '1d', '--json']).stdout) as {
        totals: { runs: number; actions: { total: number }; evalCoverage: number; auditability: number };
      };
      expect(json.totals).toMatchObject({
        runs: 4,
        actions: { total: 28 },
        evalCoverage: 0,
        auditability: 1,
      });
    } finally {
      fs.rmSync(dataDir, { recursive: true, force: true });
    }
  });

  async function scenarioOnSqlite(dataDir: string) {
    const run = await aosAsync(['--data', dataDir, 'demo', '--once', '--json']);
    const s = summaryOf(run);
    expectContract(s);
    expect(s.checks.filter((c) => !c.ok)).toEqual([]);
    expect(s).toMatchObject({
      ok: true,
      actions: { allowed: 22, approved: 3, denied: 3 },
      runs: { completed: 3, compensated: 1 },
      audit: { verified: true },
    });
    expect(run.code).toBe(0);
  }

  it.skipIf(!PG_URL)('runs the same scenario on PostgreSQL and leaves no schema behind', async () => {
    const schema = `aos_t_${crypto.randomBytes(6).toString('hex')}`;
    const url = new URL(PG_URL as string);
    url.searchParams.set('schema', schema);
    const run = await aosAsync(['demo', '--once', '--json', '--database-url', url.toString()]);
    const s = summaryOf(run);
    expect(s.checks.filter((c) => !c.ok)).toEqual([]);
    expect(s).toMatchObject({ ok: true, actions: { allowed: 22, approved: 3, denied: 3 } });
    expect(run.code).toBe(0);
    const pg = (await import('pg')).default;
    const client = new pg.Client({ connectionString: PG_URL });
    await client.connect();
    try {
      await client.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
    } finally {
      await client.end();
    }
  });

  it('exits non-zero, naming the failed checks, when the policies no longer stop the injection', async () => {
    // A copy of the organisation beside the original (so its imports resolve), without the session-taint policy.
    const dir = fs.mkdtempSync(path.join(root, 'examples', '.tmp-demo-'));
    try {
      fs.cpSync(path.join(root, 'examples/demo'), dir, { recursive: true });
      const cedar = path.join(dir, 'policies/support.cedar');
      const text = fs.readFileSync(cedar, 'utf8');
      const without = text.replace(/@id\("no-money-after-untrusted-input"\)[\s\S]*?;\n/, '');
      expect(without).not.toBe(text);
      fs.writeFileSync(cedar, without);
      const run = await aosAsync(['demo', '--once', '--json', '--dir', dir]);
      const s = summaryOf(run);
      expect(run.code).toBe(1);
      expect(s.ok).toBe(false);
      expect(s.checks.filter((c) => !c.ok).map((c) => c.name)).toContain(
        'prompt injection stopped by policy',
      );
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('aos demo, bad input', () => {
  it.each([
    [['--port', 'abc'], /port: must be 0-65535/],
    [['--interval-ms', '-1'], /interval-ms: must be 0-3600000/],
    [['--dir', '/nonexistent/aos-demo'], /dir: .* has no aos\.yaml/],
  ])('refuses %j with exit 2 naming the option', (args, message) => {
    const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'aos-demo-bad-'));
    try {
      const res = aos(['--data', path.join(dataDir, 'd'), 'demo', ...args]);
      expect(res.code).toBe(2);
      expect(res.stderr).toMatch(message);
      expect(fs.existsSync(path.join(dataDir, 'd'))).toBe(false);
    } finally {
      fs.rmSync(dataDir, { recursive: true, force: true });
    }
  });

  it('refuses an organisation file with a bad agent, naming the field, and writes nothing', () => {
    const dir = fs.mkdtempSync(path.join(root, 'examples', '.tmp-demo-'));
    const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'aos-demo-bad-'));
    try {
      fs.cpSync(path.join(root, 'examples/demo'), dir, { recursive: true });
      const file = path.join(dir, 'organisation.yaml');
      fs.writeFileSync(
        file,
        fs
          .readFileSync(file, 'utf8')
          .replace('id: clerk-1, role: clerk, tier: 1', 'id: clerk-1, role: clerk, tier: 7'),
      );
      const res = aos(['--data', path.join(dataDir, 'd'), 'demo', '--dir', dir]);
      expect(res.code).toBe(2);
      expect(res.stderr).toMatch(/organisation\.departments\.finance\.agents\.0\.tier/);
      expect(fs.existsSync(path.join(dataDir, 'd'))).toBe(false);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
      fs.rmSync(dataDir, { recursive: true, force: true });
    }
  });
});

/** `aos demo --json` in the background, ticking fast, until it accepts requests. */
const startDemo = (dataDir: string) =>
  startLiveDemo(['--data', dataDir, 'demo', '--json', '--port', '0', '--interval-ms', '50', '--limit', '9'], {
    timeoutMs: 60_000,
  });

async function until<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = 90_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await probe();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

describe('aos demo --json (live)', { timeout: 300_000 }, () => {
  const children: ChildProcess[] = [];
  const dirs: string[] = [];
  afterEach(() => {
    for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
    for (const d of dirs) fs.rmSync(d, { recursive: true, force: true });
  });

  it('fills up with allowed, denied and pending work; an approval finishes its run once; kill -9 and a restart keep the rest pending', async () => {
    const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'aos-demo-live-'));
    dirs.push(dataDir);
    const first = await startDemo(dataDir);
    children.push(first.child);
    const { line } = first;
    expect(line.mcpUrl).toBe(`${line.url}/mcp`);
    expect(Object.keys(line.agents)).toEqual(
      expect.arrayContaining(['support-bot', 'poster', 'release-prod']),
    );
    const api = async (token: string, p: string, init: RequestInit = {}) => {
      const res = await fetch(`${line.url}${p}`, {
        ...init,
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      });
      return { status: res.status, body: (await res.json()) as Record<string, unknown> };
    };
    type ActionRow = {
      id: string;
      outcome: string;
      status: string;
      tool: string;
      input: Record<string, unknown>;
    };
    type ApprovalRow = {
      id: string;
      actionId: string;
      evidence: { tool: string; input: Record<string, unknown> };
    };
    const actions = async () =>
      (await api(line.adminToken, '/v1/actions?limit=500')).body.actions as ActionRow[];
    const pendingApprovals = async (token: string) =>
      (await api(token, '/v1/approvals?status=pending')).body.approvals as ApprovalRow[];

    // The scenario's three approvals wait (refund, production change, large invoice), beside allowed and denied work.
    const pending = await until('three pending approvals', async () => {
      const list = await pendingApprovals(line.approverToken);
      return list.length >= 3 ? list : undefined;
    });
    const seen = await actions();
    expect(seen.some((a) => a.outcome === 'allowed')).toBe(true);
    expect(seen.some((a) => a.outcome === 'denied')).toBe(true);
    expect(seen.some((a) => a.status === 'pending_approval')).toBe(true);
    // The status page answers at the printed URL.
    expect((await fetch(`${line.url}/`)).status).toBe(200);

    const invoice = pending.find((a) => a.evidence.tool === 'erp.post_invoice') as ApprovalRow;
    expect(invoice.evidence.input.invoiceId).toBe('inv-1002');
    const voted = await api(line.approverToken, `/v1/approvals/${invoice.id}/approve`, {
      method: 'POST',
      body: '{}',
    });
    expect(voted.status).toBe(200);

    const erpPostings = () => {
      const db = new Database(line.upstreams.erp.database, { readonly: true, fileMustExist: true });
      try {
        return db
          .prepare(
            "SELECT COUNT(*) AS n FROM requests WHERE method = 'POST' AND path = '/invoices/inv-1002/post'",
          )
          .get() as { n: number };
      } finally {
        db.close();
      }
    };
    // Its workflow finishes (the vendor is notified after the posting) and the ERP holds the posting once.
    await until('the inv-1002 run to complete', async () => {
      const runs = (await api(line.adminToken, '/v1/runs?workflow=invoice-approval')).body.runs as {
        id: string;
        status: string;
        input: { invoiceId: string };
      }[];
      return runs.find((r) => r.input?.invoiceId === 'inv-1002' && r.status === 'completed');
    });
    expect(erpPostings().n).toBe(1);
    const stillPending = (await pendingApprovals(line.approverToken)).map((a) => a.id).sort();
    expect(stillPending).toEqual(
      pending
        .filter((a) => a.id !== invoice.id)
        .map((a) => a.id)
        .sort(),
    );

    // kill -9, then the same data directory again: new tokens, the same approvals pending, no effect repeated.
    first.child.kill('SIGKILL');
    await first.exited;
    const second = await startDemo(dataDir);
    children.push(second.child);
    expect(second.line.approverToken).not.toBe(line.approverToken);
    const old = await fetch(`${second.line.url}/v1/approvals?status=pending`, {
      headers: { authorization: `Bearer ${line.approverToken}` },
    });
    expect(old.status).toBe(401);
    const after = await fetch(`${second.line.url}/v1/approvals?status=pending`, {
      headers: { authorization: `Bearer ${second.line.approverToken}` },
    });
    const resumed = ((await after.json()) as { approvals: ApprovalRow[] }).approvals.map((a) => a.id).sort();
    expect(resumed).toEqual(stillPending);
    expect(erpPostings().n).toBe(1);
  });
});
