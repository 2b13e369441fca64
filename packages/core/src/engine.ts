import { ApprovalService } from './approvals/approvals.js';
import { announceApprovals } from './approvals/webhook.js';
import { BudgetService } from './budgets/budgets.js';
import type { AosConfig, ConnectorConfig } from './config/config.js';
import { taskQueueOptions, workflowsDir } from './config/config.js';
import { parseDurationSec } from './config/duration.js';
import { HttpConnector, McpConnector } from './connectors/index.js';
import { Coordination } from './coordination/coordination.js';
import type { Connector } from './connectors/index.js';
import { EventBus } from './events/event-bus.js';
import { fanOutOverPostgres } from './events/postgres-fan-out.js';
import { PostgresDb } from './store/postgres-db.js';
import { KillSwitches } from './intervention/kill-switches.js';
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
  /** Options for the workflow engine (lease length, crash hook). */
  workflowOptions?: { leaseMs?: number; claimLimit?: number; crash?: (point: WorkflowCrashPoint) => void };
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
  nodes: NodeRegistry;
  workflows: WorkflowEngine;
  /** Shared run context, messages between agents, resource leases. */
  coordination: Coordination;
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

function buildConnector(c: ConnectorConfig, secrets: SecretStore): Connector {
  if (c.type === 'http') {
    return new HttpConnector({ id: c.id, operations: c.operations }, { secrets, timeoutMs: c.timeoutMs });
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
    { id: c.id, transport: 'http', url: c.url, ...(c.headers ? { headers: c.headers } : {}) },
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
  const events = new EventBus();
  const approvals = new ApprovalService(store.db, store.audit);
  const budgets = new BudgetService(store.db, config.budgets);
  const killSwitches = new KillSwitches(store.db, store.audit);
  const nodes = new NodeRegistry(store.db, store.audit);
  const actions = new ActionService({
    db: store.db,
    audit: store.audit,
    agents: store.agents,
    tools,
    approvals,
    budgets,
    killSwitches,
    events,
    nodes,
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
    breaker: (tool) => tools.breakerState(tool),
    tasks: taskQueueOptions(config),
    killSwitches,
    leaseMs: config.workflowEngine.leaseMs,
    ...options.workflowOptions,
  });
  const timers: NodeJS.Timeout[] = [];
  const unsubscribe: (() => void)[] = [];
  let stopFanOut: (() => Promise<void>) | undefined;
  let ticking = false;
  const engine: Engine = {
    store,
    config,
    events,
    tools,
    actions,
    approvals,
    budgets,
    killSwitches,
    nodes,
    workflows,
    coordination,
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
          announceApprovals(events, approvals, { url: hook.url, secret: hook.secret, secrets }),
        );
      await nodes.register();
      if (store.db instanceof PostgresDb) stopFanOut = await fanOutOverPostgres(store.db, events, nodes.id);
      await engine.tick();
      if (opts.background !== false) {
        const t = setInterval(() => void engine.tick(), 1000);
        t.unref();
        timers.push(t);
      }
    },
    async tick() {
      if (ticking) return;
      ticking = true;
      try {
        await nodes.heartbeat();
        await nodes.recoverOrphans();
        const { expired } = await approvals.sweep();
        for (const e of expired) events.publish('approval.expired', e, `action:${e.actionId}`);
        await workflows.tick();
      } catch {
        /* the next tick retries; a store outage must not crash the server */
      } finally {
        ticking = false;
      }
    },
    async close() {
      for (const t of timers) clearInterval(t);
      for (const u of unsubscribe) u();
      const stop = stopFanOut;
      stopFanOut = undefined;
      await stop?.();
      await nodes.deregister().catch(() => undefined);
      await tools.close();
    },
  };
  return engine;
}
