import type { FastifyInstance } from 'fastify';
import { UserError, checkJsonShape } from '@autonomy-os/core';

/** What every JSON body is held to: its size (bytes, also Fastify's `bodyLimit`) and its nesting depth. */
export interface BodyLimits {
  bodyLimit: number;
  maxDepth: number;
}

/**
 * Checks a parsed JSON body against the depth limit and for reserved keys (`__proto__`), before any route or the
 * engine walks it. The one place every front's body passes through: the REST parser below, the webhook route (with
 * `prefix: 'body'`, the run input) and `/mcp` (the JSON-RPC message).
 */
export function checkJsonBody(value: unknown, limits: BodyLimits, prefix?: string): void {
  checkJsonShape(value, { maxDepth: limits.maxDepth, ...(prefix ? { prefix } : {}) });
}

/**
 * Replaces Fastify's JSON parser on `app`: a body must be valid JSON, a JSON object (every REST body is one), at most
 * `maxDepth` deep and free of reserved keys — each refusal a 400 naming the field, never a 500 from something
 * recursing over it later.
 */
export function useJsonBodyParser(app: FastifyInstance, limits: BodyLimits): void {
  app.removeContentTypeParser('application/json');
  app.addContentTypeParser('application/json', { parseAs: 'string' }, (_req, text, done) => {
    try {
      const raw = typeof text === 'string' ? text : text.toString('utf8');
      if (!raw.trim())
        throw new UserError('is empty: send a JSON object, or no content-type', { field: 'body' });
      let value: unknown;
      try {
        value = JSON.parse(raw) as unknown;
      } catch (err) {
        throw new UserError(`is not valid JSON (${(err as Error).message})`, { field: 'body' });
      }
      if (typeof value !== 'object' || value === null || Array.isArray(value))
        throw new UserError('must be a JSON object', { field: 'body' });
      checkJsonBody(value, limits);
      done(null, value);
    } catch (err) {
      done(err as Error, undefined);
    }
  });
}
