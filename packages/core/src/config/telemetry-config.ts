import { z } from 'zod';

/**
 * `telemetry:` in aos.yaml. Traces are off unless `traces.endpoint` is set here or the standard
 * `OTEL_EXPORTER_OTLP_ENDPOINT` / `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT` variables are (OTLP over HTTP).
 */
export const telemetryConfigSchema = z
  .object({
    traces: z
      .object({
        /**
         * The OTLP/HTTP traces endpoint, e.g. `http://127.0.0.1:4318/v1/traces`. Default: the
         * `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT` or `OTEL_EXPORTER_OTLP_ENDPOINT` variable; with neither, traces are off.
         */
        endpoint: z.string().url().optional(),
        /** `false` turns traces off even when the `OTEL_*` variables are set. */
        enabled: z.boolean().default(true),
        /** The `service.name` resource attribute (default `OTEL_SERVICE_NAME`, then `autonomy-os`). */
        serviceName: z.string().min(1).max(200).optional(),
        /**
         * Puts each action's arguments and result on its `execute_tool` span (`gen_ai.tool.call.arguments`,
         * `gen_ai.tool.call.result`) as redacted canonical JSON, each cut to 4,096 characters. Off by default:
         * they may hold personal data. Secrets are redacted as in the audit log either way.
         */
        recordContent: z.boolean().default(false),
      })
      .strict()
      .default({ enabled: true, recordContent: false }),
    metrics: z
      .object({
        /**
         * The most distinct agents (and, separately, tools) `/metrics` labels by name; the rest are counted
         * under `other`, so a scrape stays small however many agents exist.
         */
        maxLabelValues: z.number().int().min(1).max(10_000).default(100),
      })
      .strict()
      .default({ maxLabelValues: 100 }),
  })
  .strict()
  .default({ traces: { enabled: true, recordContent: false }, metrics: { maxLabelValues: 100 } });

/** The validated `telemetry:` section. */
export type TelemetryConfig = z.infer<typeof telemetryConfigSchema>;
