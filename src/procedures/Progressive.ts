/**
 * Streamed results as WAMP progressive results, with backpressure and cancellation.
 *
 * `send(stream, request, schema)` sends every element of `stream` as one progressive YIELD
 * (args [encoded element]) and returns how many it sent; the procedure then returns its final
 * result. The stream is typically `sql\`...\`.stream`: `@effect/sql-pg` reads rows from a portal
 * and pauses the PostgreSQL socket once a few hundred rows are buffered, so rows leave PostgreSQL
 * only as fast as this loop takes them.
 *
 * Backpressure toward WAMP: autobahn writes to its WebSocket without flow control, so before each
 * YIELD this loop waits until the socket's unsent bytes (`request.bufferedAmount()`) are below
 * `highWaterMark`: rows are read no faster than the router takes them off the socket.
 *
 * Cancellation: a CANCEL (or the caller leaving) makes the router send INTERRUPT, the session
 * interrupts the handler's fiber, the stream's scope closes and the driver sends PostgreSQL a
 * CancelRequest for the running query (its backend leaves `pg_stat_activity`'s active state).
 */
import * as Effect from "effect/Effect"
import * as Metric from "effect/Metric"
import * as Schema from "effect/Schema"
import * as Stream from "effect/Stream"
import type { InvocationRequest } from "../layers/wamp/Protocol.js"
import type { PlainSchema } from "./Contract.js"

export interface SendOptions {
  /** Unsent bytes on the WebSocket above which sending waits. Default 64 KiB. */
  readonly highWaterMark?: number
  /** Rows sent between two looks at the socket. Default 64. */
  readonly burst?: number
  /** How often to look at the socket again while above the mark. Default 2 ms. */
  readonly pollMillis?: number
}

/** Progressive results handed to the session, by procedure URI (for monitoring and tests). */
export const sent = Metric.counter("wampgres_progressive_results_sent", {
  description: "progressive results handed to the WAMP session"
})

/**
 * Bytes queued on the WebSocket (not yet taken by the kernel) each time a row is ready to send,
 * before waiting: with pacing its max stays near `highWaterMark`.
 */
export const socketBacklog = Metric.histogram("wampgres_progressive_socket_backlog_bytes", {
  description: "unsent WebSocket bytes when a progressive result was ready",
  boundaries: Metric.exponentialBoundaries({ start: 1024, factor: 4, count: 8 })
})

/** Waits until the socket's unsent bytes fall below the mark. */
const belowMark = (request: InvocationRequest, mark: number, pollMillis: number): Effect.Effect<void> =>
  Effect.suspend(() =>
    request.bufferedAmount() <= mark
      ? Effect.void
      : Effect.sleep(pollMillis).pipe(
        Effect.andThen(Effect.suspend(() => belowMark(request, mark, pollMillis)))
      )
  )

/**
 * Sends each element as a progressive result, paced by the socket (see the module comment). Fails
 * with a defect when the caller did not ask for progressive results (check `request.progress`).
 */
export const send = <A, E, R>(
  stream: Stream.Stream<A, E, R>,
  request: InvocationRequest,
  schema: PlainSchema<A>,
  options: SendOptions = {}
): Effect.Effect<number, E, R> => {
  const progress = request.progress
  if (progress === undefined) return Effect.die(new Error(`${request.procedure}: the caller did not ask for progressive results`))
  const mark = options.highWaterMark ?? 64 * 1024
  const pollMillis = options.pollMillis ?? 2
  const encode = Schema.encodeUnknownEffect(schema)
  const burst = Math.max(1, options.burst ?? 64)
  const attributes = { procedure: request.procedure }
  const counter = Metric.withAttributes(sent, attributes)
  const backlog = Metric.withAttributes(socketBacklog, attributes)
  let count = 0
  // autobahn serializes and writes a message a microtask after it is handed over: yield first, so
  // the socket's backlog counts every row sent so far, then wait below the mark, then send a burst.
  const sendBurst = (rows: ReadonlyArray<A>) =>
    Effect.yieldNow.pipe(
      Effect.andThen(Effect.suspend(() => Metric.update(backlog, request.bufferedAmount()))),
      Effect.andThen(belowMark(request, mark, pollMillis)),
      Effect.andThen(Effect.forEach(rows, (row) => Effect.flatMap(Effect.orDie(encode(row)), (encoded) => progress({ args: [encoded], kwargs: {} })), {
        discard: true
      })),
      Effect.andThen(Effect.suspend(() => {
        count += rows.length
        return Metric.update(counter, rows.length)
      }))
    )
  return Stream.runForEachArray(stream, (rows) =>
    Effect.forEach(
      Array.from({ length: Math.ceil(rows.length / burst) }, (_, i) => rows.slice(i * burst, (i + 1) * burst)),
      sendBurst,
      { discard: true }
    )).pipe(Effect.map(() => count))
}
