/**
 * Transactions that PostgreSQL may abort for concurrency reasons (serialization failure 40001,
 * deadlock 40P01) are safe to run again from the start: `retrying` does that a bounded number of
 * times, with a short jittered back-off, so such errors never reach a caller unless they persist.
 *
 * The whole transaction is retried, never a statement inside it: after 40001 the transaction is
 * aborted. Events queued with `publishAfterCommit` by a failed attempt are dropped with its
 * rollback; only the attempt that commits publishes.
 *
 * In a procedure declared `asCaller`, every transaction opened here starts by setting the caller's
 * identity (`Caller.apply`), so it holds in each attempt.
 *
 * Use it for procedures declared without `transactional` (the retry must wrap BEGIN ... COMMIT):
 *
 * ```ts
 * handler: (input) => Transaction.retrying(transferBody(input))
 * ```
 */
import * as Effect from "effect/Effect"
import * as Schedule from "effect/Schedule"
import * as SqlClient from "effect/sql/SqlClient"
import { SqlError } from "effect/sql/SqlError"
import { retried } from "../layers/Metrics.js"
import * as Caller from "./Caller.js"
import { isRetryable, sqlState } from "./SqlState.js"

export interface RetryOptions {
  /** Attempts after the first one. Default 5. */
  readonly retries?: number
  /** First back-off; doubled per attempt, jittered. Default 5 ms. */
  readonly baseDelay?: number
}

/**
 * Runs `body` in one transaction; on a serialization failure or deadlock rolls back and runs it
 * again, at most `retries` more times. Other failures are not retried.
 */
export const retrying = <A, E, R>(
  body: Effect.Effect<A, E, R>,
  options: RetryOptions = {}
): Effect.Effect<A, E | SqlError, R | SqlClient.SqlClient> =>
  Effect.flatMap(SqlClient.SqlClient, (sql) =>
    Effect.suspend(() => {
      const retries = options.retries ?? 5
      // a retry is counted only when one follows: the last failure reaches the caller instead
      let failures = 0
      return sql.withTransaction(asCaller(body)).pipe(
        Effect.tapError((error) =>
          error instanceof SqlError && isRetryable(error) && ++failures <= retries
            ? Effect.andThen(Effect.logDebug(`transaction aborted (${sqlState(error)}), retrying`), retried(sqlState(error)))
            : Effect.void
        ),
        Effect.retry({
          while: isRetryable,
          schedule: Schedule.exponential(`${options.baseDelay ?? 5} millis`).pipe(Schedule.jittered),
          times: retries
        })
      )
    }))

/** Runs `body` in one transaction (nested: a savepoint); no retry. */
export const around = <A, E, R>(body: Effect.Effect<A, E, R>): Effect.Effect<A, E | SqlError, R | SqlClient.SqlClient> =>
  Effect.flatMap(SqlClient.SqlClient, (sql) => sql.withTransaction(asCaller(body)))

/** The body preceded by the caller's identity (`Caller.apply`: nothing outside `asCaller` procedures). */
const asCaller = <A, E, R>(body: Effect.Effect<A, E, R>): Effect.Effect<A, E | SqlError, R | SqlClient.SqlClient> =>
  Effect.andThen(Caller.apply, body)

/** A statement whose rows nobody reads, sent without waiting for its answer (see `Ahead.ts`). */
export { ahead } from "./Ahead.js"
