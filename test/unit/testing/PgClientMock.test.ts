import { PgClient } from "@effect/sql-pg/PgClient"
import * as PgTypes from "@effect/sql-pg/PgTypes"
import { assert, describe, it } from "@effect/vitest"
import * as Cause from "effect/Cause"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Latch from "effect/Latch"
import * as Queue from "effect/Queue"
import * as Stream from "effect/Stream"
import { SqlClient } from "effect/sql/SqlClient"
import { isSqlError, type SqlError } from "effect/sql/SqlError"
import * as PgClientMock from "../../../src/testing/PgClientMock.js"

const withMock = (options: PgClientMock.Options = {}) => Effect.provide(PgClientMock.layer(options))

const kinds = (statements: ReadonlyArray<PgClientMock.ExecutedStatement>) => statements.map((s) => s.kind)

const failureOf = <A>(exit: Exit.Exit<A, SqlError>): SqlError => {
  assert.isTrue(Exit.isFailure(exit), "expected a failure")
  const error = Exit.isFailure(exit) ? Cause.findErrorOption(exit.cause) : undefined
  assert.isTrue(error !== undefined && error._tag === "Some", `expected a typed failure, got ${String(exit)}`)
  return (error as { readonly value: SqlError }).value
}

describe("PgClientMock", () => {
  // The example of the module's doc comment, verbatim.
  it.effect("inserts a user in one transaction", () =>
    Effect.gen(function*() {
      const mock = yield* PgClientMock.PgClientMock
      const sql = yield* SqlClient
      const rows = yield* sql.withTransaction(sql`INSERT INTO users ${sql.insert({ name: "ada" })} RETURNING id`)
      assert.deepStrictEqual(rows, [{ id: 1 }])
      assert.deepStrictEqual(yield* mock.sqlLog, [
        "BEGIN",
        `INSERT INTO users ("name") VALUES ($1) RETURNING id`,
        "COMMIT"
      ])
    }).pipe(Effect.provide(PgClientMock.layer({
      rules: [PgClientMock.when(/^INSERT INTO users/, [{ id: 1 }])]
    }))))

  describe("compiles statements as @effect/sql-pg does", () => {
    it.effect("positional $n placeholders, sql.in and identifiers", () =>
      Effect.gen(function*() {
        const sql = yield* SqlClient
        const mock = yield* PgClientMock.PgClientMock
        yield* mock.script(PgClientMock.when(() => true, []))
        yield* sql`SELECT * FROM ${sql("users")} WHERE id = ${7} AND name IN ${sql.in(["ada", "lin"])}`
        assert.deepStrictEqual(yield* mock.statements, [{
          sql: `SELECT * FROM "users" WHERE id = $1 AND name IN ($2,$3)`,
          params: [7, "ada", "lin"],
          connection: 1,
          kind: "query"
        }])
      }).pipe(withMock()))

    it.effect("sql.insert and sql.update", () =>
      Effect.gen(function*() {
        const sql = yield* SqlClient
        const mock = yield* PgClientMock.PgClientMock
        yield* mock.script(PgClientMock.when(() => true, []))
        yield* sql`INSERT INTO users ${sql.insert([{ name: "ada", age: 36 }, { name: "lin", age: 40 }])}`
        yield* sql`UPDATE users SET ${sql.update({ age: 37 })} WHERE id = ${1}`
        const [insert, update] = yield* mock.statements
        assert.strictEqual(insert?.sql, `INSERT INTO users ("name","age") VALUES ($1,$2),($3,$4)`)
        assert.deepStrictEqual(insert?.params, ["ada", 36, "lin", 40])
        assert.strictEqual(update?.sql, `UPDATE users SET "age" = $1 WHERE id = $2`)
        assert.deepStrictEqual(update?.params, [37, 1])
      }).pipe(withMock()))

    it.effect("sql.json becomes a jsonb parameter, as PgClient.json does", () =>
      Effect.gen(function*() {
        const pg = yield* PgClient
        const mock = yield* PgClientMock.PgClientMock
        yield* mock.script(PgClientMock.when(() => true, []))
        yield* pg`INSERT INTO docs (body) VALUES (${pg.json({ a: 1 })})`
        const [statement] = yield* mock.statements
        assert.strictEqual(statement?.sql, "INSERT INTO docs (body) VALUES ($1)")
        assert.deepStrictEqual(statement?.params, [PgTypes.jsonb({ a: 1 })])
      }).pipe(withMock()))

    it.effect("applies the configured name transforms like the real client", () =>
      Effect.gen(function*() {
        const sql = yield* SqlClient
        const mock = yield* PgClientMock.PgClientMock
        yield* mock.script(PgClientMock.when(/^SELECT/, [{ created_at: "today", user_id: 3 }]))
        const rows = yield* sql`SELECT ${sql("createdAt")} FROM t`
        assert.deepStrictEqual(rows, [{ createdAt: "today", userId: 3 }])
        assert.deepStrictEqual(yield* mock.sqlLog, [`SELECT "created_at" FROM t`])
      }).pipe(withMock({
        config: {
          transformQueryNames: (s) => s.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`),
          transformResultNames: (s) => s.replace(/_([a-z])/g, (_, c: string) => c.toUpperCase())
        }
      })))
  })

  describe("answers from the script", () => {
    it.effect("by SQL text, ignoring layout whitespace", () =>
      Effect.gen(function*() {
        const sql = yield* SqlClient
        const rows = yield* sql`
          SELECT now()
        `
        assert.deepStrictEqual(rows, [{ now: "2024-01-01 00:00:00+00" }])
      }).pipe(withMock({ rules: [PgClientMock.when("SELECT  now()", [{ now: "2024-01-01 00:00:00+00" }])] })))

    it.effect("by regular expression or by a predicate over SQL and parameters", () =>
      Effect.gen(function*() {
        const sql = yield* SqlClient
        const mock = yield* PgClientMock.PgClientMock
        yield* mock.script(
          PgClientMock.when((s) => s.sql.startsWith("SELECT name") && s.params[0] === 2, [{ name: "lin" }]),
          PgClientMock.when(/^SELECT name FROM users/, [{ name: "ada" }])
        )
        assert.deepStrictEqual(yield* sql`SELECT name FROM users WHERE id = ${2}`, [{ name: "lin" }])
        assert.deepStrictEqual(yield* sql`SELECT name FROM users WHERE id = ${1}`, [{ name: "ada" }])
      }).pipe(withMock()))

    it.live("with a function of the statement, and with an Effect", () =>
      Effect.gen(function*() {
        const sql = yield* SqlClient
        const double = PgClientMock.when(/^SELECT \$1::int \* 2/, (s) => [{ n: Number(s.params[0]) * 2 }])
        const later = PgClientMock.when("SELECT 'later'", () => Effect.succeed([{ v: "later" }]).pipe(Effect.delay(5)))
        yield* (yield* PgClientMock.PgClientMock).script(double, later)
        assert.deepStrictEqual(yield* sql`SELECT ${21}::int * 2 AS n`, [{ n: 42 }])
        assert.deepStrictEqual(yield* sql`SELECT 'later'`, [{ v: "later" }])
      }).pipe(withMock()))

    it.effect("uses a rule with `times` up, then falls through to the next", () =>
      Effect.gen(function*() {
        const sql = yield* SqlClient
        const next = sql`SELECT nextval('s')`
        assert.deepStrictEqual([yield* next, yield* next, yield* next], [[{ n: 1 }], [{ n: 2 }], [{ n: 2 }]])
      }).pipe(withMock({
        rules: [
          PgClientMock.when(/nextval/, [{ n: 1 }], { times: 1 }),
          PgClientMock.when(/nextval/, [{ n: 2 }])
        ]
      })))

    it.effect("values, raw results and streams come from the same rows", () =>
      Effect.gen(function*() {
        const sql = yield* SqlClient
        const mock = yield* PgClientMock.PgClientMock
        yield* mock.script(
          PgClientMock.when(/^SELECT a, b/, [{ a: 1, b: "x" }, { a: 2, b: "y" }]),
          PgClientMock.when(/^UPDATE/, { rows: [], rowCount: 3 })
        )
        assert.deepStrictEqual(yield* sql`SELECT a, b FROM t`.values, [[1, "x"], [2, "y"]])
        const streamed = yield* Stream.runCollect(sql`SELECT a, b FROM t`.stream)
        assert.deepStrictEqual(Array.from(streamed), [{ a: 1, b: "x" }, { a: 2, b: "y" }])
        const raw = (yield* sql`UPDATE t SET a = 0`.raw) as { command: string; rowCount: number }
        assert.strictEqual(raw.command, "UPDATE")
        assert.strictEqual(raw.rowCount, 3)
      }).pipe(withMock()))
  })

  describe("records transaction boundaries", () => {
    it.effect("BEGIN and COMMIT around a successful transaction, on one connection", () =>
      Effect.gen(function*() {
        const sql = yield* SqlClient
        const mock = yield* PgClientMock.PgClientMock
        yield* sql.withTransaction(Effect.andThen(sql`SELECT 1`, sql`SELECT 2`))
        const statements = yield* mock.statements
        assert.deepStrictEqual(statements.map((s) => s.sql), ["BEGIN", "SELECT 1", "SELECT 2", "COMMIT"])
        assert.deepStrictEqual(kinds(statements), ["begin", "query", "query", "commit"])
        assert.strictEqual(new Set(statements.map((s) => s.connection)).size, 1)
      }).pipe(withMock({ rules: [PgClientMock.when(/^SELECT/, [])] })))

    it.effect("BEGIN and ROLLBACK when the body fails", () =>
      Effect.gen(function*() {
        const sql = yield* SqlClient
        const mock = yield* PgClientMock.PgClientMock
        const exit = yield* Effect.exit(sql.withTransaction(Effect.andThen(sql`SELECT 1`, Effect.fail("boom"))))
        assert.deepStrictEqual(exit, Exit.fail("boom"))
        assert.deepStrictEqual(yield* mock.sqlLog, ["BEGIN", "SELECT 1", "ROLLBACK"])
      }).pipe(withMock({ rules: [PgClientMock.when(/^SELECT/, [])] })))

    it.effect("nested transactions use savepoints, rolled back on inner failure", () =>
      Effect.gen(function*() {
        const sql = yield* SqlClient
        const mock = yield* PgClientMock.PgClientMock
        yield* sql.withTransaction(Effect.gen(function*() {
          yield* sql`SELECT 1`
          yield* sql.withTransaction(sql`SELECT 2`)
          yield* Effect.ignore(sql.withTransaction(Effect.andThen(sql`SELECT 3`, Effect.fail("inner"))))
        }))
        assert.deepStrictEqual(yield* mock.sqlLog, [
          "BEGIN",
          "SELECT 1",
          "SAVEPOINT effect_sql_1",
          "SELECT 2",
          "RELEASE SAVEPOINT effect_sql_1",
          "SAVEPOINT effect_sql_1",
          "SELECT 3",
          "ROLLBACK TO SAVEPOINT effect_sql_1",
          "RELEASE SAVEPOINT effect_sql_1",
          "COMMIT"
        ])
      }).pipe(withMock({ rules: [PgClientMock.when(/^SELECT/, [])] })))

    it.live("concurrent transactions run on distinct connections", () =>
      Effect.gen(function*() {
        const sql = yield* SqlClient
        const mock = yield* PgClientMock.PgClientMock
        const tx = sql.withTransaction(Effect.andThen(sql`SELECT pg_sleep(0)`, Effect.sleep(10)))
        yield* Effect.all([tx, tx], { concurrency: 2 })
        const begins = (yield* mock.statements).filter((s) => s.kind === "begin")
        assert.deepStrictEqual(begins.map((s) => s.connection).sort(), [1, 2])
      }).pipe(withMock({ rules: [PgClientMock.when(/pg_sleep/, [])] })))
  })

  describe("fails statements as the driver does", () => {
    const sqlStates = ["23505", "23503", "23502", "40001", "40P01", "55P03", "57014", "42P01", "42501", "08006",
      "28P01", "25P02", "XX000"]

    it.effect("classifies every SQLSTATE exactly like @effect/sql-pg", () =>
      Effect.gen(function*() {
        // The driver's own classifier is internal (not exported): load it from its file.
        const url = new URL("./internal/sqlError.js", import.meta.resolve("@effect/sql-pg/PgClient"))
        const driver = (yield* Effect.promise(() => import(url.href))) as {
          classifySqlState: (code: string, constraint: unknown, props: object) => { _tag: string; constraint?: string }
        }
        for (const code of sqlStates) {
          const mock = PgClientMock.pgError({ code, message: "m", constraint: " users_pkey " })
          const real = driver.classifySqlState(code, " users_pkey ", { cause: mock.reason.cause, message: "m" })
          assert.strictEqual(mock.reason._tag, real._tag, `SQLSTATE ${code}`)
          assert.strictEqual((mock.reason as { constraint?: string }).constraint, real.constraint, `SQLSTATE ${code}`)
        }
      }))

    it.effect("a unique violation carries SQLSTATE 23505 and the constraint", () =>
      Effect.gen(function*() {
        const sql = yield* SqlClient
        const error = failureOf(yield* Effect.exit(sql`INSERT INTO users (email) VALUES (${"a@b"})`))
        assert.isTrue(isSqlError(error))
        assert.strictEqual(error.reason._tag, "UniqueViolation")
        assert.strictEqual(error.message, "PgConnection: Query failed")
        assert.strictEqual(error.reason.operation, "query")
        assert.isFalse(error.isRetryable)
        const cause = error.reason.cause as Error & Record<string, string>
        assert.instanceOf(cause, Error)
        assert.strictEqual(cause.code, "23505")
        assert.strictEqual(cause.constraint, "users_email_key")
        assert.strictEqual(cause.message, `duplicate key value violates unique constraint "users_email_key"`)
        assert.strictEqual(cause.severity, "ERROR")
      }).pipe(withMock({ rules: [PgClientMock.when(/^INSERT/, PgClientMock.uniqueViolation("users_email_key"))] })))

    it.effect("serialization failure and deadlock are retryable with their SQLSTATEs", () =>
      Effect.gen(function*() {
        const sql = yield* SqlClient
        const serial = failureOf(yield* Effect.exit(sql`SELECT 'serial'`))
        const deadlock = failureOf(yield* Effect.exit(sql`SELECT 'deadlock'`))
        assert.strictEqual(serial.reason._tag, "SerializationError")
        assert.strictEqual((serial.reason.cause as { code: string }).code, "40001")
        assert.strictEqual(deadlock.reason._tag, "DeadlockError")
        assert.strictEqual((deadlock.reason.cause as { code: string }).code, "40P01")
        assert.isTrue(serial.isRetryable && deadlock.isRetryable)
      }).pipe(withMock({
        rules: [
          PgClientMock.when("SELECT 'serial'", PgClientMock.serializationFailure()),
          PgClientMock.when("SELECT 'deadlock'", PgClientMock.deadlockDetected())
        ]
      })))

    it.effect("a failing COMMIT fails the transaction", () =>
      Effect.gen(function*() {
        const sql = yield* SqlClient
        const mock = yield* PgClientMock.PgClientMock
        const error = failureOf(yield* Effect.exit(sql.withTransaction(sql`SELECT 1`)))
        assert.strictEqual(error.reason._tag, "SerializationError")
        assert.deepStrictEqual(yield* mock.sqlLog, ["BEGIN", "SELECT 1", "COMMIT"])
        // The connection is usable again: the failed COMMIT ended the transaction.
        yield* sql.withTransaction(sql`SELECT 1`)
      }).pipe(withMock({
        rules: [
          PgClientMock.when("COMMIT", PgClientMock.serializationFailure(), { times: 1 }),
          PgClientMock.when("SELECT 1", [])
        ]
      })))

    it.effect("after a caught error the transaction is aborted: 25P02, and COMMIT rolls back", () =>
      Effect.gen(function*() {
        const sql = yield* SqlClient
        const mock = yield* PgClientMock.PgClientMock
        const exit = yield* Effect.exit(sql.withTransaction(Effect.gen(function*() {
          yield* Effect.ignore(sql`INSERT INTO t VALUES (1)`)
          const next = failureOf(yield* Effect.exit(sql`SELECT 1`))
          assert.strictEqual((next.reason.cause as { code: string }).code, "25P02")
        })))
        const error = failureOf(exit)
        assert.strictEqual(error.message, "PgClient: COMMIT rolled back an aborted transaction")
        assert.deepStrictEqual(yield* mock.sqlLog, ["BEGIN", "INSERT INTO t VALUES (1)", "SELECT 1", "COMMIT"])
      }).pipe(withMock({
        rules: [
          PgClientMock.when(/^INSERT/, PgClientMock.uniqueViolation("t_pkey")),
          PgClientMock.when("SELECT 1", [])
        ]
      })))

    it.effect("a savepoint rolled back after an error leaves the outer transaction usable", () =>
      Effect.gen(function*() {
        const sql = yield* SqlClient
        const mock = yield* PgClientMock.PgClientMock
        const rows = yield* sql.withTransaction(Effect.gen(function*() {
          yield* Effect.ignore(sql.withTransaction(sql`INSERT INTO t VALUES (1)`))
          return yield* sql`SELECT 1 AS one`
        }))
        assert.deepStrictEqual(rows, [{ one: 1 }])
        assert.deepStrictEqual((yield* mock.sqlLog).at(-1), "COMMIT")
      }).pipe(withMock({
        rules: [
          PgClientMock.when(/^INSERT/, PgClientMock.uniqueViolation("t_pkey")),
          PgClientMock.when("SELECT 1 AS one", [{ one: 1 }])
        ]
      })))

    it.effect("a lost connection fails every later statement on it; the pool opens a new one", () =>
      Effect.gen(function*() {
        const sql = yield* SqlClient
        const mock = yield* PgClientMock.PgClientMock
        const lost = failureOf(yield* Effect.exit(sql`SELECT 'lost'`))
        assert.strictEqual(lost.reason._tag, "ConnectionError")
        assert.strictEqual(lost.message, "PgConnection: Connection closed")
        assert.isTrue(lost.isRetryable)
        assert.deepStrictEqual(yield* sql`SELECT 'after'`, [{ ok: true }])
        const statements = yield* mock.statements
        assert.deepStrictEqual(statements.map((s) => s.connection), [1, 2])
      }).pipe(withMock({
        rules: [
          PgClientMock.when("SELECT 'lost'", PgClientMock.connectionLost()),
          PgClientMock.when("SELECT 'after'", [{ ok: true }])
        ]
      })))
  })

  describe("unscripted statements", () => {
    it.effect("die with the SQL and parameters in the message", () =>
      Effect.gen(function*() {
        const sql = yield* SqlClient
        const mock = yield* PgClientMock.PgClientMock
        const exit = yield* Effect.exit(sql`SELECT * FROM users WHERE id = ${42}`)
        assert.isTrue(Exit.isFailure(exit) && Cause.hasDies(exit.cause))
        const defect = Exit.isFailure(exit) ? Cause.squash(exit.cause) : undefined
        assert.instanceOf(defect, PgClientMock.UnscriptedStatementError)
        const message = (defect as Error).message
        assert.include(message, "SELECT * FROM users WHERE id = $1")
        assert.include(message, "[42]")
        assert.include(message, `"SELECT 1"`)
        assert.lengthOf(yield* mock.unscripted, 1)
        yield* mock.clear // this test expects the miss; let the layer release cleanly
      }).pipe(withMock({ rules: [PgClientMock.when("SELECT 1", [])] })))

    it.effect("fail the layer's release even when the program swallowed the defect", () =>
      Effect.gen(function*() {
        const swallowing = Effect.gen(function*() {
          const sql = yield* SqlClient
          yield* Effect.catchCause(sql`SELECT 'nobody answers'`, () => Effect.void)
        })
        const exit = yield* Effect.exit(Effect.provide(swallowing, PgClientMock.layer()))
        assert.isTrue(Exit.isFailure(exit) && Cause.hasDies(exit.cause))
        assert.include(Exit.isFailure(exit) ? String(Cause.squash(exit.cause)) : "", "nobody answers")
        const lenient = yield* Effect.exit(Effect.provide(swallowing, PgClientMock.layer({ failOnUnscripted: false })))
        assert.isTrue(Exit.isSuccess(lenient))
      }))
  })

  describe("LISTEN / NOTIFY", () => {
    it.effect("listen receives notifications from notify and from the test", () =>
      Effect.gen(function*() {
        const pg = yield* PgClient
        const mock = yield* PgClientMock.PgClientMock
        yield* Effect.scoped(Effect.gen(function*() {
          const queue = yield* pg.listen("events")
          yield* pg.notify("events", "from-client")
          yield* mock.notify("events", "from-test")
          const first = yield* Queue.take(queue)
          const second = yield* Queue.take(queue)
          assert.deepStrictEqual([first.payload, second.payload], ["from-client", "from-test"])
        }))
        const log = yield* mock.statements
        assert.deepStrictEqual(log.map((s) => [s.sql, s.params]), [
          [`LISTEN "events"`, []],
          ["SELECT pg_notify($1, $2)", ["events", "from-client"]],
          [`UNLISTEN "events"`, []]
        ])
      }).pipe(withMock()))

    it.effect("a channel name over 63 bytes fails as in the driver", () =>
      Effect.gen(function*() {
        const pg = yield* PgClient
        const error = failureOf(yield* Effect.exit(pg.notify("x".repeat(64), "p")))
        assert.strictEqual(error.message, "PostgreSQL channel names must not exceed 63 UTF-8 bytes")
      }).pipe(withMock()))
  })

  it.effect("a blocked answer holds its transaction open until released", () =>
    Effect.gen(function*() {
      const sql = yield* SqlClient
      const mock = yield* PgClientMock.PgClientMock
      const gate = yield* Latch.make(false)
      yield* mock.script(PgClientMock.when("SELECT 'slow'", () => Effect.as(gate.await, [{ done: true }])))
      const fiber = yield* Effect.forkChild(sql.withTransaction(sql`SELECT 'slow'`))
      yield* Effect.yieldNow
      assert.deepStrictEqual(yield* mock.sqlLog, ["BEGIN", "SELECT 'slow'"])
      yield* gate.open
      assert.deepStrictEqual(yield* Fiber.join(fiber), [{ done: true }])
      assert.deepStrictEqual(yield* mock.sqlLog, ["BEGIN", "SELECT 'slow'", "COMMIT"])
    }).pipe(withMock()))
})
