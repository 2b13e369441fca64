import type { Db, Dialect } from './db.js';

/** One schema change. SQL is portable unless given per dialect. Migrations are append-only: never edit a shipped one. */
export interface Migration {
  version: number;
  name: string;
  sql: string | Record<Dialect, string>;
}

const identityAndAudit = `
CREATE TABLE meta (
  key TEXT PRIMARY KEY,
  value TEXT NOT NULL
);
CREATE TABLE humans (
  id TEXT PRIMARY KEY,
  display_name TEXT NOT NULL,
  groups_json TEXT NOT NULL,
  created_at TEXT NOT NULL
);
CREATE TABLE agents (
  id TEXT PRIMARY KEY,
  display_name TEXT NOT NULL,
  role TEXT NOT NULL,
  tier INTEGER NOT NULL CHECK (tier BETWEEN 0 AND 3),
  owner TEXT NOT NULL REFERENCES humans(id),
  environments_json TEXT NOT NULL,
  status TEXT NOT NULL CHECK (status IN ('active', 'paused', 'revoked')),
  created_at TEXT NOT NULL,
  updated_at TEXT NOT NULL
);
CREATE INDEX agents_role ON agents(role);
CREATE TABLE tokens (
  id TEXT PRIMARY KEY,
  subject_type TEXT NOT NULL CHECK (subject_type IN ('agent', 'human')),
  subject_id TEXT NOT NULL,
  name TEXT NOT NULL,
  hash TEXT NOT NULL UNIQUE,
  created_at TEXT NOT NULL,
  expires_at TEXT,
  revoked_at TEXT
);
CREATE INDEX tokens_subject ON tokens(subject_type, subject_id);
CREATE TABLE audit_head (
  id INTEGER PRIMARY KEY,
  seq BIGINT NOT NULL,
  hash TEXT NOT NULL
);
INSERT INTO audit_head (id, seq, hash) VALUES (1, 0, '${'0'.repeat(64)}');
CREATE TABLE audit_log (
  seq BIGINT PRIMARY KEY,
  ts TEXT NOT NULL,
  actor TEXT NOT NULL,
  type TEXT NOT NULL,
  subject TEXT,
  payload TEXT NOT NULL,
  prev_hash TEXT NOT NULL,
  hash TEXT NOT NULL
);
CREATE INDEX audit_log_subject ON audit_log(subject);
CREATE TABLE audit_checkpoints (
  tree_size BIGINT PRIMARY KEY,
  body TEXT NOT NULL
);
`;

// Defence in depth: the database itself refuses to change or delete audit records. Someone with raw access can drop
// the trigger, which is why the log is also hash-chained and checkpointed.
const appendOnly: Record<Dialect, string> = {
  sqlite: `
CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END;
CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END;
`,
  postgres: `
CREATE OR REPLACE FUNCTION aos_audit_append_only() RETURNS trigger AS $$
BEGIN
  RAISE EXCEPTION 'audit_log is append-only';
END;
$$ LANGUAGE plpgsql;
CREATE TRIGGER audit_log_no_update BEFORE UPDATE OR DELETE ON audit_log
  FOR EACH ROW EXECUTE FUNCTION aos_audit_append_only();
`,
};

const actions = `
CREATE TABLE tools (
  name TEXT PRIMARY KEY,
  connector TEXT NOT NULL,
  upstream_name TEXT NOT NULL,
  definition_json TEXT NOT NULL,
  definition_hash TEXT NOT NULL,
  approved_hash TEXT NOT NULL,
  pending_json TEXT,
  settings_json TEXT NOT NULL DEFAULT '{}',
  status TEXT NOT NULL CHECK (status IN ('active', 'quarantined', 'removed')),
  updated_at TEXT NOT NULL
);
CREATE TABLE actions (
  id TEXT PRIMARY KEY,
  agent_id TEXT NOT NULL,
  tool TEXT NOT NULL,
  input_json TEXT NOT NULL,
  input_hash TEXT NOT NULL,
  environment TEXT NOT NULL,
  session_id TEXT,
  idempotency_key TEXT,
  request_hash TEXT NOT NULL,
  reason TEXT,
  confidence DOUBLE PRECISION,
  on_behalf_of TEXT,
  reversal_of TEXT,
  outcome TEXT NOT NULL CHECK (outcome IN ('allowed', 'pending_approval', 'denied')),
  status TEXT NOT NULL,
  decision_json TEXT NOT NULL,
  policy_hash TEXT NOT NULL,
  risk INTEGER NOT NULL,
  approval_id TEXT,
  result_json TEXT,
  error_json TEXT,
  untrusted_output INTEGER NOT NULL DEFAULT 0,
  cached INTEGER NOT NULL DEFAULT 0,
  cost INTEGER NOT NULL DEFAULT 0,
  node_id TEXT,
  created_at TEXT NOT NULL,
  updated_at TEXT NOT NULL,
  started_at TEXT,
  finished_at TEXT
);
CREATE UNIQUE INDEX actions_idempotency ON actions(agent_id, idempotency_key);
CREATE INDEX actions_session ON actions(agent_id, session_id);
CREATE INDEX actions_status ON actions(status);
CREATE INDEX actions_reversal ON actions(reversal_of);
CREATE TABLE approvals (
  id TEXT PRIMARY KEY,
  action_id TEXT NOT NULL,
  binding_hash TEXT NOT NULL,
  group_name TEXT NOT NULL,
  quorum INTEGER NOT NULL,
  escalation_json TEXT NOT NULL,
  level INTEGER NOT NULL,
  expires_at_ms BIGINT NOT NULL,
  expiry_sec INTEGER NOT NULL,
  bar_owner INTEGER NOT NULL,
  requester TEXT,
  status TEXT NOT NULL CHECK (status IN ('pending', 'approved', 'denied', 'expired')),
  policy_ids_json TEXT NOT NULL,
  evidence_json TEXT NOT NULL,
  created_at TEXT NOT NULL,
  decided_at TEXT
);
CREATE INDEX approvals_status ON approvals(status, expires_at_ms);
CREATE TABLE approval_votes (
  approval_id TEXT NOT NULL,
  human_id TEXT NOT NULL,
  vote TEXT NOT NULL CHECK (vote IN ('approve', 'deny')),
  comment TEXT,
  level INTEGER NOT NULL,
  at TEXT NOT NULL,
  PRIMARY KEY (approval_id, human_id)
);
CREATE TABLE budget_usage (
  scope TEXT NOT NULL,
  period_start TEXT NOT NULL,
  calls BIGINT NOT NULL,
  cost BIGINT NOT NULL,
  alerted INTEGER NOT NULL DEFAULT 0,
  PRIMARY KEY (scope, period_start)
);
CREATE TABLE killswitches (
  scope TEXT PRIMARY KEY,
  active INTEGER NOT NULL,
  reason TEXT,
  set_by TEXT NOT NULL,
  set_at TEXT NOT NULL
);
CREATE TABLE nodes (
  id TEXT PRIMARY KEY,
  started_at TEXT NOT NULL,
  heartbeat_ms BIGINT NOT NULL
);
CREATE TABLE tool_cache (
  agent_id TEXT NOT NULL,
  tool TEXT NOT NULL,
  input_hash TEXT NOT NULL,
  result_json TEXT NOT NULL,
  expires_at_ms BIGINT NOT NULL,
  PRIMARY KEY (agent_id, tool, input_hash)
);
`;

const workflows = `
CREATE TABLE workflow_runs (
  id TEXT PRIMARY KEY,
  workflow TEXT NOT NULL,
  version TEXT NOT NULL,
  definition_hash TEXT NOT NULL,
  definition_json TEXT NOT NULL,
  owner TEXT NOT NULL,
  status TEXT NOT NULL,
  input_json TEXT NOT NULL,
  output_json TEXT,
  error_json TEXT,
  created_by TEXT NOT NULL,
  created_at TEXT NOT NULL,
  updated_at TEXT NOT NULL,
  lease_owner TEXT,
  lease_until BIGINT NOT NULL DEFAULT 0
);
CREATE INDEX workflow_runs_status ON workflow_runs (status, lease_until);
CREATE INDEX workflow_runs_created ON workflow_runs (created_at);
CREATE TABLE workflow_events (
  run_id TEXT NOT NULL REFERENCES workflow_runs (id),
  seq INTEGER NOT NULL,
  type TEXT NOT NULL,
  step_id TEXT,
  attempt INTEGER,
  data_json TEXT NOT NULL,
  at TEXT NOT NULL,
  PRIMARY KEY (run_id, seq)
);
`;

/*
 * Migration 4 (unreleased until it lands; after that, append-only like the rest). One constant per area so each part
 * of issue 5 owns its own tables.
 */

/** Runs started by triggers and sub-runs. */
const runLinks = `
ALTER TABLE workflow_runs ADD COLUMN parent_run_id TEXT;
ALTER TABLE workflow_runs ADD COLUMN parent_step_id TEXT;
ALTER TABLE workflow_runs ADD COLUMN trigger_key TEXT;
ALTER TABLE workflow_runs ADD COLUMN priority INTEGER NOT NULL DEFAULT 0;
CREATE UNIQUE INDEX workflow_runs_trigger ON workflow_runs (trigger_key);
CREATE INDEX workflow_runs_parent ON workflow_runs (parent_run_id);
CREATE TABLE workflow_schedules (
  workflow TEXT PRIMARY KEY,
  last_slot_ms BIGINT NOT NULL
);
CREATE TABLE workflow_signals (
  id TEXT PRIMARY KEY,
  run_id TEXT NOT NULL REFERENCES workflow_runs (id),
  name TEXT NOT NULL,
  data_json TEXT NOT NULL,
  sent_by TEXT NOT NULL,
  created_at TEXT NOT NULL
);
CREATE INDEX workflow_signals_run ON workflow_signals (run_id, name);
`;

/** Work for agents: tasks taken by workers (SDK, MCP), delegated sub-tasks. */
const tasks = `
CREATE TABLE workflow_tasks (
  id TEXT PRIMARY KEY,
  run_id TEXT NOT NULL REFERENCES workflow_runs (id),
  step_id TEXT NOT NULL,
  attempt INTEGER NOT NULL,
  item INTEGER NOT NULL DEFAULT 0,
  role TEXT NOT NULL,
  parent_task_id TEXT,
  depth INTEGER NOT NULL DEFAULT 0,
  status TEXT NOT NULL,
  priority INTEGER NOT NULL DEFAULT 0,
  input_json TEXT NOT NULL,
  context_json TEXT,
  exclude_agents_json TEXT,
  distinct_agents INTEGER NOT NULL DEFAULT 0,
  agent_id TEXT,
  lease_until BIGINT NOT NULL DEFAULT 0,
  claims INTEGER NOT NULL DEFAULT 0,
  lost_leases INTEGER NOT NULL DEFAULT 0,
  output_json TEXT,
  error_json TEXT,
  created_at TEXT NOT NULL,
  updated_at TEXT NOT NULL
);
CREATE INDEX workflow_tasks_open ON workflow_tasks (status, role, priority, created_at);
CREATE INDEX workflow_tasks_run ON workflow_tasks (run_id, step_id);
CREATE INDEX workflow_tasks_agent ON workflow_tasks (agent_id, status);
CREATE INDEX workflow_tasks_parent ON workflow_tasks (parent_task_id);
`;

/** Coordination: the run's shared context, messages between agents, resource leases. */
const coordination = `
CREATE TABLE run_context (
  run_id TEXT NOT NULL REFERENCES workflow_runs (id),
  key TEXT NOT NULL,
  value_json TEXT NOT NULL,
  version INTEGER NOT NULL,
  written_by TEXT NOT NULL,
  updated_at TEXT NOT NULL,
  PRIMARY KEY (run_id, key)
);
CREATE TABLE run_messages (
  id TEXT PRIMARY KEY,
  run_id TEXT NOT NULL REFERENCES workflow_runs (id),
  kind TEXT NOT NULL,
  from_agent TEXT NOT NULL,
  to_agent TEXT,
  to_role TEXT,
  task_id TEXT,
  body_json TEXT NOT NULL,
  created_at TEXT NOT NULL,
  read_at TEXT
);
CREATE INDEX run_messages_to_agent ON run_messages (to_agent, read_at);
CREATE INDEX run_messages_run ON run_messages (run_id, created_at);
CREATE TABLE resource_leases (
  key TEXT PRIMARY KEY,
  holder TEXT NOT NULL,
  run_id TEXT NOT NULL,
  priority INTEGER NOT NULL,
  acquired_at TEXT NOT NULL
);
CREATE TABLE resource_waiters (
  key TEXT NOT NULL,
  holder TEXT NOT NULL,
  run_id TEXT NOT NULL,
  priority INTEGER NOT NULL,
  requested_ms BIGINT NOT NULL,
  PRIMARY KEY (key, holder)
);
`;

/**
 * Wake times of runs (the scheduler claims a run only once its `wake_at` has come; NULL: only an outside event can
 * move it), the sequence outside events bump so a node's computed wake never overwrites one, failed advances for
 * back-off, and whether an intervention holds one of its steps. Active runs wake once to compute their own time.
 * On PostgreSQL a trigger NOTIFYs the schema's wake channel whenever a run is started or woken.
 */
const wakeTimes = `
ALTER TABLE workflow_runs ADD COLUMN wake_at BIGINT;
ALTER TABLE workflow_runs ADD COLUMN wake_seq INTEGER NOT NULL DEFAULT 0;
ALTER TABLE workflow_runs ADD COLUMN advance_failures INTEGER NOT NULL DEFAULT 0;
ALTER TABLE workflow_runs ADD COLUMN held INTEGER NOT NULL DEFAULT 0;
UPDATE workflow_runs SET wake_at = 0 WHERE status IN ('running', 'compensating');
CREATE INDEX workflow_runs_wake ON workflow_runs (status, wake_at);
CREATE INDEX workflow_runs_held ON workflow_runs (held);
`;

// A counter the database itself bumps whenever an agent, a human or a token changes or goes (status, tier,
// groups, revocation...), whichever process or node made the change, so a node may keep authenticated principals
// in memory and check one small row per request instead of re-reading them (identity/authenticate.ts). Inserts do
// not bump it here: no principal can depend on a row that did not exist (migration 15 adds new agents and kill
// switches, which cached role lists do depend on).
const securityEpochTables = ['agents', 'humans', 'tokens'] as const;
const securityEpoch: Record<Dialect, string> = {
  sqlite: `
CREATE TABLE security_epoch (id INTEGER PRIMARY KEY CHECK (id = 1), n BIGINT NOT NULL);
INSERT INTO security_epoch (id, n) VALUES (1, 0);
${securityEpochTables
  .flatMap((t) =>
    ['UPDATE', 'DELETE'].map(
      (op) =>
        `CREATE TRIGGER ${t}_security_epoch_${op.toLowerCase()} AFTER ${op} ON ${t} BEGIN UPDATE security_epoch SET n = n + 1 WHERE id = 1; END;`,
    ),
  )
  .join('\n')}
`,
  postgres: `
CREATE TABLE security_epoch (id INTEGER PRIMARY KEY CHECK (id = 1), n BIGINT NOT NULL);
INSERT INTO security_epoch (id, n) VALUES (1, 0);
CREATE FUNCTION aos_bump_security_epoch() RETURNS trigger AS $$
BEGIN
  UPDATE security_epoch SET n = n + 1 WHERE id = 1;
  RETURN NULL;
END;
$$ LANGUAGE plpgsql;
${securityEpochTables
  .map(
    (t) =>
      `CREATE TRIGGER ${t}_security_epoch AFTER UPDATE OR DELETE ON ${t} FOR EACH STATEMENT EXECUTE FUNCTION aos_bump_security_epoch();`,
  )
  .join('\n')}
`,
};

// The security epoch also moves when an agent is created and when a kill switch is engaged or released, so a node
// may keep the agents of a role and the engaged switches in memory as well (the workflow engine's intervention
// gate, workflows/intervention.ts) and check the one row per step: a new agent of a role may take its work, and a
// switch set on any node holds from the next step on everywhere.
const interventionEpoch: Record<Dialect, string> = {
  sqlite: `
CREATE TRIGGER agents_security_epoch_insert AFTER INSERT ON agents BEGIN UPDATE security_epoch SET n = n + 1 WHERE id = 1; END;
${['INSERT', 'UPDATE', 'DELETE']
  .map(
    (op) =>
      `CREATE TRIGGER killswitches_security_epoch_${op.toLowerCase()} AFTER ${op} ON killswitches BEGIN UPDATE security_epoch SET n = n + 1 WHERE id = 1; END;`,
  )
  .join('\n')}
`,
  postgres: `
CREATE TRIGGER agents_security_epoch_insert AFTER INSERT ON agents FOR EACH STATEMENT EXECUTE FUNCTION aos_bump_security_epoch();
CREATE TRIGGER killswitches_security_epoch AFTER INSERT OR UPDATE OR DELETE ON killswitches FOR EACH STATEMENT EXECUTE FUNCTION aos_bump_security_epoch();
`,
};

/**
 * Numbers each row of `table` in the order it is stored, in a new `seq` column: a sequence on PostgreSQL, the row
 * id on SQLite (one writer). Rows already there are numbered in the order the table holds them.
 */
function storeOrder(table: string): Record<Dialect, string> {
  return {
    sqlite: `
ALTER TABLE ${table} ADD COLUMN seq INTEGER;
UPDATE ${table} SET seq = rowid;
CREATE TRIGGER ${table}_seq AFTER INSERT ON ${table} WHEN NEW.seq IS NULL
  BEGIN UPDATE ${table} SET seq = NEW.rowid WHERE rowid = NEW.rowid; END;
`,
    postgres: `
ALTER TABLE ${table} ADD COLUMN seq BIGSERIAL;
`,
  };
}

// Messages sent in one millisecond kept no order (their ids are random), so an inbox could answer a reply before
// the question. Each message now takes a number in send order.
const messageOrder = storeOrder('run_messages');

// Signals sent to a run in one millisecond kept no order either: their ids are time-ordered to the millisecond, then
// random, so a run could record the second before the first. Each signal now takes a number in send order.
const signalOrder = storeOrder('workflow_signals');

// Chain format 2 appends on PostgreSQL in one round trip instead of three (lock and read the head, insert, move the
// head): the caller computes each event's content hash before its transaction, this links them to the locked head
// with the same bytes as linkHash() in audit/chain.ts, and AuditLog checks every returned link against its own
// computation before the transaction may commit.
const auditAppendFunction = `
CREATE FUNCTION aos_audit_append(p_ts TEXT[], p_actor TEXT[], p_type TEXT[], p_subject TEXT[], p_payload TEXT[],
    p_content TEXT[])
  RETURNS TABLE (out_seq BIGINT, out_prev TEXT, out_hash TEXT) AS $$
DECLARE
  s BIGINT;
  h TEXT;
  nh TEXT;
BEGIN
  SELECT a.seq, a.hash INTO s, h FROM audit_head a WHERE a.id = 1 FOR UPDATE;
  IF NOT FOUND THEN
    RAISE EXCEPTION 'audit log is not initialised';
  END IF;
  FOR i IN 1 .. coalesce(array_length(p_content, 1), 0) LOOP
    s := s + 1;
    nh := encode(sha256(convert_to('aos-audit/2' || chr(10) || s::text || chr(10) || h || chr(10) || p_content[i], 'UTF8')), 'hex');
    INSERT INTO audit_log (seq, ts, actor, type, subject, payload, prev_hash, hash, version)
      VALUES (s, p_ts[i], p_actor[i], p_type[i], p_subject[i], p_payload[i], h, nh, 2);
    out_seq := s;
    out_prev := h;
    out_hash := nh;
    RETURN NEXT;
    h := nh;
  END LOOP;
  UPDATE audit_head SET seq = s, hash = h WHERE id = 1;
END;
$$ LANGUAGE plpgsql;
`;

// A statement that commits by itself (Db.writeAlone) checks inside it what a transaction would check before its
// COMMIT: the change counts its caller requires, the links of the audit records it appends. This raises on a check
// that fails, which takes the whole statement back.
const expectFunction = `
CREATE FUNCTION aos_expect(p_ok BOOLEAN, p_what TEXT) RETURNS BOOLEAN AS $$
BEGIN
  IF p_ok IS NOT TRUE THEN
    RAISE EXCEPTION 'aos_expect: %', p_what;
  END IF;
  RETURN TRUE;
END;
$$ LANGUAGE plpgsql;
`;

const wakeNotify = `
CREATE FUNCTION aos_workflow_wake_notify() RETURNS trigger AS $$
BEGIN
  PERFORM pg_notify('aos_wake_' || substr(md5(current_schema()), 1, 24), '');
  RETURN NULL;
END;
$$ LANGUAGE plpgsql;
CREATE TRIGGER workflow_runs_wake_insert AFTER INSERT ON workflow_runs
  FOR EACH ROW EXECUTE FUNCTION aos_workflow_wake_notify();
CREATE TRIGGER workflow_runs_wake_update AFTER UPDATE OF wake_seq ON workflow_runs
  FOR EACH ROW WHEN (NEW.wake_seq <> OLD.wake_seq) EXECUTE FUNCTION aos_workflow_wake_notify();
`;

// What the policy context needs from an agent's history, kept as a summary updated with each action in the same
// transaction (reading the history back grew with the session and stopped at its first thousand actions). One row
// per (agent, session) the engine opened, and one per agent with session_id '' — the agent scope: everything the
// agent did, which is what a call with no session, or with a session it was never given, is decided under.
// Existing history is carried over so no taint is lost on upgrade: the agent scope from every action, and each
// workflow run's session (the only sessions the engine had minted and recorded).
const sessionMemory = `
CREATE TABLE action_sessions (
  agent_id TEXT NOT NULL,
  session_id TEXT NOT NULL,
  calls BIGINT NOT NULL DEFAULT 0,
  read_untrusted INTEGER NOT NULL DEFAULT 0,
  opened_at TEXT NOT NULL,
  updated_at TEXT NOT NULL,
  PRIMARY KEY (agent_id, session_id)
);
CREATE TABLE action_session_tools (
  agent_id TEXT NOT NULL,
  session_id TEXT NOT NULL,
  tool TEXT NOT NULL,
  PRIMARY KEY (agent_id, session_id, tool)
);
INSERT INTO action_sessions (agent_id, session_id, calls, read_untrusted, opened_at, updated_at)
  SELECT agent_id, '', COUNT(*), MAX(CASE WHEN status = 'succeeded' AND untrusted_output = 1 THEN 1 ELSE 0 END),
         MIN(created_at), MAX(updated_at)
  FROM actions GROUP BY agent_id;
INSERT INTO action_sessions (agent_id, session_id, calls, read_untrusted, opened_at, updated_at)
  SELECT agent_id, session_id, COUNT(*), MAX(CASE WHEN status = 'succeeded' AND untrusted_output = 1 THEN 1 ELSE 0 END),
         MIN(created_at), MAX(updated_at)
  FROM actions WHERE session_id LIKE 'wf:%' GROUP BY agent_id, session_id;
INSERT INTO action_session_tools (agent_id, session_id, tool)
  SELECT DISTINCT agent_id, '', tool FROM actions WHERE status = 'succeeded';
INSERT INTO action_session_tools (agent_id, session_id, tool)
  SELECT DISTINCT agent_id, session_id, tool FROM actions WHERE status = 'succeeded' AND session_id LIKE 'wf:%';
`;

// Workflow approval steps become approval requests with no action attached (run_id/step_id subject); humans get a
// password hash for sign-in, and tokens a kind, so short-lived sign-in sessions live beside API tokens.
const approvalSubjectsAndSignIn = `
ALTER TABLE approvals ADD COLUMN run_id TEXT;
ALTER TABLE approvals ADD COLUMN step_id TEXT;
CREATE INDEX approvals_run_step ON approvals(run_id, step_id);
ALTER TABLE humans ADD COLUMN password_hash TEXT;
ALTER TABLE tokens ADD COLUMN kind TEXT NOT NULL DEFAULT 'api';
`;
// SQLite cannot drop a NOT NULL constraint in place: the approvals table is rebuilt with the same columns.
const approvalActionNullable: Record<Dialect, string> = {
  sqlite: `
CREATE TABLE approvals_v11 (
  id TEXT PRIMARY KEY,
  action_id TEXT,
  binding_hash TEXT NOT NULL,
  group_name TEXT NOT NULL,
  quorum INTEGER NOT NULL,
  escalation_json TEXT NOT NULL,
  level INTEGER NOT NULL,
  expires_at_ms BIGINT NOT NULL,
  expiry_sec INTEGER NOT NULL,
  bar_owner INTEGER NOT NULL,
  requester TEXT,
  status TEXT NOT NULL CHECK (status IN ('pending', 'approved', 'denied', 'expired')),
  policy_ids_json TEXT NOT NULL,
  evidence_json TEXT NOT NULL,
  created_at TEXT NOT NULL,
  decided_at TEXT
);
INSERT INTO approvals_v11 SELECT id, action_id, binding_hash, group_name, quorum, escalation_json, level, expires_at_ms,
  expiry_sec, bar_owner, requester, status, policy_ids_json, evidence_json, created_at, decided_at FROM approvals;
DROP TABLE approvals;
ALTER TABLE approvals_v11 RENAME TO approvals;
CREATE INDEX approvals_status ON approvals(status, expires_at_ms);
`,
  postgres: `ALTER TABLE approvals ALTER COLUMN action_id DROP NOT NULL;`,
};
const evalRuns = `
CREATE TABLE eval_runs (
  id TEXT PRIMARY KEY,
  suite TEXT NOT NULL,
  suite_hash TEXT NOT NULL,
  agent_id TEXT NOT NULL,
  agent_kind TEXT NOT NULL,
  trigger TEXT NOT NULL,
  cases INTEGER NOT NULL,
  passed INTEGER NOT NULL,
  failed INTEGER NOT NULL,
  pass_rate REAL NOT NULL,
  threshold REAL NOT NULL,
  result TEXT NOT NULL CHECK (result IN ('pass', 'fail')),
  by_category_json TEXT NOT NULL,
  cases_json TEXT NOT NULL,
  started_at TEXT NOT NULL,
  finished_at TEXT NOT NULL
);
CREATE INDEX eval_runs_agent ON eval_runs(agent_id, suite, finished_at);
`;

// Anomaly detection keeps one baseline row per agent, read and rewritten in the transaction that records each
// decision (so every node sees the same baseline, and the row lock serializes one agent's calls on PostgreSQL), and
// the set of tools and connectors each agent has touched. Notifications are queued as deliveries, one per (channel,
// event), claimed and retried by any node; the unique key makes an event fanned out to every node queue once.
const anomaliesAndNotifications = `
CREATE TABLE anomaly_baselines (
  agent_id TEXT PRIMARY KEY,
  first_ms BIGINT NOT NULL,
  calls BIGINT NOT NULL DEFAULT 0,
  win_start_ms BIGINT NOT NULL,
  win_calls INTEGER NOT NULL DEFAULT 0,
  win_denials INTEGER NOT NULL DEFAULT 0,
  win_failures INTEGER NOT NULL DEFAULT 0,
  active_windows BIGINT NOT NULL DEFAULT 0,
  mean_calls DOUBLE PRECISION NOT NULL DEFAULT 0,
  mean_denials DOUBLE PRECISION NOT NULL DEFAULT 0,
  mean_failures DOUBLE PRECISION NOT NULL DEFAULT 0,
  hours_json TEXT NOT NULL,
  writes BIGINT NOT NULL DEFAULT 0,
  writes_after_untrusted BIGINT NOT NULL DEFAULT 0,
  flagged_json TEXT NOT NULL DEFAULT '{}',
  hold_until_ms BIGINT NOT NULL DEFAULT 0,
  updated_at TEXT NOT NULL
);
CREATE TABLE anomaly_seen (
  agent_id TEXT NOT NULL,
  kind TEXT NOT NULL,
  name TEXT NOT NULL,
  first_at TEXT NOT NULL,
  PRIMARY KEY (agent_id, kind, name)
);
INSERT INTO anomaly_seen (agent_id, kind, name, first_at)
  SELECT agent_id, 'tool', tool, MIN(created_at) FROM actions GROUP BY agent_id, tool;
CREATE TABLE notification_deliveries (
  id TEXT PRIMARY KEY,
  dedupe_key TEXT NOT NULL UNIQUE,
  channel TEXT NOT NULL,
  event_type TEXT NOT NULL,
  subject TEXT,
  message_json TEXT NOT NULL,
  status TEXT NOT NULL CHECK (status IN ('pending', 'delivered', 'failed')),
  attempts INTEGER NOT NULL DEFAULT 0,
  next_attempt_ms BIGINT NOT NULL,
  claimed_until_ms BIGINT NOT NULL DEFAULT 0,
  last_error TEXT,
  created_at TEXT NOT NULL,
  delivered_at TEXT
);
CREATE INDEX notification_deliveries_due ON notification_deliveries(status, next_attempt_ms);
`;

/** The schema, in order. */
export const migrations: readonly Migration[] = [
  {
    version: 1,
    name: 'identity and audit log',
    sql: { sqlite: identityAndAudit + appendOnly.sqlite, postgres: identityAndAudit + appendOnly.postgres },
  },
  { version: 2, name: 'tools, actions, approvals, budgets, kill switches', sql: actions },
  { version: 3, name: 'workflow runs and their event histories', sql: workflows },
  {
    version: 4,
    name: 'triggers, sub-runs, signals, agent tasks and coordination',
    sql: runLinks + tasks + coordination,
  },
  {
    version: 5,
    name: 'wake times of workflow runs',
    sql: { sqlite: wakeTimes, postgres: wakeTimes + wakeNotify },
  },
  { version: 6, name: 'session memory: a summary per agent session and per agent', sql: sessionMemory },
  { version: 7, name: 'evaluation runs: one row per suite run, with its case results', sql: evalRuns },
  {
    version: 8,
    name: 'trace ids of actions',
    sql: `
ALTER TABLE actions ADD COLUMN trace_id TEXT;
ALTER TABLE actions ADD COLUMN span_id TEXT;
ALTER TABLE actions ADD COLUMN parent_span_id TEXT;
`,
  },
  {
    version: 9,
    name: 'model tokens in budget usage',
    sql: `
ALTER TABLE budget_usage ADD COLUMN tokens_in BIGINT NOT NULL DEFAULT 0;
ALTER TABLE budget_usage ADD COLUMN tokens_out BIGINT NOT NULL DEFAULT 0;
`,
  },
  {
    version: 10,
    name: 'anomaly baselines per agent and notification deliveries',
    sql: anomaliesAndNotifications,
  },
  {
    version: 11,
    name: 'approvals of workflow steps; human passwords and sign-in sessions',
    sql: {
      sqlite: approvalActionNullable.sqlite + approvalSubjectsAndSignIn,
      postgres: approvalActionNullable.postgres + approvalSubjectsAndSignIn,
    },
  },
  {
    version: 12,
    // Records written before this are format 1; appends from now on write 2 (see audit/chain.ts). Adding a column
    // with a constant default rewrites no row, so the append-only triggers do not fire.
    name: 'chain format version of audit records',
    sql: 'ALTER TABLE audit_log ADD COLUMN version INTEGER NOT NULL DEFAULT 1;',
  },
  {
    version: 13,
    name: 'security epoch: bumped by the database on every change to agents, humans and tokens',
    sql: securityEpoch,
  },
  {
    version: 14,
    name: 'audit appends in one round trip on PostgreSQL',
    sql: { sqlite: 'SELECT 1;', postgres: auditAppendFunction },
  },
  {
    version: 15,
    name: 'security epoch also bumped by new agents and by kill switches',
    sql: interventionEpoch,
  },
  { version: 16, name: 'messages of a run kept in send order', sql: messageOrder },
  { version: 17, name: 'signals of a run kept in send order', sql: signalOrder },
  {
    version: 18,
    name: 'checks inside a statement that commits by itself on PostgreSQL',
    sql: { sqlite: 'SELECT 1;', postgres: expectFunction },
  },
];

/** Applies every migration newer than the database's version, each in its own transaction. Safe when nodes race. */
export async function migrate(db: Db, list: readonly Migration[] = migrations): Promise<number> {
  await db.exec(
    'CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL)',
  );
  let applied = 0;
  for (const m of list) {
    const done = await db.tx(async (tx) => {
      // Several nodes may start at once: take a lock, then re-check inside the transaction.
      if (db.dialect === 'postgres') await tx.get('SELECT pg_advisory_xact_lock(7420001)');
      const row = await tx.get('SELECT version FROM schema_migrations WHERE version = ?', [m.version]);
      if (row) return false;
      await tx.exec(typeof m.sql === 'string' ? m.sql : m.sql[db.dialect]);
      await tx.run('INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)', [
        m.version,
        m.name,
        new Date().toISOString(),
      ]);
      return true;
    });
    if (done) applied++;
  }
  return applied;
}
