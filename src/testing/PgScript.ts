/**
 * PgClientMock's script and record: the statements it saw ({@link ExecutedStatement}), the rules
 * that answer them ({@link when}) and the defect for a statement no rule answers.
 *
 * @since 0.1.0
 */
import type * as PgConnection from "@effect/sql-pg/PgConnection"
import type * as Effect from "effect/Effect"
import * as Schema from "effect/Schema"
import type { SqlError } from "effect/sql/SqlError"

// ---------------------------------------------------------------------------
// Recorded statements
// ---------------------------------------------------------------------------

/**
 * What a recorded statement does: a plain query, or one of the transaction
 * control statements `withTransaction` issues.
 *
 * @since 0.1.0
 */
export type StatementKind =
  | "query"
  | "begin"
  | "commit"
  | "rollback"
  | "savepoint"
  | "releaseSavepoint"
  | "rollbackToSavepoint"

/**
 * One statement as the driver would have sent it: compiled SQL, positional
 * parameters, and the id of the fake connection it ran on (statements of one
 * transaction share a connection).
 *
 * @since 0.1.0
 */
export interface ExecutedStatement {
  readonly sql: string
  readonly params: ReadonlyArray<unknown>
  readonly connection: number
  readonly kind: StatementKind
}

/** @internal */
export const classify = (sql: string): StatementKind => {
  const text = sql.trimStart().toUpperCase()
  if (text.startsWith("BEGIN") || text.startsWith("START TRANSACTION")) return "begin"
  if (text.startsWith("COMMIT") || text.startsWith("END")) return "commit"
  if (text.startsWith("ROLLBACK TO")) return "rollbackToSavepoint"
  if (text.startsWith("ROLLBACK") || text.startsWith("ABORT")) return "rollback"
  if (text.startsWith("SAVEPOINT")) return "savepoint"
  if (text.startsWith("RELEASE")) return "releaseSavepoint"
  return "query"
}

/**
 * The defect raised for a statement no rule answers. Its message shows the
 * statement's SQL and parameters.
 *
 * @since 0.1.0
 */
export class UnscriptedStatementError extends Schema.TaggedError<UnscriptedStatementError>()(
  "UnscriptedStatementError",
  {
    sql: Schema.String,
    params: Schema.Array(Schema.Unknown),
    rules: Schema.Array(Schema.String)
  }
) {
  override get message(): string {
    const rules = this.rules.length === 0 ? "(none)" : this.rules.join(", ")
    return `PgClientMock: no scripted answer for statement\n  sql:    ${this.sql}\n  params: ${
      showParams(this.params)
    }\n  rules:  ${rules}`
  }
}

/** @internal */
export const showParams = (params: ReadonlyArray<unknown>): string => {
  try {
    return JSON.stringify(params, (_, value) => typeof value === "bigint" ? `${value}n` : value)
  } catch {
    return String(params)
  }
}

// ---------------------------------------------------------------------------
// The script
// ---------------------------------------------------------------------------

/**
 * Which statements a rule answers: the SQL text (compared with runs of
 * whitespace collapsed and ends trimmed), a regular expression tested against
 * the SQL, or a predicate over the whole statement (SQL and parameters).
 *
 * @since 0.1.0
 */
export type Match = string | RegExp | ((statement: ExecutedStatement) => boolean)

/**
 * A full reply: rows plus the command tag and row count `sql...raw` sees
 * (defaults: the first word of the SQL, and the number of rows).
 *
 * @since 0.1.0
 */
export interface Reply {
  readonly rows: ReadonlyArray<PgConnection.Row>
  readonly command?: string | undefined
  readonly rowCount?: number | undefined
}

/**
 * What a rule answers: rows, a {@link Reply}, a `SqlError` to fail with, or a
 * function of the statement returning any of these or an Effect of them (to
 * delay, count, or block an answer).
 *
 * @since 0.1.0
 */
export type Answer =
  | ReadonlyArray<PgConnection.Row>
  | Reply
  | SqlError
  | ((
    statement: ExecutedStatement
  ) =>
    | ReadonlyArray<PgConnection.Row>
    | Reply
    | SqlError
    | Effect.Effect<ReadonlyArray<PgConnection.Row> | Reply, SqlError>)

/**
 * One scripted answer. Build with {@link when}.
 *
 * @since 0.1.0
 */
export interface Rule {
  readonly match: Match
  readonly answer: Answer
  /** How many statements this rule answers before it is used up; unlimited when absent. */
  readonly times?: number | undefined
}

/**
 * Scripts `answer` for statements matching `match`. Rules are tried in order;
 * the first live match answers. Transaction control statements need no rule,
 * but a rule can match one to fail it (for example `COMMIT` with
 * {@link serializationFailure}).
 *
 * @since 0.1.0
 */
export const when = (match: Match, answer: Answer, options?: { readonly times?: number | undefined }): Rule => ({
  match,
  answer,
  times: options?.times
})

/** @internal */
export const normalize = (sql: string): string => sql.replace(/\s+/g, " ").trim()

/** @internal */
export const describeMatch = (match: Match): string =>
  typeof match === "string" ? JSON.stringify(match) : match instanceof RegExp ? String(match) : "<predicate>"

/** @internal */
export const matches = (match: Match, statement: ExecutedStatement): boolean => {
  if (typeof match === "string") return normalize(match) === normalize(statement.sql)
  if (match instanceof RegExp) {
    match.lastIndex = 0
    return match.test(statement.sql)
  }
  return match(statement)
}

/** @internal */
export const isReply = (u: unknown): u is Reply => typeof u === "object" && u !== null && !Array.isArray(u) && "rows" in u

/** @internal */
export const toResult = (statement: ExecutedStatement, reply: ReadonlyArray<PgConnection.Row> | Reply): PgConnection.Result => {
  const { command, rowCount, rows } = isReply(reply) ? reply : { rows: reply, command: undefined, rowCount: undefined }
  return {
    command: command ?? (statement.sql.trimStart().split(/\s/, 1)[0] ?? "").toUpperCase(),
    rowCount: rowCount ?? rows.length,
    oid: null,
    rows,
    fields: []
  }
}
