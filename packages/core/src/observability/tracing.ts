import crypto from 'node:crypto';
import {
  ROOT_CONTEXT,
  SpanKind,
  SpanStatusCode,
  TraceFlags,
  defaultTextMapGetter,
  defaultTextMapSetter,
  trace,
} from '@opentelemetry/api';
import type { Attributes, Context, Span, SpanContext, Tracer } from '@opentelemetry/api';
import { CompositePropagator, W3CBaggagePropagator, W3CTraceContextPropagator } from '@opentelemetry/core';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { BatchSpanProcessor, TracerProvider } from '@opentelemetry/sdk-trace';
import type { IdGenerator, SpanExporter } from '@opentelemetry/sdk-trace';
import type { TelemetryConfig } from '../config/telemetry-config.js';

export { SpanKind };
export type { Attributes, Context, Span };

/** W3C trace context as it travels in MCP `params._meta` and HTTP headers. */
export interface TraceCarrier {
  traceparent?: string;
  tracestate?: string;
  baggage?: string;
}

/** A span's identity, known before the span is emitted (hex ids). */
export interface SpanRef {
  traceId: string;
  spanId: string;
}

/** What {@link Tracing.emit} records: a span whose identity and start were fixed earlier, possibly on another node. */
export interface DeferredSpan {
  name: string;
  ref: SpanRef;
  /** The parent: a context ({@link Tracing.extract}) or another span's identity. */
  parent?: Context | SpanRef | undefined;
  kind?: SpanKind;
  startMs: number;
  endMs: number;
  attributes?: Attributes;
  /** Marks the span failed with this `error.type`. */
  errorType?: string | undefined;
}

/** Options of {@link Tracing.start}. */
export interface SpanOptions {
  parent?: Context | SpanRef | undefined;
  kind?: SpanKind;
  attributes?: Attributes;
  startMs?: number;
}

const propagator = new CompositePropagator({
  propagators: [new W3CTraceContextPropagator(), new W3CBaggagePropagator()],
});

/**
 * Random ids, except for the span being emitted by {@link Tracing.emit}: its ids were chosen when its work began
 * (and stored with the action or derived from the run), so spans that outlive a process still nest. Setting and
 * using the slot is synchronous, so no other span can take it.
 */
class ReservedIdGenerator implements IdGenerator {
  next: SpanRef | undefined;
  generateTraceId(): string {
    return this.next?.traceId ?? crypto.randomBytes(16).toString('hex');
  }
  generateSpanId(): string {
    return this.next?.spanId ?? crypto.randomBytes(8).toString('hex');
  }
}

/** A span id derived from `parts` (runs and steps: every node and every restart derives the same). */
export function derivedSpanId(...parts: string[]): string {
  return crypto.createHash('sha256').update(parts.join('\u0000')).digest('hex').slice(0, 16);
}

/** A trace id derived from `parts`. */
export function derivedTraceId(...parts: string[]): string {
  return crypto.createHash('sha256').update(parts.join('\u0000')).digest('hex').slice(0, 32);
}

/** The `traceparent` header value of a span. */
export function traceparentOf(ref: SpanRef): string {
  return `00-${ref.traceId}-${ref.spanId}-01`;
}

/** Options of {@link Tracing.create}. */
export interface TracingOptions {
  config?: Omit<TelemetryConfig['traces'], 'recordContent'> & { recordContent?: boolean };
  /** Where the `OTEL_*` variables are read; default `process.env`. */
  env?: NodeJS.ProcessEnv;
  /** An exporter to use instead of OTLP/HTTP (tests). */
  exporter?: SpanExporter;
}

/**
 * OpenTelemetry traces of the engine, passed explicitly: no context manager is registered (a process-wide
 * AsyncLocalStorage costs every await), no global provider either, so an embedding application keeps its own.
 * Disabled, every method is a cheap no-op and {@link Tracing.reserve} returns undefined.
 *
 * @example
 * const tracing = Tracing.create({ config: { endpoint: 'http://127.0.0.1:4318/v1/traces', enabled: true } });
 * const span = tracing.start('tools/call crm.get', { parent: tracing.extract(params._meta), kind: SpanKind.SERVER });
 * span.end();
 */
export class Tracing {
  private readonly tracer: Tracer | undefined;

  private constructor(
    private readonly provider: TracerProvider | undefined,
    private readonly ids = new ReservedIdGenerator(),
    /** Whether action spans carry the (redacted) arguments and result: `telemetry.traces.recordContent`. */
    readonly recordContent = false,
  ) {
    this.tracer = provider?.getTracer('autonomy-os');
  }

  /** Tracing that records nothing. */
  static off(): Tracing {
    return new Tracing(undefined);
  }

  /** Tracing as configured: on when an endpoint is set in config or in the standard `OTEL_*` variables. */
  static create(options: TracingOptions = {}): Tracing {
    const env = options.env ?? process.env;
    const cfg = options.config ?? { enabled: true };
    const envEndpoint = env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT ?? env.OTEL_EXPORTER_OTLP_ENDPOINT;
    const disabledByEnv = env.OTEL_SDK_DISABLED === 'true' || env.OTEL_TRACES_EXPORTER === 'none';
    const on = cfg.enabled && (options.exporter || cfg.endpoint || (envEndpoint && !disabledByEnv));
    if (!on) return Tracing.off();
    // Without a configured URL the exporter reads the OTEL_EXPORTER_OTLP_* variables (endpoint, headers) itself.
    const exporter = options.exporter ?? new OTLPTraceExporter(cfg.endpoint ? { url: cfg.endpoint } : {});
    const ids = new ReservedIdGenerator();
    const provider = new TracerProvider({
      resource: resourceFromAttributes({
        'service.name': cfg.serviceName ?? env.OTEL_SERVICE_NAME ?? 'autonomy-os',
      }),
      idGenerator: ids,
      spanProcessors: [new BatchSpanProcessor({ exporter, scheduledDelayMillis: 500 })],
    });
    return new Tracing(provider, ids, cfg.recordContent ?? false);
  }

  /** Whether spans are recorded and exported. */
  get enabled(): boolean {
    return this.tracer !== undefined;
  }

  /** The context a carrier (`params._meta`, HTTP headers) names; the root context when it names none. */
  extract(carrier: unknown): Context {
    if (!this.enabled || typeof carrier !== 'object' || carrier === null) return ROOT_CONTEXT;
    const c: Record<string, string> = {};
    for (const k of ['traceparent', 'tracestate', 'baggage'] as const) {
      const v = (carrier as Record<string, unknown>)[k];
      if (typeof v === 'string' && v.length <= 8192) c[k] = v;
    }
    return propagator.extract(ROOT_CONTEXT, c, defaultTextMapGetter);
  }

  /** The carrier to pass on for a span (or a span's identity): `traceparent`, and `tracestate`/`baggage` if any. */
  inject(parent: Context | SpanRef | Span | undefined): TraceCarrier & Record<string, string> {
    if (!this.enabled || !parent) return {};
    const out: Record<string, string> = {};
    propagator.inject(this.contextOf(parent), out, defaultTextMapSetter);
    return out;
  }

  /** The identity of the span a context holds, if any. */
  refOf(parent: Context | undefined): SpanRef | undefined {
    const sc = parent ? trace.getSpanContext(parent) : undefined;
    return sc && trace.isSpanContextValid(sc) ? { traceId: sc.traceId, spanId: sc.spanId } : undefined;
  }

  /** Ids for a span that will be emitted later with {@link emit}: in the parent's trace, or a new one. */
  reserve(parent?: Context | SpanRef): SpanRef | undefined {
    if (!this.enabled) return undefined;
    const p = parent ? this.refOf(this.contextOf(parent)) : undefined;
    return {
      traceId: p?.traceId ?? crypto.randomBytes(16).toString('hex'),
      spanId: crypto.randomBytes(8).toString('hex'),
    };
  }

  /** Starts a live span; end it with {@link end}. */
  start(name: string, options: SpanOptions = {}): Span {
    const parent = options.parent ? this.contextOf(options.parent) : ROOT_CONTEXT;
    if (!this.tracer) return trace.wrapSpanContext(trace.getSpanContext(parent) ?? INVALID);
    return this.tracer.startSpan(
      name,
      {
        kind: options.kind ?? SpanKind.INTERNAL,
        ...(options.attributes ? { attributes: options.attributes } : {}),
        ...(options.startMs !== undefined ? { startTime: options.startMs } : {}),
      },
      parent,
    );
  }

  /** Ends a span, failed with `error.type` = `errorType` when one is given. */
  end(span: Span, errorType?: string): void {
    if (errorType) {
      span.setAttribute('error.type', errorType);
      span.setStatus({ code: SpanStatusCode.ERROR });
    }
    span.end();
  }

  /** Runs `fn` inside a child span of `parent`; the span fails with the error's code when `fn` throws. */
  async span<T>(name: string, options: SpanOptions, fn: (span: Span) => Promise<T>): Promise<T> {
    const span = this.start(name, options);
    try {
      const out = await fn(span);
      this.end(span);
      return out;
    } catch (err) {
      this.end(span, errorTypeOf(err));
      throw err;
    }
  }

  /** Emits a span whose identity was reserved (or derived) earlier, with the start time recorded then. */
  emit(s: DeferredSpan): void {
    if (!this.tracer) return;
    const parent = s.parent ? this.contextOf(s.parent) : ROOT_CONTEXT;
    this.ids.next = s.ref;
    let span: Span;
    try {
      span = this.tracer.startSpan(
        s.name,
        {
          kind: s.kind ?? SpanKind.INTERNAL,
          startTime: s.startMs,
          ...(s.attributes ? { attributes: s.attributes } : {}),
        },
        parent,
      );
    } finally {
      this.ids.next = undefined;
    }
    if (s.errorType) {
      span.setAttribute('error.type', s.errorType);
      span.setStatus({ code: SpanStatusCode.ERROR });
    }
    span.end(Math.max(s.endMs, s.startMs));
  }

  /** A context holding `parent` as the current span. */
  contextOf(parent: Context | SpanRef | Span): Context {
    if ('spanContext' in parent && typeof parent.spanContext === 'function')
      return trace.setSpan(ROOT_CONTEXT, parent);
    if ('traceId' in parent && 'spanId' in parent) {
      const sc: SpanContext = {
        traceId: parent.traceId,
        spanId: parent.spanId,
        traceFlags: TraceFlags.SAMPLED,
        isRemote: true,
      };
      return trace.setSpanContext(ROOT_CONTEXT, sc);
    }
    return parent as Context;
  }

  /** Exports what is buffered. */
  async flush(): Promise<void> {
    await this.provider?.forceFlush();
  }

  /** Exports what is buffered and stops. */
  async shutdown(): Promise<void> {
    await this.provider?.shutdown();
  }
}

const INVALID: SpanContext = {
  traceId: '00000000000000000000000000000000',
  spanId: '0000000000000000',
  traceFlags: TraceFlags.NONE,
};

/** The `error.type` of an error: its `code` when it has one, else its name. */
export function errorTypeOf(err: unknown): string {
  const code = (err as { code?: unknown }).code;
  if (typeof code === 'string' && code) return code;
  return err instanceof Error ? err.name : 'error';
}
