import fs from 'node:fs';
import { anomaliesConfigSchema, notificationsConfigSchema } from './alerting-config.js';
import path from 'node:path';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import { UserError } from '../errors.js';
import { groupSchema } from '../identity/ids.js';
import { parseDurationSec } from './duration.js';
import { checkJsonShape, parseInput } from '../validation.js';
import { CANONICAL_JSON_MAX_DEPTH } from '../crypto/canonical-json.js';
import { llmAgentSchema } from './llm-agent-config.js';
import { evalsConfigSchema } from './evals-config.js';
import { telemetryConfigSchema } from './telemetry-config.js';

const toolNameSchema = z
  .string()
  .regex(
    /^[A-Za-z0-9_-]{1,64}(\.[A-Za-z0-9_-]{1,64})?$/,
    'must be <connector>.<tool> (letters, digits, _ and -)',
  );

const metadataOverrideSchema = z
  .object({
    effect: z.enum(['read', 'write']).optional(),
    destructive: z.boolean().optional(),
    idempotent: z.boolean().optional(),
    untrustedOutput: z.boolean().optional(),
    risk: z.enum(['low', 'medium', 'high']).optional(),
  })
  .strict();

const breakerSchema = z
  .object({
    failureThreshold: z.number().int().min(1).max(1000).default(5),
    coolDownMs: z.number().int().min(100).max(3_600_000).default(30_000),
  })
  .strict();

const connectorBase = {
  id: z.string().regex(/^[A-Za-z0-9_-]{1,64}$/, 'must be letters, digits, _ and - (no dots)'),
  timeoutMs: z.number().int().min(10).max(600_000).default(30_000),
  breaker: breakerSchema.optional(),
};

const annotationsSchema = z
  .object({
    title: z.string().optional(),
    readOnlyHint: z.boolean().optional(),
    destructiveHint: z.boolean().optional(),
    idempotentHint: z.boolean().optional(),
    openWorldHint: z.boolean().optional(),
  })
  .strict();

/** `type: openapi`: every operation (or a selection) of an OpenAPI 3.0/3.1 document becomes a tool. */
const openApiConnectorSchema = z
  .object({
    ...connectorBase,
    type: z.literal('openapi'),
    /** The document's http(s) URL (re-read at every tool sync). One of url or file. */
    url: z.string().url().optional(),
    /** The document's file (JSON or YAML), relative to aos.yaml. One of url or file. */
    file: z.string().min(1).optional(),
    /** Replaces the document's servers as the base URL of every operation. */
    baseUrl: z.string().url().optional(),
    /** Only the operations with one of these tags or operationIds become tools (default: all). */
    include: z
      .object({
        tags: z.array(z.string().min(1)).optional(),
        operationIds: z.array(z.string().min(1)).optional(),
      })
      .strict()
      .optional(),
    /**
     * Credentials by security scheme name of the document, from the secret store: `secret` is the API key, bearer
     * token, basic password or OAuth client secret; `username` (http basic), `clientId` and `scopes` (oauth2).
     */
    auth: z
      .record(
        z.string().min(1),
        z
          .object({
            secret: z.string().regex(/^[A-Za-z_][A-Za-z0-9_.-]{0,127}$/, 'must be a secret name'),
            username: z.string().optional(),
            clientId: z.string().optional(),
            scopes: z.array(z.string()).optional(),
          })
          .strict(),
      )
      .default({}),
    /** Annotations for every operation, over the defaults of its HTTP method (e.g. openWorldHint: false). */
    annotations: annotationsSchema.optional(),
    /** Per-operation settings by operationId: description, effect and annotations. */
    operations: z
      .record(
        z.string().min(1),
        z
          .object({
            description: z.string().optional(),
            effect: z.enum(['read', 'write']).optional(),
            annotations: annotationsSchema.optional(),
          })
          .strict(),
      )
      .default({}),
  })
  .strict();

/** An upstream system: an MCP server (stdio or Streamable HTTP), HTTP operations or an OpenAPI document. */
export const connectorSchema = z.discriminatedUnion('type', [
  z.discriminatedUnion('transport', [
    z
      .object({
        ...connectorBase,
        type: z.literal('mcp'),
        transport: z.literal('stdio'),
        command: z.string().min(1),
        args: z.array(z.string()).default([]),
        env: z.record(z.string(), z.string()).optional(),
        cwd: z.string().optional(),
      })
      .strict(),
    z
      .object({
        ...connectorBase,
        type: z.literal('mcp'),
        transport: z.literal('http'),
        url: z.string().url(),
        headers: z.record(z.string(), z.string()).optional(),
        /**
         * OAuth client credentials, for an upstream that answers 401 and names its authorization server (RFC 9728):
         * the gateway gets its own token from `issuer` (only there) and sends it upstream, never the agent's.
         * `clientId` and `clientSecret` may be `${secret:NAME}`.
         */
        oauth: z
          .object({
            issuer: z.string().url(),
            clientId: z.string().min(1),
            clientSecret: z.string().min(1),
            scope: z.string().min(1).optional(),
          })
          .strict()
          .optional(),
      })
      .strict(),
  ]),
  z
    .object({
      ...connectorBase,
      type: z.literal('http'),
      operations: z
        .array(
          z
            .object({
              name: z.string().regex(/^[A-Za-z0-9_-]{1,64}$/),
              description: z.string().optional(),
              method: z.enum(['GET', 'POST', 'PUT', 'PATCH', 'DELETE']),
              url: z.string().min(1),
              inputSchema: z.record(z.string(), z.unknown()).optional(),
              outputSchema: z.record(z.string(), z.unknown()).optional(),
              body: z.union([z.literal('input'), z.record(z.string(), z.string())]).optional(),
              headers: z.record(z.string(), z.string()).optional(),
              query: z.array(z.string()).optional(),
              effect: z.enum(['read', 'write']).optional(),
              annotations: annotationsSchema.optional(),
            })
            .strict(),
        )
        .min(1),
    })
    .strict(),
  openApiConnectorSchema,
]);
export type ConnectorConfig = z.infer<typeof connectorSchema>;

/** Per-tool governance settings, keyed by `<connector>.<tool>`. */
export const toolConfigSchema = metadataOverrideSchema
  .extend({
    /** Cost units one call spends from budgets. */
    cost: z.number().int().min(0).max(1_000_000).default(1),
    /** Idempotent reads: reuse an answer for this long per agent (still decided and audited). 0 = off. */
    cacheTtlSec: z.number().int().min(0).max(86_400).default(0),
    /**
     * The top-level argument that names what a call touches (a repository, a flag, a vendor). An agent's first call
     * on a value it never touched before is a `new_resource` anomaly. Leave it unset where every call names a new
     * one (an order id on each refund): each would be new.
     */
    resource: z
      .string()
      .regex(/^[A-Za-z_][A-Za-z0-9_]{0,63}$/, 'must be the name of a top-level argument')
      .optional(),
    /** The tool that undoes this one, and a JSONata expression over `{input, result}` giving its input. */
    reversal: z
      .object({ tool: toolNameSchema, input: z.string().min(1) })
      .strict()
      .optional(),
  })
  .strict();
export type ToolConfig = z.infer<typeof toolConfigSchema>;

/** A budget: calls and cost units per period for a scope. */
export const budgetSchema = z
  .object({
    scope: z
      .string()
      .regex(
        /^(global|role:[a-z0-9][a-z0-9._-]{0,63}|agent:[a-z0-9][a-z0-9._-]{0,63})$/,
        'must be global, role:<role> or agent:<id>',
      ),
    period: z.enum(['hour', 'day', 'month', 'total']).default('day'),
    calls: z.number().int().min(0).optional(),
    cost: z.number().int().min(0).optional(),
    onExceed: z.enum(['deny', 'approval']).default('deny'),
    /** Group that approves over-budget calls when onExceed is approval. */
    approvers: z.string().min(1).default('approvers'),
  })
  .strict()
  .refine((b) => b.calls !== undefined || b.cost !== undefined, { message: 'needs calls or cost' });
export type BudgetConfig = z.infer<typeof budgetSchema>;

/** `workflows:` as an object: where the definitions are, and the limits of the task queue. */
export const workflowsConfigSchema = z
  .object({
    /** Directory (or file) of workflow definitions (`*.yaml`). */
    dir: z.string().min(1).optional(),
    /** Tasks one agent may hold at once (routing goes to a free agent). */
    maxTasksPerAgent: z.number().int().min(1).max(1000).default(1),
    /** How long a task claim lasts without a heartbeat (e.g. 60s). */
    taskLease: z
      .string()
      .regex(/^\d{1,6}[smh]$/, 'must be like 30s, 15m or 1h')
      .default('60s'),
    /** Hierarchical delegation limits: depth of the delegation chain and sub-tasks per task. */
    delegation: z
      .object({
        maxDepth: z.number().int().min(0).max(10).default(2),
        maxFanOut: z.number().int().min(1).max(100).default(5),
      })
      .strict()
      .default({ maxDepth: 2, maxFanOut: 5 }),
  })
  .strict();

/** The `aos.yaml` file. Every section is optional; unknown keys are errors (typos must not pass silently). */
export const configSchema = z
  .object({
    /** Directory of `*.cedar` permit/forbid policies, with approval rules in `approvals/*.cedar`. */
    policies: z.string().min(1).optional(),
    /**
     * Directory (or file) of workflow definitions (`*.yaml`), or an object with that path as `dir` and the task
     * queue's settings.
     */
    workflows: z.union([z.string().min(1), workflowsConfigSchema]).optional(),
    /** An ES module exporting `rules`: the in-process rule handlers workflow tasks and reviews name. */
    rules: z.string().min(1).optional(),
    /** How the workflow engine runs runs on this node. */
    workflowEngine: z
      .object({
        /**
         * How long a claimed run stays leased to a node without progress; after a node dies, its runs wait this long
         * before another node resumes them. Default 30000.
         */
        leaseMs: z.number().int().min(500).max(3_600_000).default(30_000),
      })
      .strict()
      .default({ leaseMs: 30_000 }),
    /** Environment of an action that names none. */
    defaultEnvironment: z.string().min(1).default('dev'),
    /** Environments that count as production for the tier rules. */
    productionEnvironments: z.array(z.string().min(1)).default(['production', 'prod']),
    connectors: z.array(connectorSchema).default([]),
    tools: z.record(toolNameSchema, toolConfigSchema).default({}),
    budgets: z.array(budgetSchema).default([]),
    approvals: z
      .object({
        /** Group that approves tier-1 proposals when no approval rule names one. */
        defaultGroup: z.string().min(1).default('approvers'),
        /** Time to decide before a request escalates (e.g. 15m, 1h, 2d). */
        defaultExpiry: z
          .string()
          .regex(/^\d{1,6}[smhd]$/, 'must be like 30s, 15m, 1h or 2d')
          .default('1h'),
        webhook: z
          .object({ url: z.string().url(), secret: z.string().min(1) })
          .strict()
          .optional(),
      })
      .strict()
      .default({ defaultGroup: 'approvers', defaultExpiry: '1h' }),
    /**
     * The groups that carry built-in authority. A human in `admins` administers agents, kill switches and tool
     * definitions and manages every workflow run; a human in `auditors` reads and verifies the audit log.
     */
    groups: z
      .object({
        admins: groupSchema.default('admins'),
        auditors: groupSchema.default('auditors'),
      })
      .strict()
      .default({ admins: 'admins', auditors: 'auditors' }),
    server: z
      .object({
        host: z.string().min(1).default('127.0.0.1'),
        port: z.number().int().min(0).max(65535).default(7420),
        /** Largest request body in bytes (every route, `/mcp` and webhooks too). */
        bodyLimit: z
          .number()
          .int()
          .min(1024)
          .max(64 * 1024 * 1024)
          .default(1024 * 1024),
        /** Deepest nesting of objects and arrays in a JSON body (the body itself is level 1); deeper is 400. */
        bodyMaxDepth: z.number().int().min(2).max(CANONICAL_JSON_MAX_DEPTH).default(64),
        /** Limits on failed authentication (bad or missing token, bad webhook signature) per source IP address. */
        authFailures: z
          .object({
            /**
             * Failures a source may have in one window; past it, its authenticated requests get 429 until the window
             * ends, without their credentials being checked. 0: no limit.
             */
            max: z.number().int().min(0).max(1_000_000).default(20),
            /** The window, e.g. 1m; also how often refused webhook deliveries are audited (one record per kind). */
            window: z
              .string()
              .regex(/^\d{1,6}[smh]$/, 'must be like 30s, 1m or 1h')
              .default('1m'),
          })
          .strict()
          .default({ max: 20, window: '1m' }),
        /** Password sign-in of humans (`POST /v1/auth/sessions`). */
        signIn: z
          .object({
            /** How long a sign-in session token lives, e.g. 8h; a human signs in again after it. */
            sessionTtl: z
              .string()
              .regex(/^\d{1,6}[smh]$/, 'must be like 30m or 8h')
              .default('8h'),
          })
          .strict()
          .default({ sessionTtl: '8h' }),
        /** Who may read `GET /metrics`. */
        metrics: z
          .object({
            /**
             * `auto` (default): a token is required unless `host` is a loopback address (127.0.0.1, ::1, localhost);
             * `required`: always; `none`: never.
             */
            auth: z.enum(['auto', 'required', 'none']).default('auto'),
            /**
             * A bearer token for scrapers, as a secret reference (`${secret:NAME}`); admins' and auditors' tokens
             * are accepted too.
             */
            token: z
              .string()
              .regex(
                /^\$\{secret:[A-Za-z_][A-Za-z0-9_.-]{0,127}\}$/,
                'must be a secret reference like ${secret:NAME}',
              )
              .optional(),
          })
          .strict()
          .default({ auth: 'auto' }),
      })
      .strict()
      .default({
        host: '127.0.0.1',
        port: 7420,
        bodyLimit: 1024 * 1024,
        bodyMaxDepth: 64,
        authFailures: { max: 20, window: '1m' },
        signIn: { sessionTtl: '8h' },
        metrics: { auth: 'auto' },
      }),
    /** The MCP front (`POST /mcp`). */
    mcp: z
      .object({
        /** How long a tools/call waits for a pending approval before answering `pending_approval`. */
        approvalWaitMs: z.number().int().min(0).max(600_000).default(30_000),
        /**
         * The public URL of this server's MCP endpoint (RFC 9728 `resource`), e.g. `https://aos.example.com/mcp`;
         * default: derived from each request's Host. Behind a proxy, set it.
         */
        resource: z.string().url().optional(),
        /**
         * Which groups of built-in `aos_*` tools tools/list offers beside `aos_whoami`, `aos_approval_status`,
         * `aos_request_approval` and `aos_escalate` (always offered). `auto`: the task tools (`aos_next_task`, …)
         * and the run tools (`aos_context_get`, `aos_send_message`, …) only to agents whose role takes workflow
         * tasks; `always` / `never` for every agent. A built-in not listed can still be called.
         */
        builtins: z
          .object({
            tasks: z.enum(['auto', 'always', 'never']).default('auto'),
            coordination: z.enum(['auto', 'always', 'never']).default('auto'),
          })
          .strict()
          .default({ tasks: 'auto', coordination: 'auto' }),
        /**
         * How tool names are shown to MCP clients. `dotted`: the registry's `<connector>.<tool>`. `alias`: names
         * model APIs accept (`^[a-zA-Z0-9_-]{1,64}$`, e.g. `payments_refund`), mapped back on tools/call with the
         * same reversible mapping the built-in LLM agents use. `agents` sets it per agent id; a client may also ask
         * for aliases itself (see docs/mcp.md, "Tool names").
         */
        toolNames: z
          .object({
            default: z.enum(['dotted', 'alias']).default('dotted'),
            agents: z.record(z.string().min(1), z.enum(['dotted', 'alias'])).default({}),
          })
          .strict()
          .default({ default: 'dotted', agents: {} }),
      })
      .strict()
      .default({
        approvalWaitMs: 30_000,
        builtins: { tasks: 'auto', coordination: 'auto' },
        toolNames: { default: 'dotted', agents: {} },
      }),
    /** Built-in LLM agents: registered agents a model drives, acting only through the pipeline. */
    llmAgents: z
      .array(llmAgentSchema)
      .default([])
      .refine((list) => new Set(list.map((a) => a.agent)).size === list.length, {
        message: 'names an agent twice',
      }),
    /** Evaluation suites, eval upstreams, tier gates (earned autonomy) and continuous evaluation. */
    evals: evalsConfigSchema.default({ suites: {}, connectors: [], concurrency: 4, gates: {} }),
    /** OpenTelemetry traces (OTLP over HTTP, off unless configured) and the bounds of `/metrics` labels. */
    telemetry: telemetryConfigSchema,
    /** Anomaly detection per agent from its own history. */
    anomalies: anomaliesConfigSchema.default(anomaliesConfigSchema.parse({})),
    /** Notifications to people: signed webhook, Slack-compatible webhook, e-mail. */
    notifications: notificationsConfigSchema.optional(),
    oidc: z
      .object({
        issuer: z.string().url(),
        audience: z.string().min(1),
        jwksUri: z.string().url().optional(),
        subjectClaim: z.string().min(1).optional(),
        algorithms: z.array(z.string()).min(1).optional(),
        /**
         * Console sign-in through this issuer (authorization code flow with PKCE); off unless given. The client
         * must be registered at the IdP with `redirectUri` as a redirect URI.
         */
        signIn: z
          .object({
            /** The client id registered at the IdP; ID tokens must name it as their audience. */
            clientId: z.string().min(1),
            /** The client secret, as a secret reference (`${secret:NAME}`). */
            clientSecret: z
              .string()
              .regex(
                /^\$\{secret:[A-Za-z_][A-Za-z0-9_.-]{0,127}\}$/,
                'must be a secret reference like ${secret:NAME}',
              ),
            /** This server's callback as the browser reaches it, e.g. `https://aos.example.com/v1/auth/oidc/callback`. */
            redirectUri: z
              .string()
              .url()
              .refine((u) => new URL(u).pathname.endsWith('/v1/auth/oidc/callback'), {
                message: 'must end with /v1/auth/oidc/callback',
              }),
            /** Scopes asked for; `openid` is always among them. */
            scopes: z
              .array(z.string().regex(/^[\x21\x23-\x5b\x5d-\x7e]+$/))
              .default(['openid', 'email', 'profile']),
            /** The name on the console's button ("Sign in with …"); default: the issuer's host. */
            displayName: z.string().min(1).max(60).optional(),
          })
          .strict()
          .optional(),
      })
      .strict()
      .optional(),
  })
  .strict();

/** A validated configuration. */
export type AosConfig = z.infer<typeof configSchema>;

/** The directory (or file) of workflow definitions, from either form of `workflows:`. */
export function workflowsDir(config: Pick<AosConfig, 'workflows'>): string | undefined {
  return typeof config.workflows === 'string' ? config.workflows : config.workflows?.dir;
}

/** The task queue's settings from `workflows:` (defaults when it is a path or absent). */
export function taskQueueOptions(config: Pick<AosConfig, 'workflows'>): {
  maxTasksPerAgent: number;
  leaseSec: number;
  delegation: { maxDepth: number; maxFanOut: number };
} {
  const w = typeof config.workflows === 'object' ? config.workflows : workflowsConfigSchema.parse({});
  return {
    maxTasksPerAgent: w.maxTasksPerAgent,
    leaseSec: parseDurationSec(w.taskLease, 'config.workflows.taskLease'),
    delegation: w.delegation,
  };
}

/** The JSON Schema of `aos.yaml`, published for editors and CI checks. */
export function configJsonSchema(): unknown {
  return z.toJSONSchema(configSchema, { io: 'input' });
}

/** Validates a parsed config object; errors name the path (e.g. `config.server.port`). */
export function parseConfig(raw: unknown): AosConfig {
  // A `__proto__` key would be dropped by the schema without a word: refuse it, naming its path.
  checkJsonShape(raw, { maxDepth: CANONICAL_JSON_MAX_DEPTH, prefix: 'config' });
  // The object form first on its own, so its errors name the exact path rather than "invalid input" of the union.
  const w = (raw as { workflows?: unknown } | null | undefined)?.workflows;
  if (w && typeof w === 'object') parseInput(workflowsConfigSchema, w, 'config.workflows');
  const config = parseInput(configSchema, raw ?? {}, 'config');
  config.connectors.forEach((c, i) => {
    if (c.type === 'openapi' && (c.url === undefined) === (c.file === undefined)) {
      throw new UserError('needs exactly one of url or file (the OpenAPI document)', {
        field: `config.connectors[${i}]`,
      });
    }
  });
  return config;
}

/** Reads and validates a YAML (or JSON) config file. */
export function loadConfigFile(file: string): AosConfig {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (err) {
    throw new UserError(`cannot read ${file} (${(err as NodeJS.ErrnoException).code ?? 'error'})`, {
      field: 'config',
    });
  }
  let raw: unknown;
  try {
    raw = parseYaml(text);
  } catch (err) {
    throw new UserError(`${file} is not valid YAML: ${(err as Error).message.split('\n')[0]}`, {
      field: 'config',
    });
  }
  const config = parseConfig(raw);
  // Paths in the file are relative to the file, not to wherever aos was started.
  if (config.policies) config.policies = path.resolve(path.dirname(file), config.policies);
  if (typeof config.workflows === 'string')
    config.workflows = path.resolve(path.dirname(file), config.workflows);
  else if (config.workflows?.dir)
    config.workflows.dir = path.resolve(path.dirname(file), config.workflows.dir);
  if (config.rules) config.rules = path.resolve(path.dirname(file), config.rules);
  for (const c of config.connectors) {
    if (c.type === 'openapi' && c.file) c.file = path.resolve(path.dirname(file), c.file);
  }
  for (const [name, suite] of Object.entries(config.evals.suites))
    config.evals.suites[name] = path.resolve(path.dirname(file), suite);
  return config;
}
