import { z } from 'zod';

const durationSchema = z.string().regex(/^\d{1,6}[smhd]$/, 'must be like 30s, 15m, 1h or 2d');

/** What happens when an anomaly is detected for an agent. */
export const anomalyModeSchema = z.enum(['alert', 'approval', 'pause']);

/** What to do on an anomaly, and the thresholds, for one agent (every field falls back to `anomalies:`). */
export const anomalyAgentSchema = z
  .object({
    /**
     * `alert`: audit and announce it only; `approval`: also hold the agent's writes for a human approval for
     * `holdFor`; `pause`: also pause the agent (its triggering call is denied).
     */
    mode: anomalyModeSchema.optional(),
    /** Turn detection off for this agent. */
    enabled: z.boolean().optional(),
  })
  .strict();

/** Anomaly detection per agent from its own history (see docs/observability.md, "Anomaly detection"). */
export const anomaliesConfigSchema = z
  .object({
    enabled: z.boolean().default(true),
    /** What an anomaly does unless the agent's entry says otherwise. */
    mode: anomalyModeSchema.default('alert'),
    /** No anomaly is raised before an agent has made this many calls… */
    warmupCalls: z.number().int().min(1).max(1_000_000).default(50),
    /** …and before this long has passed since its first call. */
    warmupPeriod: durationSchema.default('1d'),
    /** Length of the window calls, denials and failures are counted in. */
    window: z
      .string()
      .regex(/^\d{1,6}[sm]$/, 'must be like 30s or 1m')
      .default('1m'),
    /** A window is a rate spike when its calls reach this many times the agent's mean per active window… */
    rateFactor: z.number().min(1.5).max(1000).default(10),
    /** …and at least this many calls. */
    rateMin: z.number().int().min(1).default(20),
    /** Denials (or failed calls) in a window that are a spike: this many times the mean, and at least `spikeMin`. */
    spikeFactor: z.number().min(1.5).max(1000).default(5),
    spikeMin: z.number().int().min(1).default(10),
    /** An hour of day (UTC) is unusual when fewer than this share of the agent's calls fell within an hour of it. */
    unusualHourShare: z.number().min(0).max(0.5).default(0.002),
    /** A write right after reading untrusted content is rare when fewer than this share of writes were. */
    untrustedWriteShare: z.number().min(0).max(1).default(0.05),
    /** How long `approval` mode holds the agent's writes for a human. */
    holdFor: durationSchema.default('1h'),
    /** Per agent id: the mode, or turning detection off. */
    agents: z.record(z.string().min(1), anomalyAgentSchema).default({}),
  })
  .strict();

/** The `anomalies:` section. */
export type AnomaliesConfig = z.infer<typeof anomaliesConfigSchema>;

const secretRef = z
  .string()
  .regex(/^\$\{secret:[A-Za-z_][A-Za-z0-9_.-]{0,127}\}$/, 'must be a secret reference like ${secret:NAME}');

/** The event types notifications can be routed by. */
export const notificationEventSchema = z.enum([
  'approval.requested',
  'approval.escalated',
  'anomaly.detected',
  'agent.demoted',
  'action.unknown_outcome',
]);

/** One channel notifications are delivered to. */
export const notificationChannelSchema = z.discriminatedUnion('type', [
  z
    .object({
      name: z.string().min(1),
      /** A generic JSON webhook signed like workflow webhooks (`X-Aos-Signature` over `${ts}.${delivery}.${body}`). */
      type: z.literal('webhook'),
      url: z.string().url(),
      /** The HMAC key, as a secret reference. */
      secret: secretRef,
    })
    .strict(),
  z
    .object({
      name: z.string().min(1),
      /** A Slack-compatible incoming webhook (`{"text": …}`). */
      type: z.literal('slack'),
      /** The incoming-webhook URL (it is itself a credential: give a secret reference, or a plain URL in tests). */
      url: z.union([secretRef, z.string().url()]),
    })
    .strict(),
  z
    .object({
      name: z.string().min(1),
      /** E-mail over SMTP (nodemailer). */
      type: z.literal('email'),
      host: z.string().min(1),
      port: z.number().int().min(1).max(65535).default(587),
      /** TLS from the start (port 465); otherwise STARTTLS when the server offers it. */
      secure: z.boolean().default(false),
      user: z.string().min(1).optional(),
      /** The SMTP password, as a secret reference. */
      password: secretRef.optional(),
      from: z.string().min(3),
      to: z.array(z.string().min(3)).min(1),
    })
    .strict(),
]);

/** A notification channel's configuration. */
export type NotificationChannelConfig = z.infer<typeof notificationChannelSchema>;

/** Pending approvals, escalations, anomalies, demotions and unknown outcomes, delivered to people. */
export const notificationsConfigSchema = z
  .object({
    /** The console's public URL; each message links to its item there (`<publicUrl>/approvals/<id>`). */
    publicUrl: z.string().url(),
    channels: z
      .array(notificationChannelSchema)
      .min(1)
      .refine((list) => new Set(list.map((c) => c.name)).size === list.length, {
        message: 'names a channel twice',
      }),
    /** Which events go to which channels; default: every event to every channel. */
    routes: z
      .array(
        z
          .object({
            events: z.array(notificationEventSchema).min(1),
            channels: z.array(z.string().min(1)).min(1),
          })
          .strict(),
      )
      .optional(),
    /** Delivery attempts before a delivery is marked failed; backoff doubles from 2 s. */
    maxAttempts: z.number().int().min(1).max(20).default(8),
  })
  .strict()
  .superRefine((n, ctx) => {
    const names = new Set(n.channels.map((c) => c.name));
    n.routes?.forEach((r, i) =>
      r.channels.forEach((c, j) => {
        if (!names.has(c))
          ctx.addIssue({
            code: 'custom',
            path: ['routes', i, 'channels', j],
            message: `names no configured channel: ${c}`,
          });
      }),
    );
  });

/** The `notifications:` section. */
export type NotificationsConfig = z.infer<typeof notificationsConfigSchema>;
