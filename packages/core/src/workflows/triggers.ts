import crypto from 'node:crypto';
import { Ajv } from 'ajv';
import { CronExpressionParser } from 'cron-parser';
import { z } from 'zod';
import { UserError } from '../errors.js';

/** A `${secret:NAME}` reference: the webhook key lives in the secret store, never in the workflow file. */
const secretRefSchema = z
  .string()
  .regex(/^\$\{secret:[A-Za-z_][A-Za-z0-9_.-]{0,127}\}$/, 'must be a secret reference like ${secret:NAME}');

/**
 * One way a run starts besides an admin or the owner starting it (always possible): `manual` (documents that people
 * start it), `webhook` (an HMAC-signed POST to `/v1/hooks/workflows/:name`), `cron` (a 5-field schedule, UTC).
 */
export const triggerSchema = z.union(
  [
    z.object({ manual: z.object({}).strict() }).strict(),
    z.object({ webhook: z.object({ secret: secretRefSchema }).strict() }).strict(),
    z
      .object({
        cron: z.string().min(1),
        /** The run input of every scheduled run (checked against the input schema). */
        input: z.unknown().optional(),
      })
      .strict(),
  ],
  { error: 'must be { manual: {} }, { webhook: { secret } } or { cron, input? }' },
);

/** One validated trigger. */
export type WorkflowTrigger = z.infer<typeof triggerSchema>;

/** Parses a 5-field cron expression (UTC); a bad one is a {@link UserError} naming `field`. */
export function parseCron(expr: string, field: string): ReturnType<typeof CronExpressionParser.parse> {
  if (expr.trim().split(/\s+/).length !== 5)
    throw new UserError('must be a 5-field cron expression (minute hour day-of-month month day-of-week)', {
      field,
    });
  try {
    return CronExpressionParser.parse(expr, { tz: 'UTC' });
  } catch (err) {
    throw new UserError(`bad cron expression: ${(err as Error).message}`, { field });
  }
}

/**
 * Checks triggers beyond their shape: cron expressions parse, a cron trigger's input matches the workflow's input
 * schema, at most one cron and one webhook trigger (a workflow has one schedule and one webhook secret).
 */
export function checkTriggers(
  triggers: readonly WorkflowTrigger[],
  inputSchema: Record<string, unknown>,
): void {
  let crons = 0;
  let hooks = 0;
  triggers.forEach((t, i) => {
    const at = `triggers[${i}]`;
    if ('webhook' in t && ++hooks > 1)
      throw new UserError('a workflow has at most one webhook trigger', { field: `${at}.webhook` });
    if (!('cron' in t)) return;
    if (++crons > 1) throw new UserError('a workflow has at most one cron trigger', { field: `${at}.cron` });
    parseCron(t.cron, `${at}.cron`);
    const validate = new Ajv({ strict: false }).compile(inputSchema);
    if (!validate(t.input ?? {})) {
      const e = validate.errors?.[0];
      throw new UserError(e?.message ?? 'invalid', {
        field: `${at}.input${(e?.instancePath ?? '').replaceAll('/', '.')}`,
      });
    }
  });
}

/** The workflow's cron trigger, if it has one. */
export function cronTrigger(
  triggers: readonly WorkflowTrigger[] | undefined,
): { cron: string; input?: unknown } | undefined {
  return triggers?.find((t): t is { cron: string; input?: unknown } => 'cron' in t);
}

/** The workflow's webhook secret reference, if it has a webhook trigger. */
export function webhookSecretRef(triggers: readonly WorkflowTrigger[] | undefined): string | undefined {
  for (const t of triggers ?? []) if ('webhook' in t) return t.webhook.secret;
  return undefined;
}

/** The latest slot of `cron` at or before `nowMs` (epoch ms, UTC). */
export function latestSlot(cron: string, nowMs: number): number {
  // prev() is strictly before currentDate: step one millisecond past now so a slot exactly at now counts.
  const it = CronExpressionParser.parse(cron, { tz: 'UTC', currentDate: new Date(nowMs + 1) });
  return it.prev().getTime();
}

/**
 * The signature a webhook sender puts in `X-Aos-Signature`: `sha256=` and the hex HMAC-SHA256 of the raw body.
 *
 * @example
 * fetch(url, { method: 'POST', body, headers: { 'x-aos-signature': signWorkflowHook(key, body), 'x-aos-delivery': id } })
 */
export function signWorkflowHook(key: string, body: string | Buffer): string {
  return `sha256=${crypto.createHmac('sha256', key).update(body).digest('hex')}`;
}

/** Checks a {@link signWorkflowHook} signature in constant time. */
export function checkWorkflowHookSignature(key: string, body: string | Buffer, signature: string): boolean {
  const expected = Buffer.from(signWorkflowHook(key, body));
  const given = Buffer.from(signature);
  return expected.length === given.length && crypto.timingSafeEqual(expected, given);
}
