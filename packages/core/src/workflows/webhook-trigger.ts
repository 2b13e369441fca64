import type { FailureTally } from '../audit/failure-tally.js';
import { parseDurationSec } from '../config/duration.js';
import { AuthenticationError, NotFoundError, UserError } from '../errors.js';
import type { SecretStore } from '../secrets/index.js';
import { resolveSecretRefs } from '../secrets/index.js';
import type { WorkflowDefinition } from './definition.js';
import type { WorkflowRun } from './run-store.js';
import { DEFAULT_WEBHOOK_TOLERANCE, checkWorkflowHookSignature, webhookTrigger } from './triggers.js';

/** One webhook delivery as it arrived: the raw body (the signature covers its exact bytes) and three headers. */
export interface WebhookDelivery {
  /** The workflow name from the URL. */
  workflow: string;
  body: string | Buffer;
  /** `X-Aos-Signature`: `sha256=<hex HMAC-SHA256 of "${timestamp}.${delivery}.${body}">`. */
  signature?: string | undefined;
  /** `X-Aos-Delivery`: the sender's id of this delivery; a redelivery with the same id starts no second run. */
  delivery?: string | undefined;
  /** `X-Aos-Timestamp`: when the sender signed it, Unix seconds. */
  timestamp?: string | undefined;
  /** The server's clock, epoch ms (tests); default now. */
  nowMs?: number;
}

/** What {@link acceptWebhook} needs from the workflow engine. */
export interface WebhookTriggerOptions {
  /** Where refusals are counted and audited in aggregate. */
  failures: FailureTally;
  secrets: SecretStore | undefined;
  definition: WorkflowDefinition | undefined;
  startOnce(p: {
    input: unknown;
    actor: string;
    triggerKey: string;
  }): Promise<{ run: WorkflowRun; created: boolean }>;
}

const DELIVERY_ID = /^[A-Za-z0-9._:-]{1,200}$/;
const TIMESTAMP = /^\d{1,12}$/;

/**
 * Starts a run from a signed webhook delivery. The workflow must declare a `webhook` trigger. The delivery id and
 * timestamp headers must be well-formed (400 naming the header); then the signature over timestamp, delivery id and
 * body is checked (constant time) with the secret its reference names, and the timestamp must lie within the
 * trigger's tolerance of now. A refusal is an authentication failure counted in aggregate
 * (`workflow.webhook_rejected` with a count per window, never the secret or the body). The run's trigger key is
 * `webhook:<name>:<delivery>`, so a redelivery answers the run it started.
 */
export async function acceptWebhook(
  d: WebhookDelivery,
  o: WebhookTriggerOptions,
): Promise<{ run: WorkflowRun; created: boolean }> {
  const trigger = webhookTrigger(o.definition?.triggers);
  // The same answer for an unknown workflow and one without a webhook: the caller is not authenticated yet.
  if (!o.definition || !trigger) throw new NotFoundError('webhook', d.workflow, 'workflow');
  const name = o.definition.name;
  if (!d.delivery) throw new UserError('is required: the delivery id', { field: 'X-Aos-Delivery' });
  if (!DELIVERY_ID.test(d.delivery))
    throw new UserError('must be 1-200 letters, digits, ".", "_", ":" or "-"', { field: 'X-Aos-Delivery' });
  if (!d.timestamp)
    throw new UserError('is required: when the delivery was signed, in Unix seconds', {
      field: 'X-Aos-Timestamp',
    });
  if (!TIMESTAMP.test(d.timestamp))
    throw new UserError('must be Unix time in whole seconds', { field: 'X-Aos-Timestamp' });
  const delivery = d.delivery;
  let reason: string | undefined;
  if (!d.signature) reason = 'missing signature';
  else {
    let key: string | undefined;
    try {
      if (!o.secrets) throw new Error('no secret store');
      key = await resolveSecretRefs(trigger.secret, o.secrets, { field: 'triggers.webhook.secret' });
    } catch {
      reason = 'webhook secret unavailable';
    }
    if (
      key !== undefined &&
      !checkWorkflowHookSignature(key, { body: d.body, delivery, timestamp: d.timestamp }, d.signature)
    )
      reason = 'bad signature';
  }
  if (!reason) {
    const toleranceSec = parseDurationSec(
      trigger.tolerance ?? DEFAULT_WEBHOOK_TOLERANCE,
      'triggers.webhook.tolerance',
    );
    const skewSec = Math.abs((d.nowMs ?? Date.now()) / 1000 - Number(d.timestamp));
    if (skewSec > toleranceSec) reason = 'timestamp outside tolerance';
  }
  if (reason) {
    o.failures.note({
      actor: `webhook:${name}`,
      type: 'workflow.webhook_rejected',
      subject: `workflow:${name}`,
      reason,
      ref: delivery,
    });
    throw new AuthenticationError(`webhook for ${name} rejected: ${reason}`, { field: 'X-Aos-Signature' });
  }
  const text = Buffer.isBuffer(d.body) ? d.body.toString('utf8') : d.body;
  let input: unknown = {};
  if (text.trim()) {
    try {
      input = JSON.parse(text) as unknown;
    } catch {
      throw new UserError('must be JSON (the run input)', { field: 'body' });
    }
  }
  return o.startOnce({ input, actor: `webhook:${name}`, triggerKey: `webhook:${name}:${delivery}` });
}
