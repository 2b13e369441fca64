import { z } from 'zod';
import { ACTION_STATUSES } from '@autonomy-os/core';

const RUN_STATUSES = ['running', 'compensating', 'completed', 'failed', 'cancelled'] as const;
const APPROVAL_STATUSES = ['pending', 'approved', 'denied', 'expired'] as const;
const AGENT_STATUSES = ['active', 'paused', 'revoked'] as const;

const text = z.string().min(1, 'must not be empty').max(200, 'must be at most 200 characters');
const limit = z.coerce
  .number({ error: 'must be a whole number 1-1000' })
  .int('must be a whole number 1-1000')
  .min(1, 'must be a whole number 1-1000')
  .max(1000, 'must be a whole number 1-1000');
const status = <T extends readonly [string, ...string[]]>(values: T) =>
  z.enum(values, { error: `must be one of ${values.join(', ')}` });
/** An ISO 8601 date or date-time (`2026-12-01`, `2026-12-01T09:00:00Z`), compared with record times. */
const since = z
  .string()
  .regex(/^\d{4}-\d{2}-\d{2}(?:T\d{2}:\d{2}(?::\d{2}(?:\.\d{1,9})?)?(?:Z|[+-]\d{2}:\d{2})?)?$/, {
    error: 'must be an ISO 8601 date or date-time, e.g. 2026-12-01T09:00:00Z',
  })
  .refine((v) => !Number.isNaN(Date.parse(v)), { error: 'must be a real date' });

/** An opaque page cursor, as a previous page's `nextCursor` gave it. */
const cursor = z
  .string()
  .min(1, 'must not be empty')
  .max(500, 'must be at most 500 characters')
  .regex(/^[A-Za-z0-9_-]+$/, { error: "must be a previous page's nextCursor" });

/**
 * The query strings of the list routes. Strict: an unknown parameter, a status that does not exist or a date that
 * does not parse is a 400 naming it, never a 200 with an empty list that looks like "nothing there".
 */
export const listQueries = {
  actions: z
    .object({ status: status(ACTION_STATUSES), agent: text, tool: text, since, limit, cursor })
    .partial()
    .strict(),
  approvals: z
    .object({ status: status(APPROVAL_STATUSES), group: text })
    .partial()
    .strict(),
  runs: z
    .object({ status: status(RUN_STATUSES), workflow: text, limit })
    .partial()
    .strict(),
  agents: z
    .object({ role: text, status: status(AGENT_STATUSES), search: text, limit, cursor })
    .partial()
    .strict(),
  audit: z
    .object({ agent: text, tool: text, type: text, since, until: since, limit, cursor })
    .partial()
    .strict(),
  leases: z.object({ runId: text }).partial().strict(),
  events: z
    .object({ types: z.string().min(1).max(2000) })
    .partial()
    .strict(),
};
