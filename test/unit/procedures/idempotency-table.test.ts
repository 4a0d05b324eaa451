/**
 * The idempotency table and its retention: `Idempotency.layer` migrates `wampgres_idempotency` (one
 * row per procedure, caller and key, with the stored arguments, the outcome and when it was made)
 * under its own bookkeeping table, then deletes outcomes older than the retention at once and every
 * minute after; a failing cleanup is logged and tried again a minute later, never ending the layer.
 */
import { assert, describe, it } from "@effect/vitest"
import * as Cause from "effect/Cause"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Logger from "effect/Logger"
import * as References from "effect/References"
import * as TestClock from "effect/testing/TestClock"
import * as Idempotency from "../../../src/procedures/Idempotency.js"
import * as PgClientMock from "../../../src/testing/PgClientMock.js"
import * as PgScript from "../../../src/testing/PgScript.js"

const cleanup = /^DELETE FROM wampgres_idempotency/
const migrator = PgClientMock.when((s) => !cleanup.test(s.sql), [])

const mocked = (...rules: ReadonlyArray<PgClientMock.Rule>) => <A, E, R>(self: Effect.Effect<A, E, R>) =>
  self.pipe(Effect.provide(PgClientMock.layer({ rules: [...rules, migrator] })), Effect.provide(Logger.layer([])))

/** The cleanup statements sent so far. */
const deletes = Effect.gen(function*() {
  const mock = yield* PgClientMock.PgClientMock
  return (yield* mock.statements).filter((s) => cleanup.test(s.sql))
})

/** Lets the forked cleanup run what is due now. */
const settle = Effect.gen(function*() {
  for (let i = 0; i < 20; i++) yield* Effect.yieldNow
})

describe("Idempotency.layer", () => {
  it.effect("creates the table keyed by procedure, caller and key, with an index on its age, as migration 1", () =>
    Effect.gen(function*() {
      const mock = yield* PgClientMock.PgClientMock
      yield* Layer.build(Idempotency.layer)
      yield* settle
      const sql = (yield* mock.statements).map((s) => PgScript.normalize(s.sql))
      const table = sql.find((s) => s.startsWith("CREATE TABLE wampgres_idempotency "))
      assert.isDefined(table)
      for (
        const column of [
          "procedure text NOT NULL",
          "authid text NOT NULL DEFAULT ''",
          "key text NOT NULL",
          "arguments text NOT NULL",
          "outcome jsonb,",
          "created_at timestamptz NOT NULL DEFAULT now()",
          "PRIMARY KEY (procedure, authid, key)"
        ]
      ) assert.include(table, column)
      assert.include(sql, "CREATE INDEX wampgres_idempotency_created ON wampgres_idempotency (created_at)")
      const recorded = (yield* mock.statements).find((s) => s.sql.startsWith(`INSERT INTO "wampgres_migrations_wampgres_idempotency"`))
      assert.deepStrictEqual(recorded?.params, [1, "idempotency"])
      // the table exists before the first cleanup runs
      const order = (yield* mock.statements).map((s) => s.sql)
      const created = order.findIndex((s) => s.startsWith("CREATE TABLE wampgres_idempotency"))
      assert.isAtLeast(created, 0)
      assert.isBelow(created, order.findIndex((s) => cleanup.test(s)))
    }).pipe(Effect.scoped, mocked(PgClientMock.when(cleanup, []))))

  it.effect("deletes outcomes older than the default retention of 24 hours at start, then every minute", () =>
    Effect.gen(function*() {
      yield* Effect.gen(function*() {
        yield* Layer.build(Idempotency.layer)
        yield* settle
        const first = yield* deletes
        assert.strictEqual(first.length, 1)
        assert.strictEqual(PgScript.normalize(first[0]!.sql), "DELETE FROM wampgres_idempotency WHERE created_at < now() - make_interval(secs => $1)")
        assert.deepStrictEqual(first[0]!.params, [86_400])
        yield* TestClock.adjust("59 seconds")
        yield* settle
        assert.strictEqual((yield* deletes).length, 1)
        yield* TestClock.adjust("1 second")
        yield* settle
        assert.strictEqual((yield* deletes).length, 2)
        yield* TestClock.adjust("1 minute")
        yield* settle
        assert.strictEqual((yield* deletes).length, 3)
      }).pipe(Effect.scoped)
      // the cleanup ends with the layer's scope
      yield* TestClock.adjust("5 minutes")
      yield* settle
      assert.strictEqual((yield* deletes).length, 3)
    }).pipe(mocked(PgClientMock.when(cleanup, []))))

  it.effect("uses the configured retention, in seconds", () =>
    Effect.gen(function*() {
      yield* Layer.build(Idempotency.layer)
      yield* settle
      assert.deepStrictEqual((yield* deletes).map((s) => s.params), [[90]])
    }).pipe(
      Effect.scoped,
      mocked(PgClientMock.when(cleanup, [])),
      Effect.provideService(Idempotency.Settings, { retention: Duration.seconds(90) })
    ))

  it.effect("a failing cleanup is logged and tried again a minute later", () => {
    const logged: Array<string> = []
    const capture = Logger.layer([
      Logger.make((options) => {
        const message = Array.isArray(options.message) ? options.message.map(String).join(" ") : String(options.message)
        logged.push(`${options.logLevel} ${message} | ${Cause.pretty(options.cause)}`)
      })
    ])
    return Effect.gen(function*() {
      yield* Layer.build(Idempotency.layer)
      yield* settle
      assert.strictEqual((yield* deletes).length, 1)
      assert.isTrue(
        logged.some((line) => line.startsWith("Debug idempotency: cleanup failed, trying again later |") && line.includes("statement timeout")),
        logged.join("\n")
      )
      yield* TestClock.adjust("1 minute")
      yield* settle
      assert.strictEqual((yield* deletes).length, 2)
      yield* TestClock.adjust("1 minute")
      yield* settle
      assert.strictEqual((yield* deletes).length, 3)
    }).pipe(
      Effect.scoped,
      Effect.provide(capture),
      Effect.provideService(References.MinimumLogLevel, "Debug"),
      mocked(
        PgClientMock.when(cleanup, PgClientMock.pgError({ code: "57014", message: "canceling statement due to statement timeout" }), { times: 2 }),
        PgClientMock.when(cleanup, [])
      )
    )
  })
})
