/**
 * Idempotency keys for any procedure (the ledger's transfer has its own tests): a typed failure is
 * recorded with the key and replayed, a database failure records nothing, a stored outcome that
 * matches none of the contract's errors or a key row that vanished is a runtime error, keys outside
 * `asCaller` procedures belong to no caller (authid ''), a call without a key claims none, and the
 * stored arguments are canonical JSON (keys sorted at every depth).
 */
import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Logger from "effect/Logger"
import * as Schema from "effect/Schema"
import * as SqlClient from "effect/sql/SqlClient"
import * as Contract from "../../../src/procedures/Contract.js"
import * as Idempotency from "../../../src/procedures/Idempotency.js"
import { ErrorUris, invoke, request } from "../../../src/procedures/invoke.js"
import * as Procedure from "../../../src/procedures/Procedure.js"
import * as PgClientMock from "../../../src/testing/PgClientMock.js"

class Negative extends Schema.TaggedError<Negative>()("Negative", { n: Schema.Int }) {
  static readonly uri = "com.example.test.error.negative"
}
class Conflict extends Schema.TaggedError<Conflict>()("Conflict", {}) {
  static readonly uri = "com.example.test.error.conflict"
}

const contract = Contract.make("com.example.test.once", {
  args: { n: Schema.Int, idempotency_key: Schema.optional(Schema.String) },
  result: Schema.Int,
  errors: [Negative, Conflict]
})
const once = Procedure.implement(contract, (input) =>
  Idempotency.transaction(
    contract,
    input.idempotency_key,
    input,
    Effect.gen(function*() {
      const sql = yield* SqlClient.SqlClient
      yield* sql`UPDATE counter SET n = n + ${input.n}`
      if (input.n < 0) return yield* Effect.fail(new Negative({ n: input.n }))
      return input.n
    }),
    () => new Conflict()
  ))

const run = (kwargs: Record<string, unknown>) => invoke(once, request(once.uri, { kwargs }))
const mocked = (...rules: ReadonlyArray<PgClientMock.Rule>) => <A, E, R>(self: Effect.Effect<A, E, R>) =>
  self.pipe(Effect.provide(PgClientMock.layer({ rules })), Effect.provide(Logger.layer([])))

const claim = PgClientMock.when(/^INSERT INTO wampgres_idempotency/, [{ claimed: 1 }])
const taken = PgClientMock.when(/^INSERT INTO wampgres_idempotency/, [])
const work = PgClientMock.when(/^UPDATE counter/, [])
const record = PgClientMock.when(/^UPDATE wampgres_idempotency/, [])
const stored = (outcome: unknown, n = -1) =>
  PgClientMock.when(/^SELECT arguments, outcome/, [{ arguments: Idempotency.fingerprint({ n }), outcome }])

const queries = (statements: ReadonlyArray<PgClientMock.ExecutedStatement>) =>
  statements.flatMap((s) => (s.kind === "query" ? [{ sql: s.sql, params: s.params }] : []))

describe("an idempotency key", () => {
  it.effect("first call failing with a typed error: the error is recorded with the key and returned", () =>
    Effect.gen(function*() {
      const mock = yield* PgClientMock.PgClientMock
      const error = yield* Effect.flip(run({ n: -1, idempotency_key: "k" }))
      assert.strictEqual(error.error, Negative.uri)
      assert.deepStrictEqual(error.kwargs, { n: -1 })
      const all = queries(yield* mock.statements)
      // outside asCaller procedures the key belongs to no caller: authid ''
      assert.deepStrictEqual(all[0]!.params, [once.uri, "", "k", Idempotency.fingerprint({ n: -1 })])
      const recorded = all.find((q) => q.sql.startsWith("UPDATE wampgres_idempotency"))!
      assert.deepStrictEqual(JSON.parse(String(recorded.params[0])), { error: { _tag: "Negative", n: -1 } })
      assert.deepStrictEqual(recorded.params.slice(1), [once.uri, "", "k"])
    }).pipe(mocked(claim, work, record)))

  it.effect("a repeated key replays the recorded typed error without the work", () =>
    Effect.gen(function*() {
      const mock = yield* PgClientMock.PgClientMock
      const error = yield* Effect.flip(run({ n: -1, idempotency_key: "k" }))
      assert.strictEqual(error.error, Negative.uri)
      assert.deepStrictEqual(error.kwargs, { n: -1 })
      assert.isFalse(queries(yield* mock.statements).some((q) => q.sql.startsWith("UPDATE counter")))
    }).pipe(mocked(taken, stored({ error: { _tag: "Negative", n: -1 } }))))

  it.effect("a database failure of the work records nothing: wampgres.error.database", () =>
    Effect.gen(function*() {
      const mock = yield* PgClientMock.PgClientMock
      const error = yield* Effect.flip(run({ n: 1, idempotency_key: "k" }))
      assert.strictEqual(error.error, ErrorUris.database)
      assert.isFalse(queries(yield* mock.statements).some((q) => q.sql.startsWith("UPDATE wampgres_idempotency")))
    }).pipe(mocked(claim, PgClientMock.when(/^UPDATE counter/, PgClientMock.pgError({ code: "23514", message: "check" })))))

  it.effect("a stored outcome that matches none of the contract's errors is a runtime error", () =>
    Effect.gen(function*() {
      const error = yield* Effect.flip(run({ n: -1, idempotency_key: "k" }))
      assert.strictEqual(error.error, ErrorUris.runtimeError)
    }).pipe(mocked(taken, stored({ error: { _tag: "Unknown" } }))))

  it.effect("a key row that vanished between claim and read is a runtime error", () =>
    Effect.gen(function*() {
      const error = yield* Effect.flip(run({ n: 1, idempotency_key: "k" }))
      assert.strictEqual(error.error, ErrorUris.runtimeError)
    }).pipe(mocked(taken, PgClientMock.when(/^SELECT arguments, outcome/, []))))

  it.effect("without a key: only the work, in its transaction", () =>
    Effect.gen(function*() {
      const mock = yield* PgClientMock.PgClientMock
      assert.deepStrictEqual((yield* run({ n: 2 })).args, [2])
      assert.deepStrictEqual(queries(yield* mock.statements).map((q) => q.sql.split(" ")[0]), ["UPDATE"])
    }).pipe(mocked(work)))
})

describe("Idempotency.fingerprint", () => {
  it("is JSON with the keys of every object sorted, arrays kept in order", () => {
    assert.strictEqual(
      Idempotency.fingerprint({ b: 1, a: { d: [{ f: 1, e: 2 }, 3], c: null }, ab: "x" }),
      `{"a":{"c":null,"d":[{"e":2,"f":1},3]},"ab":"x","b":1}`
    )
    // enough keys for the engine's merge sort, given in reverse order
    const keys = Array.from({ length: 64 }, (_, i) => `k${String(i).padStart(2, "0")}`)
    const reversed = Object.fromEntries([...keys].reverse().map((k) => [k, 0]))
    assert.deepStrictEqual(Object.keys(JSON.parse(Idempotency.fingerprint(reversed))), keys)
  })
})
