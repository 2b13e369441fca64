/**
 * @autonomy-os/core — the engine: store, identity, audit (and, in later issues, policy, approvals, pipeline,
 * connectors, workflows). Anything exported here is public API.
 */
export {
  AosError,
  UserError,
  NotFoundError,
  ConflictError,
  AuthenticationError,
  ForbiddenError,
  SystemError,
} from './errors.js';
export { checkJsonShape, parseInput } from './validation.js';
export type { JsonShapeOptions } from './validation.js';
export { canonicalJson, sha256Hex, hashJson } from './crypto/canonical-json.js';

export type {
  Db,
  Dialect,
  ExpectedChanges,
  Executor,
  IndependentResult,
  SqlValue,
  Statement,
  WriteAloneOptions,
} from './store/db.js';
export { StaleRead, UnexpectedChanges } from './store/db.js';
export { SqliteDb } from './store/sqlite-db.js';
export type { SqliteDbOptions } from './store/sqlite-db.js';
export { PostgresDb } from './store/postgres-db.js';
export type { PostgresDbOptions } from './store/postgres-db.js';
export { migrate, migrations } from './store/migrations.js';
export type { Migration } from './store/migrations.js';
export { openStore, SQLITE_FILE } from './store/open-store.js';
export type { Store, StoreOptions } from './store/open-store.js';

export { AgentRegistry, createAgentSchema } from './identity/agents.js';
export type { Agent, AgentStatus, Tier, CreateAgentInput } from './identity/agents.js';
export { HumanDirectory, addHumanSchema } from './identity/humans.js';
export type { Human, AddHumanInput } from './identity/humans.js';
export { DEFAULT_ACCESS_GROUPS, isAdmin, mayManageRun, requireRunManager } from './identity/access.js';
export type { AccessGroups } from './identity/access.js';
export { TokenService, TOKEN_PATTERN, parseExpiry } from './identity/tokens.js';
export type { TokenInfo, TokenKind, SubjectType, IssueTokenInput } from './identity/tokens.js';
export { SignInService } from './identity/sign-in.js';
export { OidcSignInService, OIDC_FLOW_TTL_SEC } from './identity/oidc-sign-in.js';
export type { OidcSignInOptions, OidcSignInStart } from './identity/oidc-sign-in.js';
export type { SignInOptions, SignInSession } from './identity/sign-in.js';
export {
  PASSWORD_MAX_LENGTH,
  PASSWORD_MIN_LENGTH,
  checkPasswordStrength,
  hashPassword,
  verifyPassword,
} from './identity/passwords.js';
export { OidcVerifier } from './identity/oidc.js';
export type { OidcOptions, VerifiedJwt } from './identity/oidc.js';
export {
  Authenticator,
  PRINCIPAL_CACHE_MAX_AGE_MS,
  SECURITY_EPOCH_MAX_AGE_MS,
  actorOf,
  readSecurityEpoch,
} from './identity/authenticate.js';
export type { Principal } from './identity/authenticate.js';
export { idSchema, groupSchema } from './identity/ids.js';

export { AuditLog, PreparedAuditEvents, verifyRecords } from './audit/audit-log.js';
export type { AuditEvent, AuditLogOptions, AuditSearch, AuditVerifyReport } from './audit/audit-log.js';
export { cpuVerifyWorkers, verifyWorkers } from './audit/parallel-verify.js';
export type { ParallelVerifyOptions } from './audit/parallel-verify.js';
export { FailureTally } from './audit/failure-tally.js';
export type { FailureTallyOptions, TalliedFailure } from './audit/failure-tally.js';
export {
  AUDIT_FORMAT_VERSION,
  ChainVerifier,
  contentHash,
  GENESIS_HASH,
  linkHash,
  MerkleAccumulator,
  recordHash,
} from './audit/chain.js';
export type {
  AuditContent,
  AuditFormatVersion,
  AuditRecord,
  AuditRow,
  ChainProblem,
  ChainVerifierOptions,
} from './audit/chain.js';
export {
  signCheckpoint,
  checkCheckpointSignature,
  parseCheckpoint,
  loadSigningKey,
  SIGNING_KEY_FILE,
} from './audit/checkpoint.js';
export type { Checkpoint, SigningKey } from './audit/checkpoint.js';
export { exportBundle, verifyBundle } from './audit/bundle.js';
export type { AuditBundle } from './audit/bundle.js';
export {
  leafHash,
  nodeHash,
  merkleRoot,
  rootFromLeafHashes,
  inclusionProof,
  verifyInclusion,
  consistencyProof,
  verifyConsistency,
} from './audit/merkle.js';
export { redactSecrets, redactedCanonicalJson, REDACTED } from './audit/redact.js';
export {
  configSchema,
  configJsonSchema,
  parseConfig,
  loadConfigFile,
  workflowsDir,
  taskQueueOptions,
} from './config/config.js';
export type { AosConfig } from './config/config.js';

export type {
  CallToolOptions,
  Connector,
  ToolAnnotations,
  ToolDefinition,
  ToolMetadata,
  ToolResult,
  Clock,
  CircuitBreakerOptions,
  CircuitState,
  WithTimeoutOptions,
  McpConnectorConfig,
  McpConnectorOptions,
  McpHttpConfig,
  McpStdioConfig,
  HttpConnectorConfig,
  HttpConnectorOptions,
  HttpCredentials,
  HttpMethod,
  HttpOperation,
  OpenApiConnectorConfig,
  OpenApiConnectorOptions,
  OpenApiAuthConfig,
  OpenApiOperationOverride,
  OpenApiSelection,
} from './connectors/index.js';
export {
  definitionHash,
  metadataFromAnnotations,
  CircuitBreaker,
  systemClock,
  withTimeout,
  McpConnector,
  HttpConnector,
  OpenApiConnector,
  INVALID_OPENAPI_DOCUMENT,
} from './connectors/index.js';
export type {
  SecretStore,
  EnvSecretStoreOptions,
  ResolveSecretRefsOptions,
  EncryptedFileSecretStoreOptions,
} from './secrets/index.js';
export {
  EnvSecretStore,
  ChainedSecretStore,
  resolveSecretRefs,
  secretRefNames,
  assertSecretName,
  SECRET_NAME_PATTERN,
  EncryptedFileSecretStore,
} from './secrets/index.js';

export { parseDurationSec } from './config/duration.js';
export { connectorSchema, toolConfigSchema, budgetSchema } from './config/config.js';
export type { ConnectorConfig, ToolConfig, BudgetConfig } from './config/config.js';

export {
  loadCedarPolicies,
  isAuthorized,
  prepareCedarRequest,
  PreparedCedarRequest,
  createCedarEntityStore,
  CedarEntityStore,
  validateCedarPolicies,
} from './policy/cedar/index.js';
export type {
  CedarSource,
  CedarValidationIssue,
  EntityUid,
  CedarValue,
  CedarEntity,
  CedarRequest,
  CedarResponse,
  CedarPolicyError,
  CedarPolicy,
  CedarPolicySet,
} from './policy/cedar/index.js';
export { decide, riskScore } from './policy/decide.js';
export type {
  Decision,
  DecisionInput,
  DecisionOptions,
  DecisionCheck,
  ApprovalRequirement,
} from './policy/decide.js';
export {
  loadPolicyDirectory,
  policyBundleFromTexts,
  readCedarFiles,
  emptyPolicyBundle,
  BUILTIN_RULES_VERSION,
} from './policy/policy-bundle.js';
export type { PolicyBundle } from './policy/policy-bundle.js';
export { buildCedarRequest, toCedarValue } from './policy/cedar-request.js';

export { ToolRegistry } from './tools/tool-registry.js';
export type { RegisteredTool, ConnectorEntry } from './tools/tool-registry.js';
export { BudgetService, periodStart, BUDGET_ALERT_SHARE } from './budgets/budgets.js';
export type { BudgetAlert, BudgetExceeded, BudgetSubject, RunBudgetUsage } from './budgets/budgets.js';
export { KillSwitches } from './intervention/kill-switches.js';
export type { KillSwitch } from './intervention/kill-switches.js';
export { SecurityViews } from './intervention/security-view.js';
export type { SecurityView, SecurityViewsDeps } from './intervention/security-view.js';
export { ApprovalService, bindingHash, stepApprovalId, subjectOf } from './approvals/approvals.js';
export { argumentDiff } from './approvals/evidence.js';
export type { ArgumentChange, PreviousComparable } from './approvals/evidence.js';
export type {
  Approval,
  ApprovalBinding,
  ApprovalProgress,
  EvidencePack,
  VoteInput,
  VoteResult,
} from './approvals/approvals.js';
export { EventBus } from './events/event-bus.js';
export type { AosEvent, EventListener } from './events/event-bus.js';
export { ActionService, StalePrincipal } from './pipeline/action-service.js';
export type { ActionServiceDeps, SubmitExtra } from './pipeline/action-service.js';
export { actionRequestSchema, ACTION_STATUSES, FINAL_STATUSES } from './pipeline/types.js';
export type {
  ActionListFilter,
  ActionRequest,
  ActionView,
  ActionStatus,
  ActionOutcome,
  StoredDecision,
} from './pipeline/types.js';
export { NodeRegistry, NODE_STALE_MS } from './pipeline/node-registry.js';
export { CRASH_POINTS, crashPoint } from './pipeline/crash-points.js';
export type { CrashPoint } from './pipeline/crash-points.js';
export { createEngine } from './engine.js';
export type { Engine, EngineOptions } from './engine.js';
export { buildReceipt, formatReceipt } from './pipeline/receipt.js';
export type { Receipt } from './pipeline/receipt.js';
export { announceApprovals, signWebhook, verifyWebhookSignature } from './approvals/webhook.js';
export type { ApprovalWebhookOptions } from './approvals/webhook.js';
export {
  checkToolInput,
  defaultDecisionOptions,
  defaultEnvironment,
  loadToolCatalog,
  parseToolCatalog,
  parseSessionsJsonl,
  simulateSession,
  simulatedDecisionInput,
  simulatedAgentSchema,
} from './policy/simulate.js';
export type {
  SimulatedTool,
  ToolCatalog,
  SimulatedAgent,
  SimulatedCall,
  SimulatedSession,
  SessionHistory,
  SimulationOptions,
  SimulatedCallResult,
} from './policy/simulate.js';
export { loadPolicyTestFile, runPolicyTests } from './policy/policy-tests.js';
export type { PolicyTestCase, PolicyTestSuite, PolicyTestResult } from './policy/policy-tests.js';
export { replayDecisions, parseSince, guardReason, decisionInputFromAuditPayload } from './policy/replay.js';
export type {
  ReplayChange,
  ReplaySkip,
  ReplayReport,
  ReplayOptions,
  PolicyOutcome,
} from './policy/replay.js';
export { validatePolicyDirectory } from './policy/validate-directory.js';
export type {
  PolicyValidationReport,
  PolicySetSummary,
  PolicyValidationOptions,
} from './policy/validate-directory.js';
export {
  assertPoliciesTypeCheck,
  cedarSchemaFor,
  formatPolicyProblems,
  typeCheckPolicies,
} from './policy/type-check.js';
export type { PolicyProblem, PolicyTool, PolicyTypeCheck } from './policy/type-check.js';
export { configPolicyTools } from './policy/config-tools.js';
export type { ConfigPolicyTools } from './policy/config-tools.js';
export { decimalText, inputTypeOf, toCedarInput, InputConversionError } from './policy/input-types.js';
export type { InputType } from './policy/input-types.js';
export { fanOutOverPostgres, EVENT_CHANNEL, eventChannel } from './events/postgres-fan-out.js';

export {
  defineWorkflow,
  parseWorkflow,
  loadWorkflows,
  loadWorkflowFile,
  definitionHash as workflowDefinitionHash,
  workflowSchema,
} from './workflows/definition.js';
export type {
  WorkflowDefinition,
  WorkflowInput,
  StepDefinition,
  WorkflowContext,
} from './workflows/definition.js';
export { WorkflowEngine } from './workflows/workflow-engine.js';
export type { WorkflowEngineOptions, WorkflowRunDetail } from './workflows/workflow-engine.js';
export type { WorkflowRun } from './workflows/run-store.js';
export type {
  WorkflowEvent,
  WorkflowFailure,
  RunStatus,
  StepState,
  ItemEvent,
  ItemState,
  ReceivedSignal,
  RecordedEvent,
  OutcomeDecision,
  UnknownOutcome,
} from './workflows/history.js';
export { stepActionKey, compensationKey } from './workflows/step-runner.js';
export { OUTCOME_DECISIONS } from './workflows/unknown-outcome.js';
export type { RuleHandler, RuleTask, WorkflowCrashPoint } from './workflows/step-runner.js';
export { loadRuleModule } from './workflows/rule-module.js';
export {
  signWorkflowHook,
  signedWebhookHeaders,
  checkWorkflowHookSignature,
  triggerSchema,
} from './workflows/triggers.js';
export type { WebhookSigningInput } from './workflows/triggers.js';
export type { WorkflowTrigger } from './workflows/triggers.js';
export type { WebhookDelivery } from './workflows/webhook-trigger.js';
export { publishRunEvents } from './workflows/run-events.js';
export { checkWorkflowCalls } from './workflows/steps/kinds-schema.js';
export type { ParallelItemTemplate, ParallelItemTemplateInput } from './workflows/steps/kinds-schema.js';
export { itemActionKey, itemCompensationKey, ruleTaskItems } from './workflows/steps/items.js';
export type { TaskItem, TaskItemRunner } from './workflows/steps/items.js';
export { WorkerTaskItems } from './workflows/steps/worker-items.js';
export type { WorkerTaskItemsDeps } from './workflows/steps/worker-items.js';
export { childRunId } from './workflows/steps/sub-workflow.js';
export type { RunSignal } from './workflows/steps/signals.js';
export type { BreakerView } from './workflows/step-gates.js';
export { Coordination } from './coordination/coordination.js';
export type { CoordinationOptions } from './coordination/coordination.js';
export { RunContextStore, contextKeySchema } from './coordination/run-context.js';
export type { ContextEntry, ContextWrite } from './coordination/run-context.js';
export { RunMessages } from './coordination/run-messages.js';
export type { RunMessage, SendMessage } from './coordination/run-messages.js';
export { ResourceLeases, leaseHolder } from './coordination/resource-leases.js';
export type { ResourceLease, LeaseWaiter, LeaseRequest } from './coordination/resource-leases.js';
export { participantOf, requireRunAccess } from './coordination/run-access.js';
export type { RunParticipant } from './coordination/run-access.js';
export { TaskQueue } from './workflows/task-queue.js';
export type { TaskQueueOptions, CreateTaskParams } from './workflows/task-queue.js';
export { taskIdFor } from './workflows/workflow-task.js';
export type { WorkflowTask, TaskStatus, TaskContext, TaskNote } from './workflows/workflow-task.js';
export { isWorkerTask } from './workflows/worker-task-step.js';
export { replay } from './workflows/history.js';
export { nextWake } from './workflows/wake.js';
export type { RunWake } from './workflows/wake.js';
export { BackgroundErrors } from './observability/background-errors.js';
export type { BackgroundErrorContext } from './observability/background-errors.js';
export {
  SpanKind,
  Tracing,
  derivedSpanId,
  derivedTraceId,
  errorTypeOf,
  traceparentOf,
} from './observability/tracing.js';
export type {
  Attributes,
  Context,
  DeferredSpan,
  Span,
  SpanOptions,
  SpanRef,
  TraceCarrier,
  TracingOptions,
} from './observability/tracing.js';
export { MAX_RECORDED_CONTENT, emitActionSpan, recordedContent } from './observability/action-spans.js';
export { telemetryConfigSchema } from './config/telemetry-config.js';
export { readGovernanceGauges } from './observability/governance-gauges.js';
export type { GovernanceGauges } from './observability/governance-gauges.js';
export type { TelemetryConfig } from './config/telemetry-config.js';
export { AnomalyDetector, HOUR_HISTORY_MS } from './observability/anomalies/anomaly-detector.js';
export type {
  Anomaly,
  AnomalyCheck,
  AnomalyDetectorOptions,
  AnomalyKind,
  ObservedCall,
} from './observability/anomalies/anomaly-detector.js';
export { Notifier } from './observability/notifications/notifier.js';
export type { NotificationDelivery, NotifierOptions } from './observability/notifications/notifier.js';
export type { NotificationMessage } from './observability/notifications/messages.js';
export { formatReport, leaderReport, reportSince } from './observability/report/leader-report.js';
export type { LeaderReport, LeaderReportOptions, ReportRow } from './observability/report/leader-report.js';
export {
  anomaliesConfigSchema,
  notificationChannelSchema,
  notificationsConfigSchema,
} from './config/alerting-config.js';
export type {
  AnomaliesConfig,
  NotificationChannelConfig,
  NotificationsConfig,
} from './config/alerting-config.js';
export { checkDeterminism, NondeterminismError } from './workflows/history-check.js';
export type { RecordedRun } from './workflows/history-check.js';

export { blockedReason, callableTools } from './tools/callable-tools.js';
export type { ToolCatalogDeps } from './tools/callable-tools.js';
export type { ModelUsageCharge } from './budgets/budgets.js';
export { llmAgentSchema, modelConfigSchema } from './config/llm-agent-config.js';
export type { LlmAgentConfig, ModelConfig } from './config/llm-agent-config.js';
export { AgentRuntime } from './agents/agent-runtime.js';
export type {
  AgentCheck,
  AgentRuntimeEngine,
  AgentRuntimeOptions,
  AgentTaskResult,
} from './agents/agent-runtime.js';
export { LlmAgent, modelParameters, REASON_ARG, CONFIDENCE_ARG } from './agents/llm-agent.js';
export type {
  AgentRunOptions,
  AgentRunResult,
  AgentRunStatus,
  AgentStepFailure,
  AgentTask,
  LlmAgentOptions,
} from './agents/llm-agent.js';
export { ModelApiError } from './agents/model-client.js';
export type {
  ModelClient,
  ModelMessage,
  ModelReply,
  ModelRequest,
  ModelTool,
  ModelToolCall,
  ModelUsage,
} from './agents/model-client.js';
export { AnthropicModelClient, OpenAiModelClient, createModelClient } from './agents/providers.js';
export type { ModelClientOptions } from './agents/providers.js';
export { MODEL_TOOL_NAME, ToolNameMap } from './agents/tool-names.js';
export { EngineToolGateway, describeAction } from './agents/tool-gateway.js';
export type {
  AgentTool,
  AgentToolCall,
  AgentToolGateway,
  AgentToolResult,
  EngineToolGatewayOptions,
} from './agents/tool-gateway.js';
export { McpToolGateway } from './agents/mcp-tool-gateway.js';
export type { McpToolGatewayOptions } from './agents/mcp-tool-gateway.js';
export { parseSuite, loadSuiteFile, evalSuiteSchema, ASSERTION_TYPES } from './evals/suite.js';
export type { EvalSuite, EvalCase, Assertion, AssertionType, EvalAgentSpec } from './evals/suite.js';
export { runSuite, formatSummary, formatJunit } from './evals/runner.js';
export type { RunSuiteOptions, EvalRunReport, CaseResult } from './evals/runner.js';
export { EvalRunStore } from './evals/eval-run-store.js';
export type { EvalRun, EvalTrigger, EvalCaseSummary } from './evals/eval-run-store.js';
export { EVAL_ENVIRONMENT } from './evals/sandbox.js';
export type { EvalAgentContext, EvalCallResult, EvalRuleAgent, EvalCall } from './evals/sandbox.js';
export type { AssertionResult } from './evals/assertions.js';
export { evalsConfigSchema, tierGateSchema } from './config/evals-config.js';
export type { EvalsConfig, TierGate } from './config/evals-config.js';
export { checkGates, promoteAgent, PromotionRefusedError } from './evals/gates.js';
export type { GateCheck, SuiteGateStatus, PromoteAgentParams } from './evals/gates.js';
export { ContinuousEvaluation, applyRegression } from './evals/continuous.js';
export type { ContinuousEvaluationOptions, RegressionAction } from './evals/continuous.js';
export { coverageShares, evalCoverage } from './evals/coverage.js';
export { engineLeaderReport } from './observability/report/engine-report.js';
export type { CoverageReport, CoverageEntry } from './evals/coverage.js';
export { captureSuite } from './evals/capture.js';
export type { CaptureOptions } from './evals/capture.js';
