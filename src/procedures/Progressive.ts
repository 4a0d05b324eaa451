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
import type { InvocationRequest } from "../layers/WampSession.js"
import type { PlainSchema } from "./Procedure.js"

export interface SendOptions {
  /** Unsent bytes on the WebSocket above which sending waits. Default 64 KiB. */
  readonly highWaterMark?: number
  /** How often to look at the socket again while above the mark. Default 2 ms. */
  readonly pollMillis?: number
}

/** Progressive results handed to the session, by procedure URI (for monitoring and tests). */
export const sent = Metric.counter("wampgres_progressive_results_sent", {
  description: "progressive results handed to the WAMP session"
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
  const counter = Metric.withAttributes(sent, { procedure: request.procedure })
  return Stream.runFoldEffect(
    stream,
    () => 0,
    (count, element) =>
      belowMark(request, mark, pollMillis).pipe(
        Effect.andThen(Effect.orDie(encode(element))),
        Effect.flatMap((encoded) => progress({ args: [encoded], kwargs: {} })),
        Effect.andThen(Metric.update(counter, 1)),
        Effect.as(count + 1)
      )
  )
}
