import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { validate } from '@readme/openapi-parser';
import { actionRequestSchema, createAgentSchema } from '@autonomy-os/core';
import { openApiDocument } from './openapi.js';
import { promoteBody } from './routes/evals.js';
import { replayRequestSchema } from './routes/policies.js';
import { resolveOutcomeBody } from './routes/run-outcomes.js';
import { signInBody } from './routes/sign-in.js';
import { taskBodies } from './routes/tasks.js';

/**
 * Each operation whose body a route (or the engine behind it) validates with a zod schema, and that schema. The
 * route coverage of the document (every Fastify route is in it, with its method) is checked by
 * test/authorization-matrix.test.ts against the server's own route table.
 */
const BODIES: Record<string, z.ZodType> = {
  'POST /v1/actions': actionRequestSchema,
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

  it('is a valid OpenAPI 3.1 document', async () => {
    // validate() dereferences in place; give it a copy so the document above stays as served.
    const result = await validate(structuredClone(doc) as never);
    expect(result.valid ? [] : result.errors).toEqual([]);
    expect((doc as unknown as { openapi: string }).openapi).toBe('3.1.0');
  });
});
