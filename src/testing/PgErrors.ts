/**
 * PostgreSQL errors for PgClientMock's scripts, built as `@effect/sql-pg` builds them from an
 * `ErrorResponse` (its classifier mirrored: the package does not export it; the contract test in
 * test/unit/testing compares both against a real server).
 *
 * @since 0.1.0
 */
import {
  AuthenticationError,
  AuthorizationError,
  ConnectionError,
  ConstraintError,
  DeadlockError,
  LockTimeoutError,
  SerializationError,
  SqlError,
  type SqlErrorReason,
  SqlSyntaxError,
  StatementTimeoutError,
  UniqueViolation,
  UnknownError
} from "effect/sql/SqlError"

// ---------------------------------------------------------------------------
// PostgreSQL errors, built as @effect/sql-pg builds them
// ---------------------------------------------------------------------------

/**
 * The fields of a PostgreSQL `ErrorResponse` (the driver's
 * `PgProtocol.ErrorFields`); `code` is the SQLSTATE.
 *
 * @since 0.1.0
 */
export interface PgErrorFields {
  readonly [key: string]: string | undefined
  readonly code: string
  readonly message?: string | undefined
  readonly severity?: string | undefined
  readonly detail?: string | undefined
  readonly hint?: string | undefined
  readonly schema?: string | undefined
  readonly table?: string | undefined
  readonly column?: string | undefined
  readonly constraint?: string | undefined
}

/**
 * SQLSTATEs a test commonly fails a statement with.
 *
 * @since 0.1.0
 */
export const SqlState = {
  uniqueViolation: "23505",
  foreignKeyViolation: "23503",
  notNullViolation: "23502",
  checkViolation: "23514",
  serializationFailure: "40001",
  deadlockDetected: "40P01",
  lockNotAvailable: "55P03",
  queryCanceled: "57014",
  undefinedTable: "42P01",
  insufficientPrivilege: "42501",
  inFailedSqlTransaction: "25P02",
  noActiveSqlTransaction: "25P01",
  invalidSavepointSpecification: "3B001",
  adminShutdown: "57P01",
  connectionFailure: "08006"
} as const

// Mirrors @effect/sql-pg's internal `classifySqlState` (not exported by the
// package); test/unit/testing checks it against the installed one.
const classifySqlState = (
  code: string | undefined,
  constraint: unknown,
  props: { readonly cause: unknown; readonly message: string; readonly operation: string }
): SqlErrorReason => {
  if (code !== undefined) {
    if (code.startsWith("08")) return new ConnectionError(props)
    if (code.startsWith("28")) return new AuthenticationError(props)
    if (code === "42501") return new AuthorizationError(props)
    if (code.startsWith("42")) return new SqlSyntaxError(props)
    if (code === "23505") {
      const normalized = typeof constraint === "string" ? constraint.trim() : ""
      return new UniqueViolation({ ...props, constraint: normalized.length === 0 ? "unknown" : normalized })
    }
    if (code.startsWith("23")) return new ConstraintError(props)
    if (code === "40P01") return new DeadlockError(props)
    if (code === "40001") return new SerializationError(props)
    if (code === "55P03") return new LockTimeoutError(props)
    if (code === "57014") return new StatementTimeoutError(props)
  }
  return new UnknownError(props)
}

/**
 * The `SqlError` the driver produces when the server answers a query with an
 * `ErrorResponse`: `reason` classified by SQLSTATE, `reason.message`
 * `"PgConnection: Query failed"`, `reason.operation` `"query"`, and
 * `reason.cause` an `Error` carrying every field (`cause.code` is the
 * SQLSTATE).
 *
 * @since 0.1.0
 */
export const pgError = (fields: PgErrorFields): SqlError => {
  const all = { severity: "ERROR", severityUnlocalized: "ERROR", ...fields }
  const cause = Object.assign(new Error(all.message ?? "Unknown PostgreSQL error"), all)
  return new SqlError({
    reason: classifySqlState(all.code, all.constraint, {
      cause,
      message: "PgConnection: Query failed",
      operation: "query"
    })
  })
}

/**
 * SQLSTATE 23505, as PostgreSQL reports a duplicate key.
 *
 * @since 0.1.0
 */
export const uniqueViolation = (constraint: string, options?: {
  readonly detail?: string | undefined
  readonly table?: string | undefined
  readonly schema?: string | undefined
}): SqlError =>
  pgError({
    code: SqlState.uniqueViolation,
    message: `duplicate key value violates unique constraint "${constraint}"`,
    constraint,
    ...(options?.detail === undefined ? {} : { detail: options.detail }),
    ...(options?.table === undefined ? {} : { table: options.table }),
    schema: options?.schema ?? "public"
  })

/**
 * SQLSTATE 40001, as PostgreSQL reports a serialization failure.
 *
 * @since 0.1.0
 */
export const serializationFailure = (): SqlError =>
  pgError({
    code: SqlState.serializationFailure,
    message: "could not serialize access due to concurrent update"
  })

/**
 * SQLSTATE 40P01, as PostgreSQL reports a deadlock.
 *
 * @since 0.1.0
 */
export const deadlockDetected = (): SqlError =>
  pgError({
    code: SqlState.deadlockDetected,
    message: "deadlock detected",
    detail: "Process 1 waits for ShareLock on transaction 2; blocked by process 2."
  })

/**
 * The error the driver raises when the socket closes under a query
 * (`ConnectionError`, `"PgConnection: Connection closed"`). A rule answering
 * with it also kills the fake connection: every later statement on that
 * connection fails the same way, and the pool hands out a new one.
 *
 * @since 0.1.0
 */
export const connectionLost = (): SqlError =>
  new SqlError({
    reason: new ConnectionError({
      cause: new Error("Connection closed"),
      message: "PgConnection: Connection closed",
      operation: "query"
    })
  })

/** Whether an error is the driver's lost connection. */
export const isConnectionLost = (error: SqlError): boolean => error.reason._tag === "ConnectionError"
