import { AgentRuntime } from './agents/agent-runtime.js';
import { ApprovalService, subjectOf } from './approvals/approvals.js';
import { announceApprovals } from './approvals/webhook.js';
import { BudgetService } from './budgets/budgets.js';
import type { AosConfig, ConnectorConfig } from './config/config.js';
import { taskQueueOptions, workflowsDir } from './config/config.js';
import { FailureTally } from './audit/failure-tally.js';
import { parseDurationSec } from './config/duration.js';
import { HttpConnector, McpConnector, OpenApiConnector } from './connectors/index.js';
import { Coordination } from './coordination/coordination.js';
import type { Connector } from './connectors/index.js';
import { EventBus } from './events/event-bus.js';
import { fanOutOverPostgres } from './events/postgres-fan-out.js';
import { PostgresDb } from './store/postgres-db.js';
import { KillSwitches } from './intervention/kill-switches.js';
import { SecurityViews } from './intervention/security-view.js';
import { ActionService } from './pipeline/action-service.js';
import { NodeRegistry } from './pipeline/node-registry.js';
import { emptyPolicyBundle, loadPolicyDirectory } from './policy/policy-bundle.js';
import { assertPoliciesTypeCheck } from './policy/type-check.js';
import type { PolicyTool } from './policy/type-check.js';
import type { PolicyBundle } from './policy/policy-bundle.js';
import { ChainedSecretStore, EncryptedFileSecretStore, EnvSecretStore } from './secrets/index.js';
import type { SecretStore } from './secrets/index.js';
import type { Store } from './store/open-store.js';
import { ToolRegistry } from './tools/tool-registry.js';
import { loadWorkflows } from './workflows/definition.js';
import type { WorkflowDefinition } from './workflows/definition.js';
import { loadRuleModule } from './workflows/rule-module.js';
import type { RuleHandler, WorkflowCrashPoint } from './workflows/step-runner.js';
import { WorkflowEngine } from './workflows/workflow-engine.js';
import { listenForWakes } from './workflows/wake-listener.js';
import { BackgroundErrors } from './observability/background-errors.js';
import type { Logger } from 'pino';
import { Tracing } from './observability/tracing.js';
import { AnomalyDetector } from './observability/anomalies/anomaly-detector.js';
import { Notifier } from './observability/notifications/notifier.js';

/** Options for {@link createEngine}. */
export interface EngineOptions {
  store: Store;
  config: AosConfig;
  /** Connectors to use instead of building them from config (tests, embedding). */
  connectors?: { connector: Connector; timeoutMs: number }[];
  /** A policy bundle to use instead of the config's directory. */
  policies?: PolicyBundle;
  /** Secret store for connector credentials; default: the encrypted file in the data dir, then environment. */
  secrets?: SecretStore;
  /** Workflow definitions to use instead of the config's directory. */
  workflows?: WorkflowDefinition[];
  /** Rule handlers for workflow tasks and reviews, added to those of the config's `rules` module. */
  rules?: Record<string, RuleHandler>;
  /**
   * Where background loops log the errors they survive: a pino logger, or the level of one writing JSON lines to
   * stderr. Default: silent (tests); `aos serve` logs at `warn`.
   */
  logger?: Logger | { level: string };
  /** OpenTelemetry traces to use instead of those `config.telemetry` and the `OTEL_*` variables describe. */
  tracing?: Tracing;
  /** The clock anomaly detection judges by (epoch ms); tests drive a synthetic one. Default `Date.now`. */
  clock?: () => number;
  /** Options for the workflow engine (lease length, crash hook). */
  workflowOptions?: {
    leaseMs?: number;
    claimLimit?: number;
    advanceConcurrency?: number;
    crash?: (point: WorkflowCrashPoint) => void;
  };
}

/** The engine: every service, wired once, shared by every front (REST, MCP, CLI, workflows). */
export interface Engine {
  store: Store;
  config: AosConfig;
  events: EventBus;
  tools: ToolRegistry;
  actions: ActionService;
  approvals: ApprovalService;
  budgets: BudgetService;
  killSwitches: KillSwitches;
  /**
   * This node's memory of agents and kill switches under the store's security epoch, shared by authentication,
   * the pipeline's guards and the workflow intervention gate.
   */
  security: SecurityViews;
  nodes: NodeRegistry;
  workflows: WorkflowEngine;
  /** Shared run context, messages between agents, resource leases. */
  coordination: Coordination;
  /** The built-in LLM agents of the config's `llmAgents` (not started: call `check()`, then `start()`). */
  llmAgents: AgentRuntime;
  /** Errors the background loops survived, logged and counted by loop (exposed by `/metrics`). */
  backgroundErrors: BackgroundErrors;
  /** OpenTelemetry traces (off unless configured); fronts start their request spans with it. */
  tracing: Tracing;
  /** Where `${secret:NAME}` references resolve (connector credentials, webhook keys, the metrics token). */
  secrets: SecretStore;
  /** Refused unauthenticated requests, audited in aggregate (one record per kind per window). */
  failures: FailureTally;
  /** Notifications to people (the config's `notifications:`); undefined when none are configured. */
  notifications: Notifier | undefined;
  /** The policy bundle in force. */
  policies(): PolicyBundle;
  /**
   * Reloads policies from the configured directory; a bad set — one that does not parse, or that can fail to evaluate
   * on input the tools' schemas accept — is refused and the old one stays.
   */
  reloadPolicies(): PolicyBundle;
  /**
   * Syncs tools and type-checks the policies against them (a set that can fail to evaluate on valid input is refused
   * with a `UserError` naming file, policy and fix), then registers the node, recovers orphaned actions and starts
   * background sweeps.
   */
  start(options?: { background?: boolean }): Promise<void>;
  /** One round of background work: heartbeat, recovery, approval expiry. */
  tick(): Promise<void>;
  close(): Promise<void>;
}

/** Builds the connector a config entry describes (credentials resolved from `secrets` at call time). */
export function buildConnector(c: ConnectorConfig, secrets: SecretStore): Connector {
  if (c.type === 'http') {
    return new HttpConnector({ id: c.id, operations: c.operations }, { secrets, timeoutMs: c.timeoutMs });
  }
  if (c.type === 'openapi') {
    const { id, url, file, baseUrl, include, auth, annotations, operations } = c;
    return new OpenApiConnector(
      { id, url, file, baseUrl, include, auth, annotations, operations },
      { secrets, timeoutMs: c.timeoutMs },
    );
  }
  if (c.transport === 'stdio') {
    return new McpConnector(
      {
        id: c.id,
        transport: 'stdio',
        command: c.command,
        args: c.args,
        ...(c.env ? { env: c.env } : {}),
        ...(c.cwd ? { cwd: c.cwd } : {}),
      },
      { secrets, timeoutMs: c.timeoutMs },
    );
  }
  return new McpConnector(
    {
      id: c.id,
      transport: 'http',
      url: c.url,
      ...(c.headers ? { headers: c.headers } : {}),
      ...(c.oauth ? { oauth: c.oauth } : {}),
    },
    { secrets, timeoutMs: c.timeoutMs },
  );
}

/** The registry's tools as the policy type check sees them (removed tools are never decided for). */
function policyTools(tools: ToolRegistry): PolicyTool[] {
  return tools
    .list()
    .filter((t) => t.status !== 'removed')
    .map((t) => ({
      name: t.name,
      connector: t.connector,
      metadata: t.metadata,
      inputSchema: t.definition.inputSchema,
    }));
}

/** Wires the engine from a store and a configuration. Nothing runs until {@link Engine.start}. */
export async function createEngine(options: EngineOptions): Promise<Engine> {
  const { store, config } = options;
  const secrets =
    options.secrets ??
    new ChainedSecretStore([
      await EncryptedFileSecretStore.open({ dataDir: store.dataDir }),
      new EnvSecretStore(),
    ]);
  const connectorList =
    options.connectors ??
    config.connectors.map((c) => ({
      connector: buildConnector(c, secrets),
      timeoutMs: c.timeoutMs,
      breaker: c.breaker,
    }));
  const tools = new ToolRegistry(store.db, store.audit, ToolRegistry.entries(connectorList), config.tools);
  let bundle =
    options.policies ?? (config.policies ? loadPolicyDirectory(config.policies) : emptyPolicyBundle());
  const backgroundErrors = new BackgroundErrors(options.logger);
  const events = new EventBus((err, e) => backgroundErrors.record('events.listener', err, { event: e.type }));
  const approvals = new ApprovalService(store.db, store.audit);
  const budgets = new BudgetService(store.db, config.budgets);
  const killSwitches = new KillSwitches(store.db, store.audit);
  const security = new SecurityViews({ db: store.db, agents: store.agents, killSwitches });
  const nodes = new NodeRegistry(store.db, store.audit);
  const tracing = options.tracing ?? Tracing.create({ config: config.telemetry.traces });
  const anomalies = new AnomalyDetector({
    db: store.db,
    audit: store.audit,
    config: config.anomalies,
    ...(options.clock ? { now: options.clock } : {}),
  });
  const actions = new ActionService({
    tracing,
    logger: backgroundErrors.logger.child({ component: 'pipeline' }),
    db: store.db,
    audit: store.audit,
    agents: store.agents,
    humans: store.humans,
    tools,
    approvals,
    budgets,
    killSwitches,
    security,
    events,
    nodes,
    groups: config.groups,
    anomalies,
    policies: () => bundle,
    options: {
      defaultEnvironment: config.defaultEnvironment,
      productionEnvironments: config.productionEnvironments,
      defaultApprovalGroup: config.approvals.defaultGroup,
      defaultExpirySec: parseDurationSec(config.approvals.defaultExpiry, 'config.approvals.defaultExpiry'),
    },
  });
  const rules = { ...(config.rules ? await loadRuleModule(config.rules) : {}), ...options.rules };
  const coordination = new Coordination({ db: store.db, audit: store.audit, agents: store.agents, events });
  const failures = new FailureTally({
    db: store.db,
    audit: store.audit,
    windowMs: parseDurationSec(config.server.authFailures.window, 'config.server.authFailures.window') * 1000,
  });
  const workflows = new WorkflowEngine({
    db: store.db,
    audit: store.audit,
    agents: store.agents,
    actions,
    budgets,
    definitions:
      options.workflows ??
      (workflowsDir(config)
        ? loadWorkflows(workflowsDir(config) as string, { rules: new Set(Object.keys(rules)) })
        : []),
    rules,
    nodeId: nodes.id,
    events,
    secrets,
    coordination,
    failures,
    breaker: (tool) => tools.breakerState(tool),
    tasks: taskQueueOptions(config),
    killSwitches,
    security,
    groups: config.groups,
    leaseMs: config.workflowEngine.leaseMs,
    backgroundErrors,
    approvals,
    approvalExpirySec: parseDurationSec(config.approvals.defaultExpiry, 'config.approvals.defaultExpiry'),
    tracing,
    ...options.workflowOptions,
  });
  const notifications = config.notifications
    ? new Notifier({ db: store.db, events, config: config.notifications, secrets, errors: backgroundErrors })
    : undefined;
  const timers: NodeJS.Timeout[] = [];
  const unsubscribe: (() => void)[] = [];
  let stopFanOut: (() => Promise<void>) | undefined;
  let stopWakes: (() => Promise<void>) | undefined;
  let ticking = false;
  const llmAgents = await AgentRuntime.create({
    engine: { store, config, tools, killSwitches, actions, budgets, events, workflows },
    secrets,
  });
  // A wake that arrives during a tick runs one more tick after it, so it is never lost.
  let again = false;
  const wake = () => {
    if (ticking) again = true;
    else void engine.tick();
  };
  const engine: Engine = {
    llmAgents,
    store,
    config,
    events,
    tools,
    actions,
    approvals,
    budgets,
    killSwitches,
    security,
    nodes,
    workflows,
    coordination,
    backgroundErrors,
    tracing,
    secrets,
    failures,
    notifications,
    policies: () => bundle,
    reloadPolicies() {
      if (config.policies) {
        const next = loadPolicyDirectory(config.policies);
        assertPoliciesTypeCheck(next, policyTools(tools));
        bundle = next;
      }
      return bundle;
    },
    async start(opts = {}) {
      try {
        await tools.reload();
        await tools.sync();
        // The set is checked against the tools as listed now; a policy that can type-error is refused here, before
        // this node serves anything.
        assertPoliciesTypeCheck(bundle, policyTools(tools));
      } catch (err) {
        await tools.close();
        throw err;
      }
      const hook = config.approvals.webhook;
      if (hook)
        unsubscribe.push(
          announceApprovals(events, approvals, {
            url: hook.url,
            secret: hook.secret,
            secrets,
            onError: (err, ctx) =>
              backgroundErrors.record('approvals.webhook', err, { ...ctx, level: 'warn' }),
          }),
        );
      if (notifications) unsubscribe.push(notifications.start());
      await nodes.register();
      if (store.db instanceof PostgresDb)
        stopFanOut = await fanOutOverPostgres(store.db, events, nodes.id, (err) =>
          backgroundErrors.record('events.fan_out', err, { level: 'warn' }),
        );
      await engine.tick();
      if (opts.background !== false) {
        const t = setInterval(() => void engine.tick(), 1000);
        t.unref();
        timers.push(t);
        if (notifications) {
          // Retries come due while nothing new happens; a round is also kicked whenever something is queued.
          const n = setInterval(() => notifications.kick(), 2000);
          n.unref();
          timers.push(n);
        }
        if (store.db instanceof PostgresDb)
          stopWakes = await listenForWakes(store.db, wake, (err) =>
            backgroundErrors.record('workflows.wake_listener', err),
          );
      }
    },
    async tick() {
      if (ticking) return;
      ticking = true;
      try {
        await nodes.heartbeat();
        for (const actionId of await nodes.recoverOrphans())
          events.publish('action.unknown_outcome', { actionId }, `action:${actionId}`);
        const { expired, escalated } = await approvals.sweep();
        for (const e of expired) events.publish('approval.expired', e, subjectOf(e));
        for (const approvalId of escalated)
          events.publish('approval.escalated', { approvalId }, `approval:${approvalId}`);
        await workflows.tick();
      } catch (err) {
        // The next tick retries; a store outage must not crash the server, nor go unseen.
        backgroundErrors.record('engine.tick', err);
      } finally {
        ticking = false;
      }
      if (again) {
        again = false;
        await engine.tick();
      }
    },
    async close() {
      llmAgents.stop();
      for (const t of timers) clearInterval(t);
      for (const u of unsubscribe) u();
      await notifications?.close();
      const stop = stopFanOut;
      stopFanOut = undefined;
      await stop?.();
      const stopW = stopWakes;
      stopWakes = undefined;
      await stopW?.();
      await nodes.deregister().catch(() => undefined);
      try {
        await failures.close();
      } finally {
        await tools.close();
        await tracing
          .shutdown()
          .catch((err: unknown) => backgroundErrors.record('telemetry.export', err, { level: 'warn' }));
      }
    },
  };
  return engine;
}
