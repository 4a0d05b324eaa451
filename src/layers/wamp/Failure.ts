/**
 * Where a failure becomes a WAMP error, in one place: what autobahn rejects with (a peer's ERROR,
 * a local failure) becomes a `WampError`; what a procedure's fiber ended with becomes the ERROR its
 * caller receives. The URIs callers can see:
 *
 * - a `WampError` the handler failed with: its own URI, args and kwargs (declared typed errors are
 *   encoded into one by `invoke`);
 * - an `SqlError` (also one that died: `withTransaction` turns a failed ROLLBACK into a defect) →
 *   `wampgres.error.database`, kwargs `{ sqlstate }`, never the SQL text or parameters;
 * - interruption (CANCEL → INTERRUPT, or the caller left) → `wamp.error.canceled`;
 * - any other defect → `wamp.error.runtime_error` "internal error", logged with its cause.
 */
import autobahn from "autobahn"
import * as Cause from "effect/Cause"
import * as Effect from "effect/Effect"
import { isSqlError, type SqlError } from "effect/sql/SqlError"
import { Uri, WampgresUri } from "../../wamp/uris.js"
import { WampError, wampError } from "./Protocol.js"

/** The SQLSTATE of a failed statement (`23505`, `40001`, ...), when PostgreSQL sent one. */
export const sqlState = (error: SqlError): string | undefined => {
  const cause: unknown = error.reason.cause
  if (typeof cause === "object" && cause !== null && "code" in cause && typeof cause.code === "string") {
    return cause.code
  }
  return undefined
}

/** `wampgres.error.database` for an `SqlError`, logged with what the caller does not see. */
export const databaseError = (uri: string, failure: SqlError): Effect.Effect<WampError> => {
  const code = sqlState(failure)
  const cause: unknown = failure.reason.cause
  return Effect.as(
    Effect.logWarning(
      `Procedure ${uri} failed in the database: ${failure.reason._tag}${code === undefined ? "" : ` ${code}`} ${
        cause instanceof Error ? cause.message : failure.reason.message
      }`
    ),
    wampError(WampgresUri.database, "database error", code === undefined ? {} : { sqlstate: code })
  )
}

/** The `SqlError` of a cause that died with one. */
const sqlDefect = <E>(cause: Cause.Cause<E>): SqlError | undefined => {
  for (const reason of cause.reasons) {
    if (Cause.isDieReason(reason) && isSqlError(reason.defect)) return reason.defect
  }
  return undefined
}

/**
 * What a procedure's failed fiber is for its caller: its `WampError`; interruption stays
 * interruption (the session answers `wamp.error.canceled`); a defect becomes a database or runtime
 * error (see the module comment).
 */
export const fromCause = (uri: string) => (cause: Cause.Cause<WampError>): Effect.Effect<never, WampError> => {
  const failure = Cause.findErrorOption(cause)
  if (failure._tag === "Some") return Effect.fail(failure.value)
  if (Cause.hasInterruptsOnly(cause)) return Effect.failCause(cause)
  const sqlFailure = sqlDefect(cause)
  if (sqlFailure !== undefined) return Effect.flip(databaseError(uri, sqlFailure))
  return Effect.as(
    Effect.logError(`Procedure ${uri} died`, cause),
    wampError(Uri.runtimeError, "internal error")
  ).pipe(Effect.flip)
}

/** The ERROR autobahn sends for a `WampError`. */
export const toAutobahn = (error: WampError): autobahn.Error =>
  new autobahn.Error(error.error, [...error.args], { ...error.kwargs })

/** The ERROR for an interrupted (canceled) call. */
export const canceled = (): autobahn.Error => new autobahn.Error(Uri.canceled, ["call canceled"])

/** The ERROR for a new call to a procedure that is shutting down (lets a router re-route it). */
export const unavailable = (): autobahn.Error => new autobahn.Error(Uri.unavailable, ["procedure is shutting down"])

/** Turns what autobahn rejects or throws (an `autobahn.Error`, a string, an Error) into a `WampError`. */
export const fromRejection = (what: string) => (cause: unknown): WampError => {
  if (cause instanceof autobahn.Error) {
    const first = cause.args[0]
    return new WampError({
      error: cause.error,
      args: cause.args,
      kwargs: cause.kwargs,
      message: typeof first === "string" ? first : cause.error
    })
  }
  const text = typeof cause === "string" ? cause : cause instanceof Error ? cause.message : String(cause)
  return wampError(WampgresUri.session, `${what}: ${text}`)
}
