/**
 * `Progressive.send`: every element of the stream leaves as one progressive result (args: the
 * element encoded with the schema, kwargs empty), in order, and the count is returned; a caller that
 * did not ask for progressive results is a defect naming the procedure. Pacing: before each burst
 * of rows the socket's unsent bytes are read, and sending waits (looking again every `pollMillis`)
 * while they are above `highWaterMark` (default 64 KiB, bursts of 64 rows, 2 ms). The rows handed
 * over and the backlog seen are counted per procedure. Time is the test clock: no real waiting.
 */
import { assert, describe, it } from "@effect/vitest"
import * as Cause from "effect/Cause"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Metric from "effect/Metric"
import * as Schema from "effect/Schema"
import * as Stream from "effect/Stream"
import * as TestClock from "effect/testing/TestClock"
import type { Payload } from "../../../src/layers/WampSession.js"
import type { InvocationRequest } from "../../../src/layers/wamp/Protocol.js"
import { request } from "../../../src/procedures/invoke.js"
import * as Progressive from "../../../src/procedures/Progressive.js"

/** A socket whose backlog the test sets; each progressive result adds `perRow` bytes to it. */
const socket = (procedure: string, perRow = 0) => {
  const sent: Array<Payload> = []
  const state = { backlog: 0 }
  const call: InvocationRequest = {
    ...request(procedure),
    progress: (payload) => Effect.sync(() => {
      sent.push(payload)
      state.backlog += perRow
    }),
    bufferedAmount: () => state.backlog
  }
  return { sent, state, call }
}

const settle = Effect.gen(function*() {
  for (let i = 0; i < 20; i++) yield* Effect.yieldNow
})

const rows = (n: number) => Array.from({ length: n }, (_, i) => i + 1)

describe("Progressive.send", () => {
  it.effect("sends each element encoded as one progressive result, in order, and returns the count", () =>
    Effect.gen(function*() {
      const s = socket("com.example.test.stream.encoded")
      const count = yield* Progressive.send(Stream.make(1, 2, 3), s.call, Schema.NumberFromString)
      assert.strictEqual(count, 3)
      assert.deepStrictEqual(s.sent, [{ args: ["1"], kwargs: {} }, { args: ["2"], kwargs: {} }, { args: ["3"], kwargs: {} }])
      const empty = socket("com.example.test.stream.empty")
      assert.strictEqual(yield* Progressive.send(Stream.empty, empty.call, Schema.Number), 0)
      assert.deepStrictEqual(empty.sent, [])
    }))

  it.effect("counts the rows across chunks, in bursts as they come", () =>
    Effect.gen(function*() {
      const s = socket("com.example.test.stream.chunks")
      const stream = Stream.fromIterable(rows(150)).pipe(Stream.rechunk(70))
      assert.strictEqual(yield* Progressive.send(stream, s.call, Schema.Number), 150)
      assert.deepStrictEqual(s.sent.map((p) => p.args[0]), rows(150))
    }))

  it.effect("a caller that did not ask for progressive results is a defect naming the procedure", () =>
    Effect.gen(function*() {
      const exit = yield* Effect.exit(Progressive.send(Stream.make(1), request("com.example.test.stream.plain"), Schema.Number))
      assert.isTrue(Exit.isFailure(exit))
      if (Exit.isFailure(exit)) {
        assert.include(Cause.pretty(exit.cause), "com.example.test.stream.plain: the caller did not ask for progressive results")
      }
    }))

  it.effect("waits while the socket holds more than 64 KiB unsent, looking again every 2 ms", () =>
    Effect.gen(function*() {
      const s = socket("com.example.test.stream.paced")
      s.state.backlog = 64 * 1024 + 1
      const fiber = yield* Effect.forkChild(Progressive.send(Stream.make(1, 2), s.call, Schema.Number))
      yield* settle
      yield* TestClock.adjust("1 second")
      yield* settle
      assert.deepStrictEqual(s.sent, [])
      // at the mark itself rows go out again, at the next look
      s.state.backlog = 64 * 1024
      yield* TestClock.adjust("1 millis")
      yield* settle
      assert.deepStrictEqual(s.sent, [])
      yield* TestClock.adjust("1 millis")
      yield* settle
      assert.strictEqual(s.sent.length, 2)
      assert.strictEqual(yield* Fiber.join(fiber), 2)
    }))

  it.effect("reads the socket before every burst of 64 rows (by default), and sends a burst whole", () =>
    Effect.gen(function*() {
      // each row adds 2 KiB: the first burst takes the backlog to 128 KiB, above the mark
      const s = socket("com.example.test.stream.bursts", 2048)
      const fiber = yield* Effect.forkChild(Progressive.send(Stream.fromIterable(rows(100)), s.call, Schema.Number))
      yield* settle
      assert.strictEqual(s.sent.length, 64)
      yield* TestClock.adjust("10 millis")
      yield* settle
      assert.strictEqual(s.sent.length, 64)
      s.state.backlog = 0
      yield* TestClock.adjust("2 millis")
      yield* settle
      assert.strictEqual(s.sent.length, 100)
      assert.strictEqual(yield* Fiber.join(fiber), 100)
    }))

  it.effect("takes its mark, burst and poll interval from the options (a burst of at least one row)", () =>
    Effect.gen(function*() {
      const s = socket("com.example.test.stream.options", 10)
      const fiber = yield* Effect.forkChild(
        Progressive.send(Stream.fromIterable(rows(5)), s.call, Schema.Number, { highWaterMark: 15, burst: 2, pollMillis: 50 })
      )
      yield* settle
      // 2 rows (20 bytes, above 15): then it waits
      assert.strictEqual(s.sent.length, 2)
      s.state.backlog = 0
      yield* TestClock.adjust("49 millis")
      yield* settle
      assert.strictEqual(s.sent.length, 2)
      yield* TestClock.adjust("1 millis")
      yield* settle
      assert.strictEqual(s.sent.length, 4)
      s.state.backlog = 0
      yield* TestClock.adjust("50 millis")
      yield* settle
      assert.strictEqual(yield* Fiber.join(fiber), 5)

      const one = socket("com.example.test.stream.burst0", 10)
      const single = yield* Effect.forkChild(
        Progressive.send(Stream.fromIterable(rows(3)), one.call, Schema.Number, { highWaterMark: 5, burst: 0, pollMillis: 1 })
      )
      yield* settle
      assert.strictEqual(one.sent.length, 1)
      one.state.backlog = 0
      yield* TestClock.adjust("1 millis")
      yield* settle
      assert.strictEqual(one.sent.length, 2)
      one.state.backlog = 0
      yield* TestClock.adjust("1 millis")
      yield* Fiber.join(single)
    }))

  it.effect("counts the rows handed over and the backlog seen, per procedure", () =>
    Effect.gen(function*() {
      const procedure = "com.example.test.stream.metrics"
      const s = socket(procedure)
      s.state.backlog = 5000
      yield* Progressive.send(Stream.fromIterable(rows(3)), s.call, Schema.Number)
      const sent = yield* Metric.value(Metric.withAttributes(Progressive.sent, { procedure }))
      assert.strictEqual(sent.count, 3)
      const backlog = yield* Metric.value(Metric.withAttributes(Progressive.socketBacklog, { procedure }))
      assert.strictEqual(backlog.count, 1)
      assert.strictEqual(backlog.max, 5000)
    }))

  it.effect("names its metrics for the metrics endpoint; the backlog in buckets from 1 KiB by factors of 4 up to 4 MiB", () =>
    Effect.gen(function*() {
      assert.deepStrictEqual([Progressive.sent.id, Progressive.sent.description], [
        "wampgres_progressive_results_sent",
        "progressive results handed to the WAMP session"
      ])
      assert.deepStrictEqual([Progressive.socketBacklog.id, Progressive.socketBacklog.description], [
        "wampgres_progressive_socket_backlog_bytes",
        "unsent WebSocket bytes when a progressive result was ready"
      ])
      const backlog = yield* Metric.value(Metric.withAttributes(Progressive.socketBacklog, { procedure: "com.example.test.stream.buckets" }))
      assert.deepStrictEqual(backlog.buckets.map(([boundary]) => boundary), [1024, 4096, 16_384, 65_536, 262_144, 1_048_576, 4_194_304, Infinity])
    }))
})
