/**
 * Tracing and the log format. Tracing uses Effect's own tracer with its OTLP/HTTP exporter
 * (`effect/observability/OtlpTracer`), switched on by `OTEL_EXPORTER_OTLP_ENDPOINT` (off when
 * unset or `OTEL_SDK_DISABLED=true`). When on, every span of the process goes there: the router's
 * call spans (through `RouterTracing`), a span per invocation named after the procedure, the pool
 * waits, transactions and SQL statements that `@effect/sql` traces. When off, Effect's tracer is
 * switched off too (`References.TracerEnabled`), so spans cost nothing.
 */
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Logger from "effect/Logger"
import * as Option from "effect/Option"
import * as References from "effect/References"
import * as Tracer from "effect/Tracer"

export interface TracingSettings {
  /** The collector's base URL; traces are posted to `<endpoint>/v1/traces`. */
  readonly endpoint: string
  readonly protocol: "http/protobuf" | "http/json"
  readonly serviceName: string
  /** The share of new traces kept (0 < ratio <= 1); a trace continued from a caller keeps its flag. */
  readonly ratio: number
}

export interface TelemetrySettings {
  /** `None`: tracing off. */
  readonly tracing: Option.Option<TracingSettings>
  /** The component's HTTP listener for /metrics, /health and /ready; `None`: none. */
  readonly listener: Option.Option<{ readonly port: number; readonly host: string }>
  readonly logFormat: "text" | "json"
}

/**
 * Tracing on: the share of new traces kept (1: all); 0: tracing off, and the invocation path has
 * no span at all.
 */
export const Tracing = Context.Reference<number>("wampgres/layers/Telemetry/Tracing", { defaultValue: () => 0 })

/** Whether a new trace (no parent) is kept, for a share `ratio` of them. */
export const sampleNew = (ratio: number): boolean => ratio >= 1 || Math.random() < ratio

/** `<endpoint>/v1/traces`, as OpenTelemetry's exporters derive it from the base endpoint. */
export const tracesUrl = (endpoint: string): string => `${endpoint.replace(/\/+$/, "")}/v1/traces`

/**
 * Effect's OTLP tracer for `settings` (the embedded router's call spans use it too, see
 * EmbeddedRouter.ts). Its modules (the exporter, its encoders, an HTTP client) are loaded only
 * when tracing is on: a service without it does not carry them.
 */
export const tracingLayer = (settings: TracingSettings): Layer.Layer<never> =>
  Layer.unwrap(Effect.promise(async () => {
    const [OtlpTracer, OtlpSerialization, FetchHttpClient] = await Promise.all([
      import("effect/observability/OtlpTracer"),
      import("effect/observability/OtlpSerialization"),
      import("effect/http/FetchHttpClient")
    ])
    return Layer.succeed(Tracing, settings.ratio).pipe(
      Layer.provideMerge(
        OtlpTracer.layer({
          url: tracesUrl(settings.endpoint),
          resource: { serviceName: settings.serviceName },
          // short batches: a trace should be visible seconds after the call, not after a minute
          exportInterval: "1 second"
        }).pipe(
          Layer.provide(settings.protocol === "http/json" ? OtlpSerialization.layerJson : OtlpSerialization.layerProtobuf),
          Layer.provide(FetchHttpClient.layer)
        )
      )
    )
  }))

/** Tracing off: no span is made or kept (`TracerEnabled` false). */
export const tracingOff: Layer.Layer<never> = Layer.succeed(References.TracerEnabled, false) as Layer.Layer<never>

/** The span a log line belongs to, when it is part of an exported trace. */
const exportedSpan = (span: Tracer.AnySpan | undefined): Tracer.AnySpan | undefined =>
  span === undefined || Context.get(span.annotations, Tracer.DisablePropagation) ? undefined : span

/**
 * One JSON object per line: Effect's structured fields (message, level, timestamp, annotations,
 * spans, cause) plus `trace_id` and `span_id` when the line is logged inside a trace.
 */
export const jsonLogger: Logger.Logger<unknown, void> = Logger.withConsoleLog(
  Logger.make((options) => {
    const structured: Record<string, unknown> = { ...Logger.formatStructured.log(options) }
    const span = exportedSpan(options.fiber.cache.span)
    if (span !== undefined) {
      structured["trace_id"] = span.traceId
      structured["span_id"] = span.spanId
    }
    return JSON.stringify(structured)
  })
)

/** The log format: Effect's default, or `jsonLogger`. */
export const loggerLayer = (format: "text" | "json"): Layer.Layer<never> =>
  format === "json" ? Logger.layer([jsonLogger]) : Layer.empty

/** Tracing (or its absence) and the log format, for the whole service. */
export const layer = (settings: TelemetrySettings): Layer.Layer<never> =>
  Layer.mergeAll(
    Option.match(settings.tracing, { onNone: () => tracingOff, onSome: tracingLayer }),
    loggerLayer(settings.logFormat)
  )
