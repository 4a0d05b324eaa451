/**
 * The JSON log format: one JSON object per line, with `trace_id` and `span_id` when the line is
 * logged inside an exported span, without them otherwise (or when tracing is off).
 */
import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Logger from "effect/Logger"
import * as Console from "effect/Console"
import * as Telemetry from "../../../src/layers/Telemetry.js"

/** Runs `effect` with the JSON logger writing into an array instead of the console. */
const logged = (effect: Effect.Effect<void>) =>
  Effect.gen(function*() {
    const lines: Array<string> = []
    const capture = { ...console, log: (line: string) => void lines.push(line) } as Console.Console
    yield* effect.pipe(Effect.provide(Logger.layer([Telemetry.jsonLogger])), Effect.provideService(Console.Console, capture))
    return lines.map((line) => JSON.parse(line) as Record<string, unknown>)
  })

describe("Telemetry.jsonLogger", () => {
  it.effect("carries the trace and span ids of the span it is logged in", () =>
    Effect.gen(function*() {
      let ids: { traceId: string; spanId: string } | undefined
      const [line] = yield* logged(
        Effect.gen(function*() {
          const span = yield* Effect.currentSpan
          ids = { traceId: span.traceId, spanId: span.spanId }
          yield* Effect.logInfo("inside").pipe(Effect.annotateLogs("procedure", "com.example.now.v1"))
        }).pipe(Effect.withSpan("com.example.now.v1"), Effect.orDie)
      )
      expect(line).toMatchObject({ message: "inside", level: "INFO", annotations: { procedure: "com.example.now.v1" } })
      expect(line!["trace_id"]).toBe(ids!.traceId)
      expect(line!["span_id"]).toBe(ids!.spanId)
    }))

  it.effect("has no ids outside a span, nor when tracing is off", () =>
    Effect.gen(function*() {
      const outside = yield* logged(Effect.logInfo("outside"))
      const off = yield* logged(
        Effect.logInfo("off").pipe(Effect.withSpan("x"), Effect.provide(Telemetry.tracingOff))
      )
      for (const line of [...outside, ...off]) {
        expect(line).not.toHaveProperty("trace_id")
        expect(line).not.toHaveProperty("span_id")
      }
      expect([...outside, ...off].map((line) => line["message"])).toEqual(["outside", "off"])
    }))
})
