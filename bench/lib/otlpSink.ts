/**
 * The local receiver of the traced rows (`--tracing=on`): an OTLP/HTTP endpoint in the orchestrator
 * that accepts every export (200) and counts requests and bytes, so a row can state what its spans
 * cost on the wire per call. Only the rows with tracing on get its address (see `tracingEnv`).
 */
import { Effect } from "effect"
import { createServer } from "node:http"
import type { AddressInfo } from "node:net"

export interface OtlpSink {
  readonly endpoint: string
  /** Export requests and bytes received so far. */
  readonly received: () => { readonly requests: number; readonly bytes: number }
}

export const otlpSink = Effect.gen(function*() {
  let requests = 0
  let bytes = 0
  const server = createServer((req, res) => {
    req.on("data", (chunk: Buffer) => (bytes += chunk.length))
    req.on("end", () => {
      requests++
      res.writeHead(200, { "content-type": "application/x-protobuf" })
      res.end()
    })
  })
  const port = yield* Effect.acquireRelease(
    Effect.callback<number>((resume) => {
      server.listen(0, "127.0.0.1", () => resume(Effect.succeed((server.address() as AddressInfo).port)))
    }),
    () =>
      Effect.sync(() => {
        server.closeAllConnections()
        server.close()
      })
  )
  const sink: OtlpSink = { endpoint: `http://127.0.0.1:${port}`, received: () => ({ requests, bytes }) }
  return sink
})

/** The OpenTelemetry variables that switch tracing on in our router and the service. */
const OTEL_VARIABLES = [
  "OTEL_EXPORTER_OTLP_ENDPOINT",
  "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
  "OTEL_EXPORTER_OTLP_PROTOCOL",
  "OTEL_TRACES_SAMPLER",
  "OTEL_TRACES_SAMPLER_ARG",
  "OTEL_SDK_DISABLED"
] as const

/**
 * The environment of a row's router and service. Tracing on: every call traced to `endpoint`
 * (the sampler variables of this environment still apply, to measure sampling). Off: every
 * variable above removed, so a shell that sets one cannot switch an "off" row on.
 */
export const tracingEnv = (endpoint: string | undefined): Record<string, string | undefined> =>
  endpoint === undefined
    ? Object.fromEntries(OTEL_VARIABLES.map((name) => [name, undefined]))
    : { OTEL_EXPORTER_OTLP_ENDPOINT: endpoint, OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: undefined, OTEL_EXPORTER_OTLP_PROTOCOL: "http/protobuf" }
