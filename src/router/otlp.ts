/**
 * Tracing for a router run on its own (the CLI, the benchmark's router process): the standard
 * OpenTelemetry variables switch it on as for the service (`OTEL_EXPORTER_OTLP_ENDPOINT`,
 * `OTEL_EXPORTER_OTLP_PROTOCOL` http/protobuf or http/json, `OTEL_SERVICE_NAME`, default
 * "wampgres-router", `OTEL_SDK_DISABLED`, `OTEL_TRACES_SAMPLER` with `OTEL_TRACES_SAMPLER_ARG`):
 * the router's call spans go to Effect's OTLP exporter.
 * Unset: nothing is loaded and the router holds no recorder.
 */
import * as Config from "effect/Config"
import * as Effect from "effect/Effect"
import * as FetchHttpClient from "effect/http/FetchHttpClient"
import * as Layer from "effect/Layer"
import * as OtlpSerialization from "effect/observability/OtlpSerialization"
import * as OtlpTracer from "effect/observability/OtlpTracer"
import { RouterTracing } from "./index.js"
import { fromEffectTracer } from "./tracing.js"

const settings = Config.all({
  endpoint: Config.option(Config.String("OTEL_EXPORTER_OTLP_ENDPOINT")),
  protocol: Config.Literals(["http/protobuf", "http/json"], "OTEL_EXPORTER_OTLP_PROTOCOL").pipe(
    Config.withDefault("http/protobuf" as const)
  ),
  serviceName: Config.String("OTEL_SERVICE_NAME").pipe(Config.withDefault("wampgres-router")),
  disabled: Config.Boolean("OTEL_SDK_DISABLED").pipe(Config.withDefault(false)),
  sampler: Config.String("OTEL_TRACES_SAMPLER").pipe(Config.withDefault("parentbased_always_on")),
  samplerArg: Config.Number("OTEL_TRACES_SAMPLER_ARG").pipe(Config.withDefault(1))
})

/** `RouterTracing` from the environment; no recorder when tracing is off. A bad value fails naming the variable. */
export const layerFromEnv: Layer.Layer<never, Config.ConfigError> = Layer.unwrap(
  Effect.map(settings, ({ disabled, endpoint, protocol, sampler, samplerArg, serviceName }) => {
    const ratio = sampler.endsWith("always_off") ? 0 : sampler.endsWith("traceidratio") ? Math.min(1, Math.max(0, samplerArg)) : 1
    if (disabled || ratio === 0 || endpoint._tag === "None" || endpoint.value.trim() === "") return Layer.empty
    return Layer.effect(
      RouterTracing,
      Effect.zipWith(Effect.tracer, Effect.clockWith(Effect.succeed), (tracer, clock) => fromEffectTracer(tracer, clock, ratio))
    ).pipe(
      Layer.provide(
        OtlpTracer.layer({
          url: `${endpoint.value.replace(/\/+$/, "")}/v1/traces`,
          resource: { serviceName },
          exportInterval: "1 second"
        }).pipe(
          Layer.provide(protocol === "http/json" ? OtlpSerialization.layerJson : OtlpSerialization.layerProtobuf),
          Layer.provide(FetchHttpClient.layer)
        )
      )
    )
  })
)
