import type { AuditLog } from '../audit/audit-log.js';
import { AuthenticationError, NotFoundError, UserError } from '../errors.js';
import type { SecretStore } from '../secrets/index.js';
import { resolveSecretRefs } from '../secrets/index.js';
import type { Db } from '../store/db.js';
import type { WorkflowDefinition } from './definition.js';
import type { WorkflowRun } from './run-store.js';
import { checkWorkflowHookSignature, webhookSecretRef } from './triggers.js';

/** One webhook delivery as it arrived: the raw body (the signature covers its exact bytes) and two headers. */
export interface WebhookDelivery {
  /** The workflow name from the URL. */
  workflow: string;
  body: string | Buffer;
  /** `X-Aos-Signature`: `sha256=<hex HMAC-SHA256 of the body>`. */
  signature?: string | undefined;
  /** `X-Aos-Delivery`: the sender's id of this delivery; a redelivery with the same id starts no second run. */
  delivery?: string | undefined;
}

/** What {@link acceptWebhook} needs from the workflow engine. */
export interface WebhookTriggerOptions {
  db: Db;
  audit: AuditLog;
  secrets: SecretStore | undefined;
  definition: WorkflowDefinition | undefined;
  startOnce(p: {
    input: unknown;
    actor: string;
    triggerKey: string;
  }): Promise<{ run: WorkflowRun; created: boolean }>;
}

const DELIVERY_ID = /^[A-Za-z0-9._:-]{1,200}$/;

/**
 * Starts a run from a signed webhook delivery. The workflow must declare a `webhook` trigger; the signature is checked
 * (constant time) with the secret its reference names before anything else is read. A bad or missing signature is
 * audited (`workflow.webhook_rejected`, never the secret or the body) and refused as an authentication failure. The
 * run's trigger key is `webhook:<name>:<delivery>`, so a redelivery answers the run it started.
 */
export async function acceptWebhook(
  d: WebhookDelivery,
  o: WebhookTriggerOptions,
): Promise<{ run: WorkflowRun; created: boolean }> {
  const ref = webhookSecretRef(o.definition?.triggers);
  // The same answer for an unknown workflow and one without a webhook: the caller is not authenticated yet.
  if (!o.definition || !ref) throw new NotFoundError('webhook', d.workflow, 'workflow');
  const name = o.definition.name;
  let reason: string | undefined;
  if (!d.signature) reason = 'missing signature';
  else {
    let key: string | undefined;
    try {
      if (!o.secrets) throw new Error('no secret store');
      key = await resolveSecretRefs(ref, o.secrets, { field: 'triggers.webhook.secret' });
    } catch {
      reason = 'webhook secret unavailable';
    }
    if (key !== undefined && !checkWorkflowHookSignature(key, d.body, d.signature)) reason = 'bad signature';
  }
  if (reason) {
    await o.db.tx((tx) =>
      o.audit.append(tx, {
        actor: `webhook:${name}`,
        type: 'workflow.webhook_rejected',
        subject: `workflow:${name}`,
        payload: { reason, delivery: d.delivery && DELIVERY_ID.test(d.delivery) ? d.delivery : null },
      }),
    );
    throw new AuthenticationError(`webhook for ${name} rejected: ${reason}`);
  }
  if (!d.delivery || !DELIVERY_ID.test(d.delivery))
    throw new UserError('is required: the delivery id (letters, digits, . _ : -, at most 200)', {
      field: 'X-Aos-Delivery',
    });
  const text = Buffer.isBuffer(d.body) ? d.body.toString('utf8') : d.body;
  let input: unknown = {};
  if (text.trim()) {
    try {
      input = JSON.parse(text) as unknown;
    } catch {
      throw new UserError('must be JSON (the run input)', { field: 'body' });
    }
  }
  return o.startOnce({ input, actor: `webhook:${name}`, triggerKey: `webhook:${name}:${d.delivery}` });
}
