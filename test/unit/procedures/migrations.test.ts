/**
 * `Migrations`: a group's migrations run under its own bookkeeping table
 * `wampgres_migrations_<group>` (characters outside [A-Za-z0-9_] replaced), in one transaction that
 * locks it; only ids above the last one recorded run; the outcome is logged under the group's name
 * ("applied migrations 1_a, 2_b" or "schema up to date"). `fromDirectory` loads `<id>_<name>.ts`
 * files of a folder in id order (here the ledger's own folder).
 */
import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Logger from "effect/Logger"
import * as References from "effect/References"
import * as SqlClient from "effect/sql/SqlClient"
import * as Migrations from "../../../src/procedures/Migrations.js"
import * as PgClientMock from "../../../src/testing/PgClientMock.js"

const capture = (lines: Array<string>) =>
  Logger.layer([
    Logger.make((options) => {
      const message = Array.isArray(options.message) ? options.message.map(String).join(" ") : String(options.message)
      const group = options.fiber.getRef(References.CurrentLogAnnotations)["migrations"]
      lines.push(`${options.logLevel} ${String(group)}: ${message}`)
    })
  ])

const statement = (text: string) => Effect.flatMap(Effect.service(SqlClient.SqlClient), (sql) => sql.unsafe(text))
const twoSteps = Migrations.fromRecord({
  "1_first": Effect.asVoid(statement("CREATE TABLE first ()")),
  "2_second": Effect.asVoid(statement("CREATE TABLE second ()"))
})

const table = `"wampgres_migrations_my_group_v2"`
const exists = PgClientMock.when(/^SELECT 1 AS found WHERE to_regclass/, [{ found: 1 }])
const answerAll = PgClientMock.when(() => true, [])
const latest = (id: number, name: string) =>
  PgClientMock.when(/^SELECT migration_id, name, created_at FROM/, [{ migration_id: id, name, created_at: new Date() }])

describe("Migrations", () => {
  it("names a group's bookkeeping table, replacing what is not a letter, digit or underscore", () => {
    assert.strictEqual(Migrations.tableFor("ledger"), "wampgres_migrations_ledger")
    assert.strictEqual(Migrations.tableFor("my-group.v2"), "wampgres_migrations_my_group_v2")
    assert.strictEqual(Migrations.tableFor("A_z9 ä;"), "wampgres_migrations_A_z9___")
  })

  it.effect("applies the pending migrations in id order, in one locked transaction, and logs them under the group", () =>
    Effect.gen(function*() {
      const lines: Array<string> = []
      const mock = yield* PgClientMock.PgClientMock
      const applied = yield* Migrations.run("my-group.v2", twoSteps).pipe(Effect.provide(capture(lines)))
      assert.deepStrictEqual(applied, [[1, "first"], [2, "second"]])
      const log = yield* mock.sqlLog
      const at = (prefix: string) => log.findIndex((s) => s.startsWith(prefix))
      assert.isAtLeast(at(`LOCK TABLE ${table}`), 0)
      assert.isBelow(at("BEGIN"), at(`LOCK TABLE ${table}`))
      assert.isBelow(at("CREATE TABLE first"), at("CREATE TABLE second"))
      assert.isBelow(at("CREATE TABLE second"), at("COMMIT"))
      assert.deepStrictEqual(lines.filter((l) => l.startsWith("Info")), ["Info my-group.v2: applied migrations 1_first, 2_second"])
    }).pipe(Effect.provide(PgClientMock.layer({ rules: [answerAll] }))))

  it.effect("applies nothing at or below the last recorded id, and says the schema is up to date", () =>
    Effect.gen(function*() {
      const lines: Array<string> = []
      const mock = yield* PgClientMock.PgClientMock
      const applied = yield* Migrations.run("ledger", twoSteps).pipe(
        Effect.provide(capture(lines)),
        Effect.provideService(References.MinimumLogLevel, "Debug")
      )
      assert.deepStrictEqual(applied, [])
      assert.isFalse((yield* mock.sqlLog).some((s) => s.startsWith("CREATE TABLE first") || s.startsWith("CREATE TABLE second")))
      assert.include(lines, "Debug ledger: schema up to date")
      assert.isFalse(lines.some((l) => l.includes("applied migrations")))
    }).pipe(Effect.provide(PgClientMock.layer({ rules: [exists, latest(2, "second"), answerAll] }))))

  it.effect("its layer migrates when it is built", () =>
    Effect.gen(function*() {
      const mock = yield* PgClientMock.PgClientMock
      yield* Effect.scoped(Layer.build(Migrations.layer("ledger", twoSteps)))
      const inserted = (yield* mock.statements).filter((s) => s.sql.startsWith(`INSERT INTO "wampgres_migrations_ledger"`))
      assert.deepStrictEqual(inserted.map((s) => s.params), [[1, "first", 2, "second"]])
    }).pipe(Effect.provide(PgClientMock.layer({ rules: [answerAll] })), Effect.provide(Logger.layer([]))))

  it.effect("fromDirectory loads a folder's <id>_<name> files in id order (the ledger's migrations)", () =>
    Effect.gen(function*() {
      const loaded = yield* Migrations.fromDirectory(new URL("../../../src/procedures/ledger/migrations/", import.meta.url))
      assert.deepStrictEqual(loaded.map(([id, name]) => [id, name]), [
        [1, "accounts"],
        [2, "transfers"],
        [3, "notify_balance"],
        [4, "owner_rls"],
        [5, "outbox_balance"]
      ])
    }))
})
