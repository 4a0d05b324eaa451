/**
 * SQLSTATE helpers: read the PostgreSQL error code of an `SqlError`, and turn chosen codes into a
 * procedure's typed errors (e.g. 23505 unique violation → `DuplicateOwner`). Codes not mapped stay
 * `SqlError`s, which callers see as `wampgres.error.database`. Classifying failures (retryable or
 * not) is left to the driver: `SqlError.reason` (`SerializationError`, `DeadlockError`, ...).
 */
import * as Effect from "effect/Effect"
import { isSqlError, SqlError } from "effect/sql/SqlError"
import { sqlState } from "../layers/wamp/Failure.js"

/** The SQLSTATE of a failed statement (`23505`, `40001`, ...), when PostgreSQL sent one. */
export { sqlState }

/** Well-known SQLSTATEs, for mapping them to a procedure's typed errors. */
export const SqlStates = {
  uniqueViolation: "23505",
  foreignKeyViolation: "23503",
  checkViolation: "23514",
  notNullViolation: "23502",
  insufficientPrivilege: "42501",
  serializationFailure: "40001",
  deadlockDetected: "40P01",
  queryCanceled: "57014"
} as const

/**
 * Maps SQLSTATEs to typed errors: `effect.pipe(mapSqlState({ "23505": () => new DuplicateOwner(...) }))`.
 */
export const mapSqlState = <E2>(handlers: { readonly [code: string]: (error: SqlError) => E2 }) =>
<A, E, R>(self: Effect.Effect<A, E, R>): Effect.Effect<A, E | E2, R> =>
  Effect.catchIf(
    self,
    (error): error is E & SqlError => error instanceof SqlError && handlers[sqlState(error) ?? ""] !== undefined,
    (error) => Effect.fail(handlers[sqlState(error) ?? ""]!(error))
  )

/**
 * Whether a failure is worth retrying the whole transaction: the driver classified it as a
 * serialization failure (40001) or a deadlock (40P01).
 */
export const isRetryable = (error: unknown): boolean =>
  isSqlError(error) && (error.reason._tag === "SerializationError" || error.reason._tag === "DeadlockError")
