import { z } from 'zod';

/** The JSON Schema of what a caller may send, from the zod schema that validates it. */
export function inputJsonSchema(schema: z.ZodType): Record<string, unknown> {
  return z.toJSONSchema(schema, { io: 'input', unrepresentable: 'any' }) as Record<string, unknown>;
}

/**
 * The OpenAPI `parameters` of a query string, one per property of the zod object that validates it, each with that
 * property's JSON Schema, so a listed parameter is exactly one the route accepts.
 *
 * @example parameters: queryParameters(listQueries.actions)
 */
export function queryParameters(schema: z.ZodObject): Record<string, unknown>[] {
  const json = inputJsonSchema(schema) as { properties?: Record<string, unknown>; required?: string[] };
  return Object.entries(json.properties ?? {}).map(([name, s]) => ({
    name,
    in: 'query',
    required: json.required?.includes(name) ?? false,
    schema: s,
  }));
}
