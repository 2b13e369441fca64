import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { validate } from '@readme/openapi-parser';
import { actionRequestSchema, createAgentSchema, createEngine, parseConfig } from '@autonomy-os/core';
import type { Engine } from '@autonomy-os/core';
import { backends } from '../../../test/helpers/backends.js';
import type { TestStore } from '../../../test/helpers/backends.js';
import { BUILTIN_TOOLS } from './mcp/builtin-tools.js';
import { toolInputSchema } from './mcp/tool-input-schema.js';
import { openApiDocument } from './openapi.js';
import { promoteBody } from './routes/evals.js';
import { replayRequestSchema } from './routes/policies.js';
import { resolveOutcomeBody } from './routes/run-outcomes.js';
import { signInBody } from './routes/sign-in.js';
import { listQueries } from './routes/list-queries.js';
import { taskBodies, taskListQuery } from './routes/tasks.js';
import { queryParameters } from './openapi-parts.js';
import { undoBody } from './routes/actions.js';
import { adminBodies } from './routes/admin.js';
import { voteBody } from './routes/approvals.js';
import { coordinationBodies } from './routes/coordination.js';
import { noBody } from './routes/no-body.js';
import { runBodies } from './routes/workflows.js';
import { buildServer } from './server.js';
import { RESPONSES } from './wire-schemas.js';
import type { AosServer } from './server.js';

/**
 * Each operation whose body a route (or the engine behind it) validates with a zod schema, and that schema. Every
 * POST/PUT/PATCH route of the server's own route table must be here or in {@link NOT_JSON_BODIES} (checked below).
 * The route coverage of the document (every Fastify route is in it, with its method) is checked by
 * test/authorization-matrix.test.ts against the same route table.
 */
const BODIES: Record<string, z.ZodType> = {
  'POST /v1/actions': actionRequestSchema,
  'POST /v1/sessions': noBody,
  'POST /v1/actions/{id}/undo': undoBody,
  'POST /v1/approvals/{id}/approve': voteBody,
  'POST /v1/approvals/{id}/deny': voteBody,
  'POST /v1/workflows/{name}/runs': runBodies.start,
  'POST /v1/runs/{id}/cancel': runBodies.cancel,
  'POST /v1/runs/{id}/signals': runBodies.signal,
  'POST /v1/runs/{id}/retry': noBody,
  'POST /v1/runs/{id}/pause': runBodies.pause,
  'POST /v1/runs/{id}/resume': noBody,
  'POST /v1/runs/{id}/steps/{step}/approve': runBodies.stepVote,
  'POST /v1/runs/{id}/steps/{step}/deny': runBodies.stepVote,
  'PUT /v1/runs/{id}/context/{key}': coordinationBodies.contextWrite,
  'POST /v1/runs/{id}/messages': coordinationBodies.message,
  'POST /v1/agents/{id}/pause': adminBodies.statusChange,
  'POST /v1/agents/{id}/resume': adminBodies.statusChange,
  'POST /v1/agents/{id}/kill': adminBodies.statusChange,
  'POST /v1/agents/{id}/revoke': adminBodies.statusChange,
  'POST /v1/agents/{id}/tier': adminBodies.tier,
  'POST /v1/killswitch': adminBodies.killSwitch,
  'POST /v1/tools/{name}/approve': noBody,
  'POST /v1/audit/export': noBody,
  'POST /v1/agents': createAgentSchema,
  'POST /v1/agents/{id}/promote': promoteBody,
  'POST /v1/auth/sessions': signInBody,
  'POST /v1/policies/replay': replayRequestSchema,
  'POST /v1/runs/{id}/steps/{step}/resolve': resolveOutcomeBody,
  'POST /v1/tasks/next': taskBodies.next,
  'POST /v1/tasks/{id}/heartbeat': taskBodies.heartbeat,
  'POST /v1/tasks/{id}/complete': taskBodies.complete,
  'POST /v1/tasks/{id}/fail': taskBodies.fail,
  'POST /v1/tasks/{id}/delegate': taskBodies.delegate,
  'POST /v1/tasks/{id}/handoff': taskBodies.handoff,
  'POST /v1/tasks/{id}/resolve': taskBodies.resolve,
  'POST /v1/tasks/{id}/reject': taskBodies.reject,
};

/** The POST/PUT/PATCH routes whose body is not a REST JSON object of ours, and what checks it instead. */
const NOT_JSON_BODIES: Record<string, string> = {
  'POST /mcp': 'JSON-RPC, checked by the MCP SDK; tool arguments by the zod schemas the MCP section checks',
  'POST /v1/hooks/workflows/{name}':
    "raw signed bytes: the run input, checked by the workflow's input schema",
};

/** Each operation whose query string a route validates with a zod schema, and that schema. */
const QUERIES: Record<string, z.ZodObject> = {
  'GET /v1/actions': listQueries.actions,
  'GET /v1/approvals': listQueries.approvals,
  'GET /v1/runs': listQueries.runs,
  'GET /v1/agents': listQueries.agents,
  'GET /v1/audit': listQueries.audit,
  'GET /v1/leases': listQueries.leases,
  'GET /v1/events': listQueries.events,
  'GET /v1/tasks': taskListQuery,
};

type Doc = {
  paths: Record<string, Record<string, { requestBody?: { content?: Record<string, { schema?: unknown }> } }>>;
  components: { schemas: Record<string, unknown> };
};

const doc = openApiDocument('test') as unknown as Doc;

/** The request body schema the document gives an operation, with a top-level component `$ref` followed. */
function documentedBody(key: string): unknown {
  const [method, path] = key.split(' ') as [string, string];
  const schema = doc.paths[path]?.[method.toLowerCase()]?.requestBody?.content?.['application/json']?.schema;
  const ref = (schema as { $ref?: string } | undefined)?.$ref;
  return ref ? doc.components.schemas[ref.replace('#/components/schemas/', '')] : schema;
}

describe('the OpenAPI document', () => {
  it.each(Object.keys(BODIES))(
    'publishes for %s the JSON Schema of the zod schema that validates the body',
    (key) => {
      const want = z.toJSONSchema(BODIES[key]!, { io: 'input', unrepresentable: 'any' });
      expect(documentedBody(key)).toEqual(want);
    },
  );

  it.each(Object.keys(RESPONSES))(
    'publishes for %s the JSON Schema of the zod schema of its answer',
    (key) => {
      const [method, route] = key.split(' ') as [string, string];
      const spec = RESPONSES[key]!;
      const op = doc.paths[route.replace(/:(\w+)/g, '{$1}')]?.[method.toLowerCase()] as
        | { responses?: Record<string, { content?: Record<string, { schema?: { $ref?: string } }> }> }
        | undefined;
      const published = op?.responses?.[spec.status]?.content?.['application/json']?.schema;
      const followed = published?.$ref
        ? doc.components.schemas[published.$ref.replace('#/components/schemas/', '')]
        : published;
      expect(followed).toEqual(z.toJSONSchema(spec.schema, { io: 'output', unrepresentable: 'any' }));
    },
  );

  it.each(Object.keys(QUERIES))('lists for %s exactly the query parameters its zod schema accepts', (key) => {
    const [method, path] = key.split(' ') as [string, string];
    const op = doc.paths[path]?.[method.toLowerCase()] as { parameters?: unknown } | undefined;
    expect(op?.parameters).toEqual(queryParameters(QUERIES[key]!));
    expect(op?.parameters).not.toEqual([]);
  });

  it('is a valid OpenAPI 3.1 document', async () => {
    // validate() dereferences in place; give it a copy so the document above stays as served.
    const result = await validate(structuredClone(doc) as never);
    expect(result.valid ? [] : result.errors).toEqual([]);
    expect((doc as unknown as { openapi: string }).openapi).toBe('3.1.0');
  });
});

describe('the request bodies of the route table', () => {
  const sqlite = backends.find((b) => b.name === 'sqlite')!;
  let t: TestStore;
  let engine: Engine;
  let server: AosServer;

  beforeAll(async () => {
    t = await sqlite.create();
    engine = await createEngine({ store: t.store, config: parseConfig({ server: { port: 0 } }) });
    server = buildServer({ engine, version: 'test' });
  });
  afterAll(async () => {
    await server?.close();
    await engine?.close();
    await t?.cleanup();
  });

  it('has a zod body schema for every POST, PUT and PATCH route that takes a JSON body', () => {
    const writes = server.routes
      .filter((r) => ['POST', 'PUT', 'PATCH'].includes(r.method))
      .map((r) => `${r.method} ${r.url.replace(/:(\w+)/g, '{$1}')}`)
      .filter((k) => !(k in NOT_JSON_BODIES))
      .sort();
    expect(writes.length).toBeGreaterThan(20);
    expect(Object.keys(BODIES).sort()).toEqual(writes);
  });
});

describe('the built-in MCP tools', () => {
  it.each([...BUILTIN_TOOLS.values()].map((t) => [t.definition.name, t] as const))(
    'shows %s with the JSON Schema of the zod schema that validates its arguments',
    (_name, tool) => {
      expect(tool.definition.inputSchema).toEqual(toolInputSchema(tool.input));
      expect(tool.definition.inputSchema).toMatchObject({ type: 'object', additionalProperties: false });
    },
  );

  it('gives aos_next_task the body of POST /v1/tasks/next', () => {
    const tool = BUILTIN_TOOLS.get('aos_next_task')!;
    const strip = (s: unknown) =>
      JSON.parse(JSON.stringify(s).replace(/,?"description":"[^"]*"/g, '')) as unknown;
    expect(strip(tool.definition.inputSchema)).toEqual(strip(toolInputSchema(taskBodies.next)));
  });
});
