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
    z
      .object({
        webhook: z
          .object({
            secret: secretRefSchema,
            /**
             * How far `X-Aos-Timestamp` may be from the server's clock (either way) for a delivery to count; older
             * ones are refused as possible replays. Default 5m.
             */
            tolerance: z
              .string()
              .regex(/^\d{1,6}[smh]$/, 'must be like 30s, 5m or 1h')
              .optional(),
          })
          .strict(),
      })
      .strict(),
    z
      .object({
        cron: z.string().min(1),
        /** The run input of every scheduled run (checked against the input schema). */
        input: z.unknown().optional(),
      })
      .strict(),
  ],
  { error: 'must be { manual: {} }, { webhook: { secret, tolerance? } } or { cron, input? }' },
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

/** The workflow's webhook trigger, if it has one. */
export function webhookTrigger(
  triggers: readonly WorkflowTrigger[] | undefined,
): { secret: string; tolerance?: string | undefined } | undefined {
  for (const t of triggers ?? []) if ('webhook' in t) return t.webhook;
  return undefined;
}

/** The workflow's webhook secret reference, if it has a webhook trigger. */
export function webhookSecretRef(triggers: readonly WorkflowTrigger[] | undefined): string | undefined {
  return webhookTrigger(triggers)?.secret;
}

/** Default of a webhook trigger's `tolerance`: how old (or how far ahead) a delivery's timestamp may be. */
export const DEFAULT_WEBHOOK_TOLERANCE = '5m';

/** The latest slot of `cron` at or before `nowMs` (epoch ms, UTC). */
export function latestSlot(cron: string, nowMs: number): number {
  // prev() is strictly before currentDate: step one millisecond past now so a slot exactly at now counts.
  const it = CronExpressionParser.parse(cron, { tz: 'UTC', currentDate: new Date(nowMs + 1) });
  return it.prev().getTime();
}

/** What a webhook signature covers: the exact bytes of the body, the delivery id and the timestamp. */
export interface WebhookSigningInput {
  body: string | Buffer;
  /** `X-Aos-Delivery`. */
  delivery: string;
  /** `X-Aos-Timestamp`: Unix time in seconds, as sent. */
  timestamp: string;
}

/**
 * The signature a webhook sender puts in `X-Aos-Signature`: `sha256=` and the hex HMAC-SHA256 of
 * `${timestamp}.${delivery}.${body}` (the raw body bytes). Signing the delivery id and the time with the body means a
 * captured delivery can be neither replayed under another id nor replayed later than the tolerance.
 *
 * @example
 * const signature = signWorkflowHook(key, { body, delivery: 'evt-1', timestamp: String(Math.floor(Date.now() / 1000)) });
 */
export function signWorkflowHook(key: string, input: WebhookSigningInput): string {
  const mac = crypto.createHmac('sha256', key);
  mac.update(`${input.timestamp}.${input.delivery}.`);
  mac.update(input.body);
  return `sha256=${mac.digest('hex')}`;
}

/** Checks a {@link signWorkflowHook} signature in constant time. */
export function checkWorkflowHookSignature(
  key: string,
  input: WebhookSigningInput,
  signature: string,
): boolean {
  const expected = Buffer.from(signWorkflowHook(key, input));
  const given = Buffer.from(signature);
  return expected.length === given.length && crypto.timingSafeEqual(expected, given);
}

/**
 * The three headers a sender puts on a delivery: `X-Aos-Timestamp` (now), `X-Aos-Delivery` and `X-Aos-Signature`.
 *
 * @example
 * await fetch(url, { method: 'POST', body, headers: { 'content-type': 'application/json', ...signedWebhookHeaders(key, { body, delivery: 'evt-1' }) } });
 */
export function signedWebhookHeaders(
  key: string,
  input: { body: string | Buffer; delivery: string; nowMs?: number },
): { 'x-aos-timestamp': string; 'x-aos-delivery': string; 'x-aos-signature': string } {
  const timestamp = String(Math.floor((input.nowMs ?? Date.now()) / 1000));
  return {
    'x-aos-timestamp': timestamp,
    'x-aos-delivery': input.delivery,
    'x-aos-signature': signWorkflowHook(key, { body: input.body, delivery: input.delivery, timestamp }),
  };
}
