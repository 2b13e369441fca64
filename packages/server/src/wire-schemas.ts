import { z } from 'zod';
import { ACTION_STATUSES, workflowSchema } from '@autonomy-os/core';
import type {
  ActionView,
  Agent,
  Approval,
  AgentStatus,
  AuditBundle,
  AuditLog,
  AuditVerifyReport,
  BudgetService,
  CedarPolicySet,
  CoverageReport,
  EvalRun,
  EvidencePack,
  GateCheck,
  KillSwitch,
  LeaderReport,
  Receipt,
  RegisteredTool,
  ReplayReport,
  RunBudgetUsage,
  WorkflowDefinition,
  WorkflowRun,
  WorkflowRunDetail,
} from '@autonomy-os/core';

/**
 * The answers of the REST API, in zod: each schema is published as its operations' 2xx response in
 * `/v1/openapi.json` ({@link RESPONSES}) and checked against real answers (test/authorization-matrix.test.ts parses
 * every 2xx answer of every route that has one), so the document cannot drift from what the server sends. Objects
 * are strict: a field the server adds without adding it here fails that check.
 */

const iso = z.string();
const tier = z.union([z.literal(0), z.literal(1), z.literal(2), z.literal(3)]);

/** An agent in the registry (`Agent` of core). */
export const agentRecordSchema = z.strictObject({
  id: z.string(),
  displayName: z.string(),
  role: z.string(),
  tier,
  owner: z.string(),
  environments: z.array(z.string()),
  status: z.enum(['active', 'paused', 'revoked']),
  createdAt: iso,
  updatedAt: iso,
});

/** Who a token belongs to (`GET /v1/whoami`). */
export const whoAmISchema = z.discriminatedUnion('kind', [
  z.strictObject({ kind: z.literal('human'), id: z.string(), via: z.string(), groups: z.array(z.string()) }),
  z.strictObject({
    kind: z.literal('agent'),
    id: z.string(),
    via: z.string(),
    role: z.string(),
    tier: z.number(),
    owner: z.string(),
    status: z.string(),
  }),
]);

/** A kill switch: `global`, `role:<role>` or `agent:<id>` (`KillSwitch` of core). */
export const killSwitchSchema = z.strictObject({
  scope: z.string(),
  active: z.boolean(),
  reason: z.string().nullable(),
  setBy: z.string(),
  setAt: iso,
});

/** What an approver sees (`EvidencePack` of core). */
export const evidencePackSchema = z.strictObject({
  agent: z.strictObject({ id: z.string(), role: z.string(), tier: z.number(), owner: z.string() }).nullable(),
  tool: z.string(),
  input: z.record(z.string(), z.unknown()),
  canonicalInput: z.string().optional(),
  previous: z
    .strictObject({
      actionId: z.string(),
      status: z.string(),
      at: iso,
      changes: z.array(
        z.strictObject({
          type: z.enum(['CREATE', 'REMOVE', 'CHANGE']),
          path: z.array(z.union([z.string(), z.number()])),
          oldValue: z.unknown().optional(),
          value: z.unknown().optional(),
        }),
      ),
    })
    .nullable()
    .optional(),
  run: z
    .strictObject({
      id: z.string(),
      workflow: z.string(),
      stepId: z.string(),
      attempt: z.number(),
      prompt: z.string().nullable(),
      owner: z.string(),
    })
    .optional(),
  environment: z.string(),
  reason: z.string().nullable(),
  confidence: z.number().nullable(),
  risk: z.number(),
  decision: z.strictObject({ policies: z.array(z.string()), reasons: z.array(z.string()) }),
  session: z.array(z.strictObject({ actionId: z.string(), tool: z.string(), status: z.string(), at: iso })),
});

/** An approval request with its evidence and quorum/escalation progress (`Approval` of core). */
export const approvalSchema = z.strictObject({
  id: z.string(),
  actionId: z.string().nullable(),
  runId: z.string().nullable(),
  stepId: z.string().nullable(),
  bindingHash: z.string(),
  group: z.string(),
  quorum: z.number(),
  escalation: z.array(z.string()),
  level: z.number(),
  expiresAt: iso,
  expirySec: z.number(),
  status: z.enum(['pending', 'approved', 'denied', 'expired']),
  barOwner: z.boolean(),
  requester: z.string().nullable(),
  policies: z.array(z.string()),
  evidence: evidencePackSchema,
  votes: z.array(
    z.strictObject({
      human: z.string(),
      vote: z.enum(['approve', 'deny']),
      comment: z.string().nullable(),
      level: z.number(),
      at: iso,
    }),
  ),
  progress: z.strictObject({
    approvals: z.number(),
    quorum: z.number(),
    remaining: z.number(),
    level: z.number(),
    nextGroup: z.string().nullable(),
    escalatesAt: iso.nullable(),
  }),
  createdAt: iso,
  decidedAt: iso.nullable(),
});

const percentiles = z.strictObject({ p50Sec: z.number().nullable(), p90Sec: z.number().nullable() });

/** The figures of one workflow, one agent, or everything (`ReportRow` of core). */
export const reportRowSchema = z.strictObject({
  name: z.string(),
  runs: z.number(),
  cycleTime: percentiles,
  actions: z.strictObject({
    total: z.number(),
    allowed: z.number(),
    approval: z.number(),
    denied: z.number(),
    succeeded: z.number(),
    failed: z.number(),
    unknownOutcome: z.number(),
  }),
  escalationRate: z.number().nullable(),
  approvalLatency: percentiles,
  costPerRun: z.number().nullable(),
  costPerChange: z.number().nullable(),
  evalCoverage: z.union([z.number(), z.literal('n/a')]),
  auditability: z.number().nullable(),
});

/** Leader metrics for a period (`GET /v1/reports/summary`; `LeaderReport` of core). */
export const reportSummarySchema = z.strictObject({
  since: iso,
  until: iso,
  totals: reportRowSchema,
  workflows: z.array(reportRowSchema),
  agents: z.array(reportRowSchema),
});

/** A stored suite run as the API lists it: `EvalRun` of core without its case results. */
export const evalRunRecordSchema = z.strictObject({
  id: z.string(),
  suite: z.string(),
  suiteHash: z.string(),
  agentId: z.string(),
  agentKind: z.string(),
  trigger: z.enum(['manual', 'schedule', 'ci']),
  cases: z.number(),
  passed: z.number(),
  failed: z.number(),
  passRate: z.number(),
  threshold: z.number(),
  result: z.enum(['pass', 'fail']),
  failedByCategory: z.array(z.strictObject({ category: z.string(), count: z.number() })),
  startedAt: iso,
  finishedAt: iso,
});

/** Whether an agent may be promoted to a tier, and what is missing (`GateCheck` of core). */
export const gateCheckSchema = z.strictObject({
  agentId: z.string(),
  tier: z.number(),
  ok: z.boolean(),
  missing: z.array(z.string()),
  suites: z.array(
    z.strictObject({
      suite: z.string(),
      threshold: z.number(),
      window: z.string(),
      consecutive: z.number(),
      runs: z.array(
        z.strictObject({
          id: z.string(),
          passRate: z.number(),
          result: z.enum(['pass', 'fail']),
          finishedAt: iso,
        }),
      ),
      ok: z.boolean(),
      missing: z.string().optional(),
    }),
  ),
});

/** An agent's evaluations: its latest run per suite and the gates of each higher tier (`GET /v1/agents/:id/evals`). */
export const agentEvalsSchema = z.strictObject({
  agentId: z.string(),
  tier,
  status: agentRecordSchema.shape.status,
  latest: z.array(evalRunRecordSchema),
  gates: z.array(gateCheckSchema),
});

const coverageEntry = {
  actions: z.number(),
  covered: z.number(),
  coverage: z.number().nullable(),
  uncovered: z.array(z.strictObject({ tool: z.string(), outcome: z.string(), count: z.number() })),
};

/** Evaluation coverage per agent and workflow over a period (`GET /v1/evals/coverage`; `CoverageReport` of core). */
export const coverageReportSchema = z.strictObject({
  since: iso,
  agents: z.array(z.strictObject({ ...coverageEntry, agentId: z.string(), suites: z.array(z.string()) })),
  workflows: z.array(z.strictObject({ ...coverageEntry, workflow: z.string() })),
});

/** One record of the hash-chained audit log (`AuditRecord` of core); `payload` is each event type's own data. */
export const auditRecordSchema = z.strictObject({
  seq: z.number(),
  ts: iso,
  actor: z.string(),
  type: z.string(),
  subject: z.string().nullable(),
  payload: z.unknown(),
  prevHash: z.string(),
  version: z.union([z.literal(1), z.literal(2)]),
  hash: z.string(),
});

/** A signed Merkle checkpoint over the first `treeSize` records (`Checkpoint` of core). */
export const auditCheckpointSchema = z.strictObject({
  format: z.literal('aos-checkpoint/1'),
  treeSize: z.number(),
  rootHash: z.string(),
  headHash: z.string(),
  timestamp: iso,
  keyId: z.string(),
  publicKey: z.string(),
  signature: z.string(),
});

/** An offline-verifiable export of the audit log (`POST /v1/audit/export`; `AuditBundle` of core). */
export const auditBundleSchema = z.strictObject({
  format: z.literal('aos-audit-bundle/1'),
  exportedAt: iso,
  records: z.array(auditRecordSchema),
  checkpoint: auditCheckpointSchema,
});

const policySummary = z.strictObject({
  id: z.string(),
  effect: z.enum(['permit', 'forbid']),
  file: z.string(),
  annotations: z.record(z.string(), z.string()),
});
const policyFile = z.strictObject({ file: z.string(), text: z.string() });

/** The active policy set: its hash, its policies, and the Cedar texts on disk now (`GET /v1/policies`). */
export const policySetSchema = z.strictObject({
  hash: z.string(),
  source: z.string(),
  permits: z.array(policySummary),
  approvals: z.array(policySummary),
  files: z.strictObject({ policies: z.array(policyFile), approvals: z.array(policyFile) }),
});

const budgetUse = {
  calls: z.number().optional(),
  cost: z.number().optional(),
  onExceed: z.enum(['deny', 'approval']),
  approvers: z.string(),
  used: z.strictObject({ calls: z.number(), cost: z.number() }),
  tokens: z.strictObject({ input: z.number(), output: z.number() }),
};

/** A configured budget and its use in the current period (`GET /v1/budgets`, `budgets`). */
export const budgetUsageSchema = z.strictObject({
  /** `global`, `role:<role>` or `agent:<id>`. */
  scope: z.string(),
  period: z.enum(['hour', 'day', 'month', 'total']),
  periodStart: iso,
  ...budgetUse,
});

/** One run's use of its workflow's budget, over the run's whole life (`GET /v1/budgets`, `runs`). */
export const runBudgetUsageSchema = z.strictObject({
  /** `run:<id>`. */
  scope: z.string(),
  period: z.literal('total'),
  periodStart: z.literal('total'),
  ...budgetUse,
  run: z.strictObject({ id: z.string(), workflow: z.string(), status: z.string() }),
});

/** The audit chain check (`GET /v1/audit/verify`; `AuditVerifyReport` of core). */
export const auditVerifyReportSchema = z.strictObject({
  ok: z.boolean(),
  verified: z.number(),
  records: z.number(),
  firstBad: z.strictObject({ seq: z.number(), reason: z.string() }).optional(),
  checkpoints: z.array(
    z.strictObject({
      treeSize: z.number(),
      ok: z.boolean(),
      reason: z.string().optional(),
      source: z.string(),
    }),
  ),
  unsealed: z.number(),
});

/**
 * One tool of the catalogue (`GET /v1/tools`). `inputSchema` is the upstream's JSON Schema, open by nature, so it is
 * a record rather than a shape.
 */
export const toolSummarySchema = z.strictObject({
  name: z.string(),
  connector: z.string(),
  status: z.enum(['active', 'quarantined', 'removed']),
  description: z.string().nullable(),
  metadata: z.strictObject({
    effect: z.enum(['read', 'write']),
    destructive: z.boolean(),
    idempotent: z.boolean(),
    untrustedOutput: z.boolean(),
    risk: z.enum(['low', 'medium', 'high']),
  }),
  /** Cost units one call charges against budgets. */
  cost: z.number(),
  definitionHash: z.string(),
  /** The tool that reverses this one, if any. */
  reversal: z.string().nullable(),
  inputSchema: z.record(z.string(), z.unknown()),
});

const actionOutcome = z.enum(['allowed', 'pending_approval', 'denied']);

/** The receipt of an action: the six questions and the audit records behind them (`Receipt` of core). */
export const receiptSchema = z.strictObject({
  action: z.strictObject({
    id: z.string(),
    agentId: z.string(),
    tool: z.string(),
    environment: z.string(),
    status: z.enum(ACTION_STATUSES),
    outcome: actionOutcome,
    createdAt: iso,
    finishedAt: iso.nullable(),
    sessionId: z.string().nullable(),
    /** The OpenTelemetry trace the action was recorded in; null when tracing was off. */
    traceId: z.string().nullable(),
  }),
  did: z.strictObject({
    summary: z.string(),
    reason: z.string().nullable(),
    confidence: z.number().nullable(),
    onBehalfOf: z.string().nullable(),
  }),
  data: z.strictObject({
    connector: z.string().nullable(),
    effect: z.string().nullable(),
    input: z.record(z.string(), z.unknown()),
    identifiers: z.array(z.string()),
    resultSummary: z.string().nullable(),
    cached: z.boolean(),
  }),
  policy: z.strictObject({
    outcome: actionOutcome,
    policies: z.array(z.string()),
    reasons: z.array(z.string()),
    policyHash: z.string(),
    risk: z.number(),
  }),
  checks: z.array(
    z.strictObject({
      name: z.string(),
      result: z.enum(['pass', 'fail', 'approval', 'skip']),
      detail: z.string(),
    }),
  ),
  approval: approvalSchema
    .pick({
      id: true,
      status: true,
      group: true,
      quorum: true,
      level: true,
      escalation: true,
      expiresAt: true,
      votes: true,
    })
    .nullable(),
  reversal: z.strictObject({
    available: z.boolean(),
    tool: z.string().nullable(),
    command: z.string().nullable(),
    reversedBy: z.array(z.string()),
    reversalOf: z.string().nullable(),
    note: z.string(),
  }),
  audit: z.array(z.strictObject({ seq: z.number(), ts: iso, actor: z.string(), type: z.string() })),
});

const failure = z.strictObject({ code: z.string(), message: z.string(), retryable: z.boolean() });

/** A workflow run (`WorkflowRun` of core). `input` and `output` are the workflow's own data, of any shape. */
export const runSchema = z.strictObject({
  id: z.string(),
  workflow: z.string(),
  version: z.string(),
  definitionHash: z.string(),
  owner: z.string(),
  status: z.enum(['running', 'compensating', 'completed', 'failed', 'cancelled']),
  input: z.unknown(),
  output: z.unknown(),
  error: failure.nullable(),
  /** `human:<id>`, `webhook:<name>`, `cron:<name>`, … */
  createdBy: z.string(),
  createdAt: iso,
  updatedAt: iso,
  leaseOwner: z.string().nullable(),
  leaseUntil: z.number(),
  /** A sub-run: the run and step that started it. */
  parentRunId: z.string().nullable(),
  parentStepId: z.string().nullable(),
});

const unknownOutcome = z.strictObject({
  actionId: z.string(),
  index: z.number().optional(),
  compensation: z.boolean().optional(),
});
const optNum = z.number().optional();

/** One item of a parallel or consensus step (`ItemState` of core). */
const itemStateSchema = z.strictObject({
  status: z.enum(['pending', 'running', 'waiting', 'completed', 'failed']),
  output: z.unknown().optional(),
  error: failure.optional(),
  actionId: z.string().optional(),
  taskId: z.string().optional(),
  agent: z.string().optional(),
  completedAt: optNum,
  restarts: optNum,
  unknownOutcome: unknownOutcome.optional(),
  retries: optNum,
  compensationRetries: optNum,
});

/** One step's state, rebuilt from the run's history, with the step's kind (`StepState` of core). */
const stepStateSchema = z.strictObject({
  kind: z.string(),
  status: z.enum(['pending', 'running', 'waiting', 'completed', 'skipped', 'failed']),
  attempt: z.number(),
  output: z.unknown().optional(),
  error: failure.optional(),
  actionId: z.string().optional(),
  retryAtMs: optNum,
  deadlineMs: optNum,
  approval: z
    .strictObject({ group: z.string(), quorum: z.number(), prompt: z.string().optional() })
    .optional(),
  votes: z.array(z.strictObject({ human: z.string(), vote: z.enum(['approve', 'deny']) })),
  critique: z.string().optional(),
  rounds: z.number(),
  completedAt: optNum,
  items: z.array(itemStateSchema).optional(),
  over: z.array(z.unknown()).optional(),
  event: z.string().optional(),
  wakeAtMs: optNum,
  childRunId: z.string().optional(),
  childCancelled: z.boolean().optional(),
  escalateAtMs: optNum,
  fallback: z.boolean().optional(),
  blockedOn: z.string().optional(),
  blockedAtMs: optNum,
  pausedUntilMs: optNum,
  pausedAtMs: optNum,
  pausedReason: z.enum(['breaker', 'intervention']).optional(),
  pausedDetail: z.string().optional(),
  freeAttempts: optNum,
  compensationRestarts: optNum,
  escalatedTo: z.string().optional(),
  escalatedAttempt: optNum,
  unknownOutcome: unknownOutcome.optional(),
  compensationRetries: optNum,
});

/**
 * A run with its steps, history, leases and budget (`GET /v1/runs/:id`; `WorkflowRunDetail` of core). Each history
 * event is described by what every event has (`type`, `seq`, `at`); the fields of each of its many types are the
 * history format's own and are left open here (`looseObject`), not described twice.
 */
export const runDetailSchema = runSchema.extend({
  steps: z.record(z.string(), stepStateSchema),
  events: z.array(z.looseObject({ type: z.string(), seq: z.number(), at: iso })),
  leases: z.array(
    z.strictObject({
      key: z.string(),
      holder: z.string(),
      runId: z.string(),
      priority: z.number(),
      acquiredAt: iso,
    }),
  ),
  paused: z.strictObject({ by: z.string(), reason: z.string().optional() }).optional(),
  budget: z
    .strictObject({
      calls: z.number().optional(),
      cost: z.number().optional(),
      onExceed: z.enum(['deny', 'approval']),
      approvers: z.string(),
      used: z.strictObject({ calls: z.number(), cost: z.number() }),
    })
    .optional(),
});

/** What a policy decision was (`PolicyOutcome` of core). */
const policyOutcome = z.enum(['allow', 'approval', 'deny']);

/**
 * What replaying the recorded decisions under a proposed policy set found (`POST /v1/policies/replay`;
 * `ReplayReport` of core), with the replay's start and the active set's hash the route adds.
 */
export const replayReportSchema = z.strictObject({
  /** Hash of the proposed policy set. */
  policyHash: z.string(),
  /** Decisions re-decided (skipped ones excluded). */
  replayed: z.number(),
  unchanged: z.number(),
  changed: z.array(
    z.strictObject({
      actionId: z.string(),
      seq: z.number(),
      at: iso,
      tool: z.string(),
      agent: z.string(),
      before: policyOutcome,
      after: policyOutcome,
      beforePolicies: z.array(z.string()),
      policies: z.array(z.string()),
    }),
  ),
  skipped: z.array(
    z.strictObject({
      actionId: z.string(),
      seq: z.number(),
      tool: z.string(),
      agent: z.string(),
      reason: z.string(),
    }),
  ),
  /** Counts of changes by `before->after`, e.g. `{ "allow->deny": 2 }`. */
  transitions: z.record(z.string(), z.number()),
  since: iso,
  activeHash: z.string(),
});

/** Who must approve an action, how many, by when, and who next (`ApprovalRequirement` of core). */
const approvalRequirementSchema = z.strictObject({
  group: z.string(),
  quorum: z.number(),
  expirySec: z.number(),
  escalation: z.array(z.string()),
  barOwner: z.boolean(),
  policies: z.array(z.string()),
});

/** The decision as stored with an action: the policy decision plus pipeline facts (`StoredDecision` of core). */
export const storedDecisionSchema = z.strictObject({
  outcome: policyOutcome,
  policies: z.array(z.string()),
  reasons: z.array(z.string()),
  checks: receiptSchema.shape.checks,
  risk: z.number(),
  policyHash: z.string(),
  approval: approvalRequirementSchema.optional(),
  /** Policies whose conditions errored (none of them allowed anything). */
  errors: z.array(z.strictObject({ policyId: z.string(), message: z.string() })),
  /** The call was over a budget whose onExceed is approval; approving charges it. */
  overBudget: z.boolean().optional(),
  /** The admin for whom the agent-status guard was waived (a reversal of a paused or revoked agent's action). */
  statusWaivedBy: z.string().optional(),
});

/**
 * An action as every front shows it (`ActionView` of core); `replayed` is set (only) on the 200 answer of an
 * idempotent replay of `POST /v1/actions`. `input` is the agent's own arguments and a result's `content` and
 * `structuredContent` the upstream's, of any shape.
 */
export const actionSchema = z.strictObject({
  id: z.string(),
  agentId: z.string(),
  tool: z.string(),
  input: z.record(z.string(), z.unknown()),
  environment: z.string(),
  sessionId: z.string().nullable(),
  idempotencyKey: z.string().nullable(),
  reason: z.string().nullable(),
  confidence: z.number().nullable(),
  onBehalfOf: z.string().nullable(),
  /** The action this one reverses (an undo). */
  reversalOf: z.string().nullable(),
  outcome: actionOutcome,
  status: z.enum(ACTION_STATUSES),
  decision: storedDecisionSchema,
  approvalId: z.string().nullable(),
  result: z
    .strictObject({
      content: z.array(z.unknown()),
      structuredContent: z.unknown().optional(),
      isError: z.boolean(),
    })
    .nullable(),
  error: z.strictObject({ code: z.string(), message: z.string() }).nullable(),
  risk: z.number(),
  policyHash: z.string(),
  cached: z.boolean(),
  createdAt: iso,
  updatedAt: iso,
  startedAt: iso.nullable(),
  finishedAt: iso.nullable(),
  /** The OpenTelemetry trace the action was recorded in; null when tracing was off. */
  traceId: z.string().nullable(),
  spanId: z.string().nullable(),
  parentSpanId: z.string().nullable(),
  replayed: z.literal(true).optional(),
});

/** The wire form of an action: {@link actionSchema}'s output. */
export type ActionAnswer = z.output<typeof actionSchema>;

/**
 * A workflow as `GET /v1/workflows` lists it: its validated definition, described by the very schema that parses
 * workflow files (`WorkflowDefinition` of core), with `version` as it comes out of that parse (always a string).
 */
export const workflowSummarySchema = workflowSchema.extend({ version: z.string() });

/** A 2xx answer described by a zod schema: its status, the schema and, for a shared shape, its component name. */
export interface ResponseSpec {
  status: '200' | '201';
  schema: z.ZodType;
  component?: string;
}

const agent: ResponseSpec = { status: '200', schema: agentRecordSchema, component: 'AgentRecord' };
const approval: ResponseSpec = { status: '200', schema: approvalSchema, component: 'Approval' };
const run: ResponseSpec = { status: '200', schema: runSchema, component: 'Run' };
const runDetail: ResponseSpec = { status: '200', schema: runDetailSchema, component: 'RunDetail' };
const action: ResponseSpec = { status: '200', schema: actionSchema, component: 'Action' };
const vote: ResponseSpec = {
  status: '200',
  schema: z.strictObject({ approval: approvalSchema, action: actionSchema.nullable() }),
};

/** Each operation (in the route table's `METHOD /path/:param` form) whose answer has a zod schema. */
export const RESPONSES: Record<string, ResponseSpec> = {
  'GET /v1/whoami': { status: '200', schema: whoAmISchema, component: 'WhoAmI' },
  'GET /v1/agents': {
    status: '200',
    schema: z.strictObject({ agents: z.array(agentRecordSchema), nextCursor: z.string().nullable() }),
  },
  'POST /v1/agents': { ...agent, status: '201' },
  'GET /v1/agents/:id': agent,
  'POST /v1/agents/:id/pause': agent,
  'POST /v1/agents/:id/resume': agent,
  'POST /v1/agents/:id/kill': agent,
  'POST /v1/agents/:id/revoke': agent,
  'POST /v1/agents/:id/tier': agent,
  'GET /v1/killswitch': { status: '200', schema: z.strictObject({ switches: z.array(killSwitchSchema) }) },
  'POST /v1/killswitch': { status: '200', schema: killSwitchSchema, component: 'KillSwitch' },
  'GET /v1/approvals': { status: '200', schema: z.strictObject({ approvals: z.array(approvalSchema) }) },
  'GET /v1/approvals/:id': approval,
  'POST /v1/approvals/:id/approve': vote,
  'POST /v1/approvals/:id/deny': vote,
  'GET /v1/evals/runs': {
    status: '200',
    schema: z.strictObject({ runs: z.array(evalRunRecordSchema) }),
  },
  'GET /v1/agents/:id/evals': { status: '200', schema: agentEvalsSchema, component: 'AgentEvals' },
  'GET /v1/evals/coverage': { status: '200', schema: coverageReportSchema, component: 'EvalCoverage' },
  'GET /v1/reports/summary': { status: '200', schema: reportSummarySchema, component: 'ReportSummary' },
  'GET /v1/budgets': {
    status: '200',
    schema: z.strictObject({ budgets: z.array(budgetUsageSchema), runs: z.array(runBudgetUsageSchema) }),
  },
  'GET /v1/audit/verify': { status: '200', schema: auditVerifyReportSchema, component: 'AuditVerifyReport' },
  'GET /v1/audit': {
    status: '200',
    schema: z.strictObject({ records: z.array(auditRecordSchema), nextCursor: z.string().nullable() }),
  },
  'GET /v1/audit/checkpoint': {
    status: '200',
    schema: z.strictObject({
      checkpoint: auditCheckpointSchema.nullable(),
      head: z.strictObject({ seq: z.number(), hash: z.string() }),
    }),
  },
  'POST /v1/audit/export': { status: '200', schema: auditBundleSchema, component: 'AuditBundle' },
  'GET /v1/policies': { status: '200', schema: policySetSchema, component: 'PolicySet' },
  'POST /v1/policies/replay': { status: '200', schema: replayReportSchema, component: 'PolicyReplayReport' },
  'GET /v1/tools': { status: '200', schema: z.strictObject({ tools: z.array(toolSummarySchema) }) },
  'POST /v1/actions': { ...action, status: '201' },
  'GET /v1/actions': {
    status: '200',
    schema: z.strictObject({ actions: z.array(actionSchema), nextCursor: z.string().nullable() }),
  },
  'GET /v1/actions/:id': action,
  'POST /v1/actions/:id/undo': { ...action, status: '201' },
  'GET /v1/actions/:id/receipt': { status: '200', schema: receiptSchema, component: 'Receipt' },
  'GET /v1/workflows': {
    status: '200',
    schema: z.strictObject({ workflows: z.array(workflowSummarySchema) }),
  },
  'POST /v1/workflows/:name/runs': { ...run, status: '201' },
  'GET /v1/runs': { status: '200', schema: z.strictObject({ runs: z.array(runSchema) }) },
  'GET /v1/runs/:id': runDetail,
  'POST /v1/runs/:id/steps/:step/approve': runDetail,
  'POST /v1/runs/:id/steps/:step/deny': runDetail,
  'POST /v1/runs/:id/cancel': run,
  'POST /v1/runs/:id/pause': run,
  'POST /v1/runs/:id/resume': run,
};

/** A tool as `GET /v1/tools` lists it, from the registry's {@link RegisteredTool}. */
type ToolSummary = Pick<
  RegisteredTool,
  'name' | 'connector' | 'status' | 'metadata' | 'cost' | 'definitionHash'
> & {
  description: string | null;
  reversal: string | null;
  inputSchema: RegisteredTool['definition']['inputSchema'];
};

/** Compile-time drift check: each schema's output is exactly the core type it describes. */
type Same<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false;
/**
 * {@link Same}, and the same keys at every depth: mutual assignability alone misses an optional field one side lacks
 * (a strict schema without it would then refuse an answer that carries it).
 */
type Exact<A, B> =
  Same<A, B> extends true
    ? [NonNullable<A>] extends [object]
      ? Same<keyof NonNullable<A>, keyof NonNullable<B>> extends true
        ? {
            [K in keyof NonNullable<A>]-?: K extends keyof NonNullable<B>
              ? Exact<NonNullable<A>[K], NonNullable<B>[K]>
              : false;
          }[keyof NonNullable<A>] extends true
          ? true
          : false
        : false
      : true
    : false;
const exact: [
  Exact<z.output<typeof agentRecordSchema>, Agent>,
  Exact<z.output<typeof killSwitchSchema>, KillSwitch>,
  Exact<z.output<typeof evidencePackSchema>, EvidencePack>,
  Exact<z.output<typeof approvalSchema>, Approval>,
  Exact<z.output<typeof reportSummarySchema>, LeaderReport>,
  Exact<z.output<typeof evalRunRecordSchema>, Omit<EvalRun, 'caseSummaries'>>,
  Exact<z.output<typeof budgetUsageSchema>, Awaited<ReturnType<BudgetService['usage']>>[number]>,
  Exact<z.output<typeof runBudgetUsageSchema>, RunBudgetUsage>,
  Exact<z.output<typeof auditVerifyReportSchema>, AuditVerifyReport>,
  Exact<z.output<typeof toolSummarySchema>, ToolSummary>,
  Exact<z.output<typeof receiptSchema>, Receipt>,
  Exact<z.output<typeof runSchema>, WorkflowRun>,
  Exact<z.output<typeof actionSchema>, ActionView & { replayed?: true }>,
  Exact<z.output<typeof workflowSummarySchema>, WorkflowDefinition>,
  Exact<z.output<typeof replayReportSchema>, ReplayReport & { since: string; activeHash: string }>,
  Exact<z.output<typeof gateCheckSchema>, GateCheck>,
  Exact<z.output<typeof auditBundleSchema>, AuditBundle>,
  Exact<z.output<typeof auditRecordSchema>, Awaited<ReturnType<AuditLog['search']>>[number]>,
  Exact<
    z.output<typeof policySetSchema>['permits'][number],
    Pick<CedarPolicySet['policies'][number], 'id' | 'effect' | 'file' | 'annotations'>
  >,
  Exact<z.output<typeof coverageReportSchema>, CoverageReport>,
  Exact<
    z.output<typeof agentEvalsSchema>,
    {
      agentId: string;
      tier: Agent['tier'];
      status: AgentStatus;
      latest: Omit<EvalRun, 'caseSummaries'>[];
      gates: GateCheck[];
    }
  >,
] = [
  true,
  true,
  true,
  true,
  true,
  true,
  true,
  true,
  true,
  true,
  true,
  true,
  true,
  true,
  true,
  true,
  true,
  true,
  true,
  true,
  true,
];
void exact;

/** The history events are open in the schema (see {@link runDetailSchema}): every run detail core builds still fits. */
type Fits<A, B> = [A] extends [B] ? true : false;
const fits: [
  Exact<Omit<z.output<typeof runDetailSchema>, 'events'>, Omit<WorkflowRunDetail, 'events'>>,
  Fits<WorkflowRunDetail, z.output<typeof runDetailSchema>>,
] = [true, true];
void fits;
