/**
 * The mock against the real thing: the same programs run on PgClientMock and on the project's
 * PgClient over a real PostgreSQL database (test/support), and fail in the same shape, so code that
 * maps SQLSTATEs behaves the same in unit tests and in production.
 */
import { assert, layer } from "@effect/vitest"
import * as Cause from "effect/Cause"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import { SqlClient } from "effect/sql/SqlClient"
import type { SqlError } from "effect/sql/SqlError"
import * as PgClientMock from "../../src/testing/PgClientMock.js"
import { TestDatabase } from "../support/index.js"

/** What error-mapping code can look at. */
const shape = (error: SqlError) => {
  const cause = error.reason.cause as Error & Record<string, unknown>
  return {
    tag: error.reason._tag,
    message: error.message,
    operation: error.reason.operation,
    retryable: error.isRetryable,
    constraint: "constraint" in error.reason ? error.reason.constraint : undefined,
    causeIsError: cause instanceof Error,
    causeMessage: cause.message,
    code: cause.code,
    severity: cause.severity,
    causeConstraint: cause.constraint
  }
}

/** Every failure (typed or defect) of an exit, as shapes. */
const failures = (exit: Exit.Exit<unknown, unknown>) =>
  Exit.isSuccess(exit) ? [] : exit.cause.reasons.map((reason) =>
    Cause.isFailReason(reason)
      ? { kind: "fail", ...shape(reason.error as SqlError) }
      : Cause.isDieReason(reason)
      ? { kind: "die", ...shape(reason.defect as SqlError) }
      : { kind: "interrupt", message: undefined }
  )

const onMock = (rules: ReadonlyArray<PgClientMock.Rule>) => Effect.provide(PgClientMock.layer({ rules }))

/** A real ErrorResponse with any SQLSTATE, raised by the server. */
const raise = (code: string, message: string, constraint?: string) =>
  Effect.flatMap(SqlClient, (sql) =>
    sql.unsafe(
      `DO $$ BEGIN RAISE EXCEPTION USING ERRCODE = '${code}', MESSAGE = '${message}'${
        constraint === undefined ? "" : `, CONSTRAINT = '${constraint}'`
      }; END $$`
    ))

layer(TestDatabase.layer, { excludeTestServices: true, timeout: 60_000 })("PgClientMock matches PostgreSQL", (it) => {
  it.effect("errors with a SQLSTATE have the driver's shape", () =>
    Effect.gen(function*() {
      const cases = [
        { code: "40001", message: "could not serialize access due to concurrent update" },
        { code: "40P01", message: "deadlock detected" },
        { code: "23503", message: "insert or update violates foreign key constraint", constraint: "fk" },
        { code: "55P03", message: "could not obtain lock" },
        { code: "57014", message: "canceling statement due to statement timeout" },
        { code: "42501", message: "permission denied for table t" },
        { code: "22012", message: "division by zero" }
      ]
      for (const { code, constraint, message } of cases) {
        const real = yield* Effect.flip(raise(code, message, constraint))
        const mock = yield* Effect.flip(raise(code, message, constraint)).pipe(
          onMock([PgClientMock.when(/^DO /, PgClientMock.pgError({ code, message, constraint }))])
        )
        assert.deepStrictEqual(shape(mock), shape(real), code)
      }
    }))

  it.effect("a unique violation is UniqueViolation with its constraint", () =>
    Effect.gen(function*() {
      const sql = yield* SqlClient
      yield* sql`CREATE TABLE IF NOT EXISTS contract_users (id int PRIMARY KEY, email text UNIQUE)`
      yield* sql`INSERT INTO contract_users VALUES (1, 'ada@example.com') ON CONFLICT DO NOTHING`
      const insert = Effect.flatMap(SqlClient, (sql) => sql`INSERT INTO contract_users VALUES (${2}, ${"ada@example.com"})`)
      const real = yield* Effect.flip(insert)
      const mock = yield* Effect.flip(insert).pipe(
        onMock([PgClientMock.when(/^INSERT/, PgClientMock.uniqueViolation("contract_users_email_key"))])
      )
      assert.deepStrictEqual(shape(mock), shape(real))
      assert.strictEqual(shape(real).tag, "UniqueViolation")
    }))

  it.effect("after a caught error in a transaction: 25P02, then COMMIT fails as rolled back", () =>
    Effect.gen(function*() {
      const program = Effect.flatMap(SqlClient, (sql) =>
        Effect.exit(sql.withTransaction(Effect.gen(function*() {
          yield* Effect.ignore(sql`SELECT 1 / ${0}`)
          const next = yield* Effect.flip(sql`SELECT 1`)
          return shape(next)
        }))))
      const real = yield* program
      const mock = yield* program.pipe(onMock([
        PgClientMock.when(/^SELECT 1 \/ \$1/, PgClientMock.pgError({ code: "22012", message: "division by zero" })),
        PgClientMock.when("SELECT 1", [{ "?column?": 1 }])
      ]))
      assert.deepStrictEqual(failures(mock), failures(real))
      assert.strictEqual(failures(real)[0]?.message, "PgClient: COMMIT rolled back an aborted transaction")
    }))

  it.effect("a connection lost outside and inside a transaction", () =>
    Effect.gen(function*() {
      const terminate = Effect.flatMap(SqlClient, (sql) => sql`SELECT pg_terminate_backend(pg_backend_pid())`)
      const program = Effect.flatMap(SqlClient, (sql) =>
        Effect.all([
          Effect.exit(terminate),
          Effect.exit(sql`SELECT 1 AS one`),
          Effect.exit(sql.withTransaction(terminate)),
          Effect.exit(sql`SELECT 1 AS one`)
        ]))
      const real = yield* program
      const mock = yield* program.pipe(onMock([
        PgClientMock.when(/pg_terminate_backend/, PgClientMock.connectionLost()),
        PgClientMock.when("SELECT 1 AS one", [{ one: 1 }])
      ]))
      assert.deepStrictEqual(mock.map(failures), real.map(failures))
      // Outside a transaction: a typed ConnectionError, and the pool recovers. Inside: the failed
      // ROLLBACK makes withTransaction die.
      assert.deepStrictEqual(real.map((exit) => failures(exit).map((f) => f.kind)), [["fail"], [], ["die", "die"], []])
    }))
})
