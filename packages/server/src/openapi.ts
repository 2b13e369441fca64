import { z } from 'zod';
import { actionRequestSchema, createAgentSchema } from '@autonomy-os/core';
import { signInBody } from './routes/sign-in.js';
import { taskOpenApiPaths } from './routes/tasks-openapi.js';
import { evalOpenApiPaths } from './routes/evals.js';
import { replayRequestSchema } from './routes/policies.js';
import { resolveOutcomeBody } from './routes/run-outcomes.js';
import { listQueries } from './routes/list-queries.js';
import { undoBody } from './routes/actions.js';
import { adminBodies } from './routes/admin.js';
import { voteBody } from './routes/approvals.js';
import { coordinationBodies } from './routes/coordination.js';
import { noBody } from './routes/no-body.js';
import { runBodies } from './routes/workflows.js';
import { queryParameters } from './openapi-parts.js';
import { RESPONSES } from './wire-schemas.js';

const ref = (name: string) => ({ $ref: `#/components/schemas/${name}` });
const json = (schema: unknown) => ({ content: { 'application/json': { schema } } });
const errors = {
  '400': { description: 'Bad input; the message names the field', ...json(ref('Error')) },
  '401': { description: 'Missing or invalid bearer token', ...json(ref('Error')) },
  '403': { description: 'Authenticated but not allowed', ...json(ref('Error')) },
  '404': { description: 'Unknown resource', ...json(ref('Error')) },
  '409': { description: 'Conflict with current state', ...json(ref('Error')) },
  '413': { description: 'Body too large', ...json(ref('Error')) },
  '429': {
    description: 'Too many failed authentications from this address; see Retry-After',
    ...json(ref('Error')),
  },
};
const idParam = [{ name: 'id', in: 'path', required: true, schema: { type: 'string' } }];

/** The OpenAPI 3.1 document of the REST API, generated from the same schemas that validate requests. */
export function openApiDocument(version: string): Record<string, unknown> {
  const schema = (s: z.ZodType) => z.toJSONSchema(s, { io: 'input', unrepresentable: 'any' });
  const doc = {
    openapi: '3.1.0',
    info: {
      title: 'Autonomy OS',
      version,
      description: 'Control plane for a governed workforce of AI agents.',
    },
    components: {
      securitySchemes: {
        bearer: { type: 'http', scheme: 'bearer', description: 'aos_ API token or an OIDC JWT' },
      },
      schemas: {
        Error: {
          type: 'object',
          properties: {
            error: {
              type: 'object',
              properties: {
                code: { type: 'string' },
                message: { type: 'string' },
                field: { type: 'string' },
              },
            },
          },
        },
        ActionRequest: schema(actionRequestSchema),
        Vote: schema(voteBody),
        AgentCreate: schema(createAgentSchema),
        SignIn: schema(signInBody),
        NoBody: schema(noBody),
        RunStart: schema(runBodies.start),
        RunCancel: schema(runBodies.cancel),
        RunSignal: schema(runBodies.signal),
        RunPause: schema(runBodies.pause),
        StepVote: schema(runBodies.stepVote),
        ContextWrite: schema(coordinationBodies.contextWrite),
        MessageSend: schema(coordinationBodies.message),
        AgentStatusChange: schema(adminBodies.statusChange),
        AgentTier: schema(adminBodies.tier),
        KillSwitchSet: schema(adminBodies.killSwitch),
        Undo: schema(undoBody),
      },
    },
    security: [{ bearer: [] }],
    paths: {
      '/healthz': {
        get: {
          summary: 'Liveness and store check',
          security: [],
          responses: { '200': { description: 'ok' } },
        },
      },
      '/metrics': {
        get: {
          summary:
            'Prometheus metrics (open on loopback; otherwise the metrics token, an admin or an auditor)',
          responses: { '200': { description: 'text/plain; version=0.0.4' }, ...errors },
        },
      },
      '/v1/events': {
        get: {
          summary: 'The live event stream (Server-Sent Events; humans see all, agents their own)',
          parameters: queryParameters(listQueries.events),
          responses: { '200': { description: 'text/event-stream' }, ...errors },
        },
      },
      '/mcp': {
        post: {
          summary: 'MCP Streamable HTTP (agent token): JSON-RPC requests to the governed tools',
          responses: { '200': { description: 'JSON-RPC response or an SSE stream' }, ...errors },
        },
        get: {
          summary: 'MCP Streamable HTTP: the server-to-client stream of a protocol session',
          responses: {
            '200': { description: 'text/event-stream' },
            '405': { description: 'no stream' },
            ...errors,
          },
        },
        delete: {
          summary: 'MCP Streamable HTTP: end a protocol session',
          responses: { '200': { description: 'ended' }, ...errors },
        },
      },
      '/.well-known/oauth-protected-resource': {
        get: {
          summary: 'OAuth protected-resource metadata (RFC 9728) of the MCP endpoint',
          security: [],
          responses: { '200': { description: 'metadata' } },
        },
      },
      '/.well-known/oauth-protected-resource/mcp': {
        get: {
          summary: 'OAuth protected-resource metadata (RFC 9728) of the MCP endpoint',
          security: [],
          responses: { '200': { description: 'metadata' } },
        },
      },
      '/v1/whoami': {
        get: { summary: 'The caller', responses: { '200': { description: 'principal' }, ...errors } },
      },
      '/v1/actions': {
        post: {
          summary: 'Submit an action (agent token). Decided, recorded, executed if allowed.',
          parameters: [{ name: 'Idempotency-Key', in: 'header', schema: { type: 'string' } }],
          requestBody: { required: true, ...json(ref('ActionRequest')) },
          responses: {
            '201': { description: 'decided', ...json(ref('Action')) },
            '200': { description: 'idempotent replay', ...json(ref('Action')) },
            ...errors,
          },
        },
        get: {
          summary: 'Recent actions (agents see their own)',
          parameters: queryParameters(listQueries.actions),
          responses: { '200': { description: 'list' }, ...errors },
        },
      },
      '/v1/sessions': {
        post: {
          summary:
            'Open a session (agent token): actions naming its sessionId are decided on what was done in it alone. A call with no sessionId, or one the engine did not open for this agent, is decided on everything the agent did.',
          requestBody: json(ref('NoBody')),
          responses: {
            '201': {
              description: 'opened',
              ...json({
                type: 'object',
                required: ['sessionId'],
                properties: { sessionId: { type: 'string' } },
              }),
            },
            ...errors,
          },
        },
      },
      '/v1/actions/{id}': {
        get: {
          summary: 'One action',
          parameters: idParam,
          responses: { '200': { description: 'the action', ...json(ref('Action')) }, ...errors },
        },
      },
      '/v1/actions/{id}/receipt': {
        get: {
          summary: 'What it did, what it touched, which policy, which checks, who approved, how to reverse',
          parameters: idParam,
          responses: { '200': { description: 'receipt' }, ...errors },
        },
      },
      '/v1/actions/{id}/undo': {
        post: {
          summary: 'Run the registered reversal through the pipeline (owner or admins)',
          parameters: idParam,
          requestBody: json(ref('Undo')),
          responses: { '201': { description: 'the reversal, decided', ...json(ref('Action')) }, ...errors },
        },
      },
      '/v1/auth/sessions': {
        post: {
          summary:
            'Sign in with a human id and password (no bearer token: a request carrying one, an agent token included, is refused). Answers a short-lived session token.',
          security: [],
          requestBody: { required: true, ...json(ref('SignIn')) },
          responses: {
            '201': {
              description: 'signed in',
              ...json({
                type: 'object',
                required: ['token', 'tokenId', 'expiresAt', 'human'],
                properties: {
                  token: { type: 'string', description: 'aos_ bearer token, shown once' },
                  tokenId: { type: 'string' },
                  expiresAt: { type: 'string', format: 'date-time' },
                  human: { type: 'object' },
                },
              }),
            },
            ...errors,
          },
        },
      },
      '/v1/auth/sessions/current': {
        delete: {
          summary: 'Sign out: revoke the sign-in session token the request carries',
          responses: { '204': { description: 'signed out' }, ...errors },
        },
      },
      '/v1/auth/methods': {
        get: {
          summary:
            'The sign-in methods the console offers (public): password, token and, where configured, OIDC',
          security: [],
          responses: {
            '200': {
              description: 'sign-in methods',
              ...json({
                type: 'object',
                required: ['password', 'token', 'oidc'],
                properties: {
                  password: { type: 'boolean' },
                  token: { type: 'boolean' },
                  oidc: {
                    type: ['object', 'null'],
                    required: ['displayName', 'startUrl'],
                    properties: { displayName: { type: 'string' }, startUrl: { type: 'string' } },
                  },
                },
              }),
            },
          },
        },
      },
      '/v1/auth/oidc/start': {
        get: {
          summary:
            'Start OIDC sign-in (browser navigation): redirects to the provider with state, nonce and PKCE S256, kept in an encrypted HttpOnly cookie for ten minutes. 404 unless oidc.signIn is configured.',
          security: [],
          responses: { '302': { description: 'to the provider' }, ...errors },
        },
      },
      '/v1/auth/oidc/callback': {
        get: {
          summary:
            "The provider's redirect back: exchanges the code, checks the ID token (issuer, audience, nonce, expiry), maps its subject to a registered human and redirects to the console with the session token in the URL fragment (#oidc_session=…), or #oidc_error=refused.",
          security: [],
          parameters: [
            { name: 'code', in: 'query', schema: { type: 'string' } },
            { name: 'state', in: 'query', schema: { type: 'string' } },
          ],
          responses: { '302': { description: 'to the console' }, ...errors },
        },
      },
      '/v1/approvals': {
        get: {
          summary: 'Approval requests (humans): pipeline actions and workflow approval steps, one inbox',
          parameters: queryParameters(listQueries.approvals),
          responses: { '200': { description: 'list' }, ...errors },
        },
      },
      '/v1/approvals/{id}': {
        get: {
          summary:
            'One approval request with its evidence pack (reason, confidence, risk, canonical arguments, diff against the previous comparable action, session trail, determining policies) and its quorum/escalation progress',
          parameters: idParam,
          responses: { '200': { description: 'approval' }, ...errors },
        },
      },
      '/v1/approvals/{id}/approve': {
        post: {
          summary: 'Approve (humans in the group; not the requester; not a barred owner)',
          parameters: idParam,
          requestBody: json(ref('Vote')),
          responses: { '200': { description: 'vote recorded' }, ...errors },
        },
      },
      '/v1/approvals/{id}/deny': {
        post: {
          summary: 'Deny',
          parameters: idParam,
          requestBody: json(ref('Vote')),
          responses: { '200': { description: 'vote recorded' }, ...errors },
        },
      },
      '/v1/workflows': {
        get: {
          summary: 'Loaded workflow definitions (humans)',
          responses: { '200': { description: 'list' }, ...errors },
        },
      },
      '/v1/workflows/{name}/runs': {
        post: {
          summary: "Start a run (admins or the workflow's owner); body { input }",
          parameters: [{ name: 'name', in: 'path', required: true, schema: { type: 'string' } }],
          requestBody: json(ref('RunStart')),
          responses: { '201': { description: 'run' }, ...errors },
        },
      },
      '/v1/runs': {
        get: {
          summary: 'Recent workflow runs (humans)',
          parameters: queryParameters(listQueries.runs),
          responses: { '200': { description: 'list' }, ...errors },
        },
      },
      '/v1/runs/{id}': {
        get: {
          summary: 'A run with its steps and event history',
          parameters: idParam,
          responses: { '200': { description: 'run' }, ...errors },
        },
      },
      '/v1/runs/{id}/cancel': {
        post: {
          summary: "Cancel a run (admins or the workflow's owner); completed steps are compensated",
          parameters: idParam,
          requestBody: json(ref('RunCancel')),
          responses: { '200': { description: 'run' }, ...errors },
        },
      },
      '/v1/runs/{id}/signals': {
        post: {
          summary:
            "Send a signal to a running run (admins or the workflow's owner); a wait step with `event: <name>` takes it, even one that starts waiting later",
          parameters: idParam,
          requestBody: { required: true, ...json(ref('RunSignal')) },
          responses: { '201': { description: 'the stored signal' }, ...errors },
        },
      },
      '/v1/runs/{id}/retry': {
        post: {
          summary:
            "Start a failed run again from where it failed (admins or the workflow's owner); 409 unless the run is failed",
          parameters: idParam,
          requestBody: json(ref('NoBody')),
          responses: { '200': { description: 'run' }, ...errors },
        },
      },
      '/v1/runs/{id}/pause': {
        post: {
          summary:
            "Pause a running run (admins or the workflow's owner): it starts no new step and submits nothing; waiting steps keep waiting; 409 when already paused or not running",
          parameters: idParam,
          requestBody: json(ref('RunPause')),
          responses: { '200': { description: 'run' }, ...errors },
        },
      },
      '/v1/runs/{id}/resume': {
        post: {
          summary:
            "Resume a paused run (admins or the workflow's owner); 409 when it is not paused or not running",
          parameters: idParam,
          requestBody: json(ref('NoBody')),
          responses: { '200': { description: 'run' }, ...errors },
        },
      },
      '/v1/runs/{id}/steps/{step}/approve': {
        post: {
          summary: "Approve a run's approval step (humans in the step's group; not the human who started it)",
          parameters: [...idParam, { name: 'step', in: 'path', required: true, schema: { type: 'string' } }],
          requestBody: json(ref('StepVote')),
          responses: { '200': { description: 'run' }, ...errors },
        },
      },
      '/v1/runs/{id}/steps/{step}/deny': {
        post: {
          summary: "Deny a run's approval step (humans in the step's group; not the human who started it)",
          parameters: [...idParam, { name: 'step', in: 'path', required: true, schema: { type: 'string' } }],
          requestBody: json(ref('StepVote')),
          responses: { '200': { description: 'run' }, ...errors },
        },
      },
      '/v1/runs/{id}/steps/{step}/resolve': {
        post: {
          summary:
            "Decide what became of a step's action whose outcome is unknown after a crash (admins or the workflow's owner): succeeded (with output), failed, or retry; 409 unless the step waits for such a decision",
          parameters: [...idParam, { name: 'step', in: 'path', required: true, schema: { type: 'string' } }],
          requestBody: json(schema(resolveOutcomeBody)),
          responses: { '200': { description: 'run' }, ...errors },
        },
      },
      '/v1/hooks/workflows/{name}': {
        post: {
          summary:
            'Start a run of a workflow with a webhook trigger: no bearer token; X-Aos-Signature (sha256=<hex HMAC-SHA256 of "<X-Aos-Timestamp>.<X-Aos-Delivery>.<raw body>">), X-Aos-Timestamp (Unix seconds, within the trigger tolerance) and X-Aos-Delivery (a redelivery answers 200 with the run it started)',
          security: [],
          parameters: [
            { name: 'name', in: 'path', required: true, schema: { type: 'string' } },
            { name: 'X-Aos-Signature', in: 'header', required: true, schema: { type: 'string' } },
            {
              name: 'X-Aos-Delivery',
              in: 'header',
              required: true,
              schema: { type: 'string', pattern: '^[A-Za-z0-9._:-]{1,200}$' },
            },
            {
              name: 'X-Aos-Timestamp',
              in: 'header',
              required: true,
              schema: { type: 'string', pattern: '^\\d{1,12}$' },
            },
          ],
          requestBody: json({ description: 'the run input' }),
          responses: {
            '201': { description: 'run started' },
            '200': { description: 'the run this delivery already started' },
            ...errors,
          },
        },
      },
      '/v1/runs/{id}/context': {
        get: {
          summary: "A run's shared context entries (humans; agents working on the run)",
          parameters: idParam,
          responses: { '200': { description: 'entries' }, ...errors },
        },
      },
      '/v1/runs/{id}/context/{key}': {
        get: {
          summary: 'One context entry with its version and writer',
          parameters: [...idParam, { name: 'key', in: 'path', required: true, schema: { type: 'string' } }],
          responses: { '200': { description: 'entry' }, ...errors },
        },
        put: {
          summary: 'Write a context entry (attributed, audited); expectVersion fails with 409 when stale',
          parameters: [...idParam, { name: 'key', in: 'path', required: true, schema: { type: 'string' } }],
          requestBody: { required: true, ...json(ref('ContextWrite')) },
          responses: { '200': { description: 'entry' }, ...errors },
        },
      },
      '/v1/runs/{id}/messages': {
        get: {
          summary: "A run's messages (humans)",
          parameters: idParam,
          responses: { '200': { description: 'list' }, ...errors },
        },
        post: {
          summary: 'Send a message to an agent or a role working on the run (agents)',
          parameters: idParam,
          requestBody: { required: true, ...json(ref('MessageSend')) },
          responses: { '201': { description: 'message' }, ...errors },
        },
      },
      '/v1/messages': {
        get: {
          summary:
            "The calling agent's inbox (its own and its role's messages); answered messages are marked read",
          parameters: [
            { name: 'unread', in: 'query', required: false, schema: { type: 'boolean' } },
            { name: 'runId', in: 'query', required: false, schema: { type: 'string' } },
          ],
          responses: { '200': { description: 'list' }, ...errors },
        },
      },
      '/v1/leases': {
        get: {
          summary: 'Held resource leases and the steps waiting for them (humans)',
          parameters: queryParameters(listQueries.leases),
          responses: { '200': { description: 'leases and waiters' }, ...errors },
        },
      },
      ...taskOpenApiPaths(errors),
      ...evalOpenApiPaths(errors),
      '/v1/agents': {
        get: {
          summary: 'Agents',
          parameters: queryParameters(listQueries.agents),
          responses: { '200': { description: 'list' }, ...errors },
        },
        post: {
          summary: 'Register an agent (admins)',
          requestBody: json(ref('AgentCreate')),
          responses: { '201': { description: 'created' }, ...errors },
        },
      },
      '/v1/agents/{id}': {
        get: {
          summary: 'One agent',
          parameters: idParam,
          responses: { '200': { description: 'agent' }, ...errors },
        },
      },
      '/v1/agents/{id}/tier': {
        post: {
          summary: 'Promote or demote: set the tier 0-3 (admins)',
          parameters: idParam,
          requestBody: { required: true, ...json(ref('AgentTier')) },
          responses: { '200': { description: 'agent' }, ...errors },
        },
      },
      '/v1/agents/{id}/pause': {
        post: {
          summary: 'Pause (owner or admins)',
          parameters: idParam,
          requestBody: json(ref('AgentStatusChange')),
          responses: { '200': { description: 'agent' }, ...errors },
        },
      },
      '/v1/agents/{id}/revoke': {
        post: {
          summary: 'Revoke for good, with its tokens (admins)',
          parameters: idParam,
          requestBody: json(ref('AgentStatusChange')),
          responses: { '200': { description: 'agent' }, ...errors },
        },
      },
      '/v1/agents/{id}/resume': {
        post: {
          summary: 'Resume (admins)',
          parameters: idParam,
          requestBody: json(ref('AgentStatusChange')),
          responses: { '200': { description: 'agent' }, ...errors },
        },
      },
      '/v1/agents/{id}/kill': {
        post: {
          summary: 'Revoke for good (admins)',
          parameters: idParam,
          requestBody: json(ref('AgentStatusChange')),
          responses: { '200': { description: 'agent' }, ...errors },
        },
      },
      '/v1/killswitch': {
        get: { summary: 'Kill switches', responses: { '200': { description: 'list' }, ...errors } },
        post: {
          summary: 'Engage or release: {active, role? | agent? | scope?, reason?} (admins)',
          requestBody: { required: true, ...json(ref('KillSwitchSet')) },
          responses: { '200': { description: 'switch' }, ...errors },
        },
      },
      '/v1/reports/summary': {
        get: {
          summary:
            'Leader metrics per workflow and agent: runs, cycle time, outcomes, escalation rate, approval latency, cost, evaluation coverage, auditability',
          parameters: [
            { name: 'since', in: 'query', required: false, schema: { type: 'string', default: '7d' } },
          ],
          responses: { '200': { description: 'report' }, ...errors },
        },
      },
      '/v1/tools': {
        get: {
          summary: 'Tools with pinned definitions and governance metadata',
          responses: { '200': { description: 'list' }, ...errors },
        },
      },
      '/v1/tools/{name}/approve': {
        post: {
          summary: 'Approve a quarantined definition (admins)',
          parameters: [{ name: 'name', in: 'path', required: true, schema: { type: 'string' } }],
          requestBody: json(ref('NoBody')),
          responses: { '200': { description: 'tool' }, ...errors },
        },
      },
      '/v1/budgets': {
        get: { summary: 'Budget usage', responses: { '200': { description: 'list' }, ...errors } },
      },
      '/v1/audit/verify': {
        get: {
          summary: 'Verify the audit log (auditors, admins)',
          responses: { '200': { description: 'report' }, ...errors },
        },
      },
      '/v1/audit': {
        get: {
          summary: 'Search the audit log, newest first, paged (auditors, admins)',
          parameters: queryParameters(listQueries.audit),
          responses: { '200': { description: '{records, nextCursor}' }, ...errors },
        },
      },
      '/v1/audit/checkpoint': {
        get: {
          summary: 'The latest signed checkpoint and the head of the log (auditors, admins)',
          responses: { '200': { description: '{checkpoint, head}' }, ...errors },
        },
      },
      '/v1/audit/export': {
        post: {
          summary: 'Sign a checkpoint and export an offline-verifiable bundle (auditors, admins)',
          requestBody: json(ref('NoBody')),
          responses: { '200': { description: 'aos-audit-bundle/1' }, ...errors },
        },
      },
      '/v1/policies': {
        get: {
          summary: 'The active policy set: hash, policies and source texts',
          responses: { '200': { description: 'policy set' }, ...errors },
        },
      },
      '/v1/policies/replay': {
        post: {
          summary: 'Replay the decisions of the last N days under a proposed policy set (admins, auditors)',
          requestBody: {
            required: true,
            content: { 'application/json': { schema: schema(replayRequestSchema) } },
          },
          responses: { '200': { description: 'replay report' }, ...errors },
        },
      },
      '/v1/openapi.json': {
        get: { summary: 'This document', security: [], responses: { '200': { description: 'OpenAPI 3.1' } } },
      },
    },
  };
  publishResponses(doc as unknown as Doc);
  return doc;
}

type Doc = {
  paths: Record<string, Record<string, { responses: Record<string, Record<string, unknown>> }>>;
  components: { schemas: Record<string, unknown> };
};

/**
 * Gives each operation of {@link RESPONSES} the JSON Schema of its zod answer schema (a component when the shape is
 * shared), keeping the description written beside the path.
 */
function publishResponses(doc: Doc): void {
  for (const [key, spec] of Object.entries(RESPONSES)) {
    const [method, route] = key.split(' ') as [string, string];
    const op = doc.paths[route.replace(/:(\w+)/g, '{$1}')]?.[method.toLowerCase()];
    if (!op) throw new Error(`RESPONSES names ${key}, which the document does not have`);
    const out = z.toJSONSchema(spec.schema, { io: 'output', unrepresentable: 'any' });
    if (spec.component) doc.components.schemas[spec.component] = out;
    op.responses[spec.status] = {
      description: 'ok',
      ...op.responses[spec.status],
      ...json(spec.component ? ref(spec.component) : out),
    };
  }
}
