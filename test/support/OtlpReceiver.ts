/**
 * An OTLP/HTTP receiver for tests: accepts `POST /v1/traces` with OTLP/JSON bodies (what Effect's
 * exporter sends with `OtlpSerialization.layerJson`) and keeps every span it receives.
 */
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Schedule from "effect/Schedule"
import { createServer } from "node:http"
import type { AddressInfo } from "node:net"

export interface ReceivedSpan {
  readonly traceId: string
  readonly spanId: string
  readonly parentSpanId: string | undefined
  readonly name: string
  /** OTLP's numbers: 1 internal, 2 server, 3 client. */
  readonly kind: number
  readonly attributes: Readonly<Record<string, unknown>>
  /** 0 unset, 1 ok, 2 error. */
  readonly status: number
  readonly events: ReadonlyArray<{ readonly name: string; readonly attributes: Readonly<Record<string, unknown>> }>
  /** The resource's `service.name`. */
  readonly service: unknown
  /** Start and end, nanoseconds since the epoch. */
  readonly start: bigint
  readonly end: bigint
}

interface KeyValue {
  readonly key: string
  readonly value: Record<string, unknown>
}

const valueOf = (value: Record<string, unknown>): unknown =>
  "stringValue" in value
    ? value["stringValue"]
    : "intValue" in value
    ? Number(value["intValue"])
    : "doubleValue" in value
    ? value["doubleValue"]
    : "boolValue" in value
    ? value["boolValue"]
    : value

const attributesOf = (list: ReadonlyArray<KeyValue> | undefined): Record<string, unknown> =>
  Object.fromEntries((list ?? []).map((kv) => [kv.key, valueOf(kv.value)]))

/** The spans of an OTLP/JSON `ExportTraceServiceRequest`. */
export const spansOf = (body: unknown): Array<ReceivedSpan> => {
  const out: Array<ReceivedSpan> = []
  for (const rs of (body as { resourceSpans?: Array<any> }).resourceSpans ?? []) {
    const service = attributesOf(rs.resource?.attributes)["service.name"]
    for (const ss of rs.scopeSpans ?? []) {
      for (const span of ss.spans ?? []) {
        out.push({
          traceId: span.traceId,
          spanId: span.spanId,
          parentSpanId: span.parentSpanId || undefined,
          name: span.name,
          kind: span.kind,
          attributes: attributesOf(span.attributes),
          status: span.status?.code ?? 0,
          events: (span.events ?? []).map((e: any) => ({ name: e.name, attributes: attributesOf(e.attributes) })),
          service,
          start: BigInt(span.startTimeUnixNano ?? 0),
          end: BigInt(span.endTimeUnixNano ?? 0)
        })
      }
    }
  }
  return out
}

export class OtlpReceiver extends Context.Service<OtlpReceiver, {
  /** The base endpoint, as `OTEL_EXPORTER_OTLP_ENDPOINT` takes it. */
  readonly endpoint: string
  /** Every span received so far. */
  readonly spans: () => ReadonlyArray<ReceivedSpan>
  /** Waits (polling, up to 30 s) until `found` returns something for the spans received. */
  readonly await: <A>(found: (spans: ReadonlyArray<ReceivedSpan>) => A | undefined) => Effect.Effect<A, Error>
  /** Content types of the requests received. */
  readonly contentTypes: () => ReadonlyArray<string>
}>()("wampgres/test/OtlpReceiver") {
  static readonly layer = Layer.effect(
    OtlpReceiver,
    Effect.gen(function*() {
      const spans: Array<ReceivedSpan> = []
      const contentTypes: Array<string> = []
      const server = createServer((req, res) => {
        const chunks: Array<Buffer> = []
        req.on("data", (chunk: Buffer) => chunks.push(chunk))
        req.on("end", () => {
          contentTypes.push(String(req.headers["content-type"]))
          if (req.method !== "POST" || req.url !== "/v1/traces") {
            res.writeHead(404)
            return void res.end()
          }
          try {
            spans.push(...spansOf(JSON.parse(Buffer.concat(chunks).toString("utf8"))))
            res.writeHead(200, { "content-type": "application/json" })
            res.end("{}")
          } catch {
            res.writeHead(400)
            res.end()
          }
        })
      })
      const port = yield* Effect.acquireRelease(
        Effect.callback<number>((resume) => {
          server.listen(0, "127.0.0.1", () => resume(Effect.succeed((server.address() as AddressInfo).port)))
        }),
        () => Effect.callback<void>((resume) => {
          server.close(() => resume(Effect.void))
          server.closeAllConnections()
        })
      )
      const awaitFound = <A>(found: (spans: ReadonlyArray<ReceivedSpan>) => A | undefined) =>
        Effect.suspend(() => {
          const result = found(spans)
          return result === undefined ? Effect.fail(new Error("not received yet")) : Effect.succeed(result)
        }).pipe(
          Effect.retry({ schedule: Schedule.spaced("200 millis"), times: 150 }),
          Effect.mapError(() => new Error(`the spans looked for did not arrive; received: ${spans.map((s) => s.name).join(", ")}`))
        )
      return OtlpReceiver.of({
        endpoint: `http://127.0.0.1:${port}`,
        spans: () => spans,
        await: awaitFound,
        contentTypes: () => contentTypes
      })
    })
  )
}
