/**
 * What a contract declares and what a caller gets back through `invoke`: the registration options a
 * contract asks for (`asCaller` adds `disclose_caller`), the fields and positional order, the error a
 * caller sees for bad arguments (every problem named, by its path), for a typed error (its message,
 * or its URI when the message is empty) and for a database failure, and the caller's identity a
 * procedure declared `asCaller` runs with (refused before any statement when the router did not
 * disclose it or the group does not map its role; set in the transaction with the mapped role).
 */
import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Logger from "effect/Logger"
import * as Schema from "effect/Schema"
import * as SqlClient from "effect/sql/SqlClient"
import * as Caller from "../../../src/procedures/Caller.js"
import * as Contract from "../../../src/procedures/Contract.js"
import { ErrorUris, invoke, request } from "../../../src/procedures/invoke.js"
import * as Procedure from "../../../src/procedures/Procedure.js"
import * as Rows from "../../../src/procedures/Rows.js"
import * as Metric from "effect/Metric"
import { transactionRetries } from "../../../src/layers/Metrics.js"
import * as Transaction from "../../../src/procedures/Transaction.js"
import * as PgClientMock from "../../../src/testing/PgClientMock.js"

class Refused extends Schema.TaggedError<Refused>()("Refused", { reason: Schema.String, message: Schema.String }) {
  static readonly uri = "com.example.test.error.refused"
}

describe("Contract.make", () => {
  it("asCaller registers with disclose_caller, keeping the other options", () => {
    const asCaller = Contract.make("com.example.test.a", { result: Schema.Int, asCaller: true, options: { invoke: "roundrobin" } })
    assert.deepStrictEqual(asCaller.options, { invoke: "roundrobin", disclose_caller: true })
    assert.strictEqual(asCaller.asCaller, true)
    const plain = Contract.make("com.example.test.b", { result: Schema.Int, options: { invoke: "roundrobin" } })
    assert.deepStrictEqual(plain.options, { invoke: "roundrobin" })
    assert.strictEqual(plain.asCaller, false)
    const bare = Contract.make("com.example.test.c", { result: Schema.Int })
    assert.deepStrictEqual(bare.options, {})
    assert.strictEqual(Contract.make("com.example.test.d", { result: Schema.Int, asCaller: false }).asCaller, false)
  })

  it("declares its fields, positional order, defaults and kind", () => {
    const c = Contract.make("com.example.test.add", {
      args: { a: Schema.Int, b: Schema.Int },
      positional: ["a", "b"],
      result: Schema.Int,
      description: "adds"
    })
    assert.strictEqual(c._tag, "Contract")
    assert.strictEqual(c.uri, "com.example.test.add")
    assert.deepStrictEqual(c.fields, ["a", "b"])
    assert.deepStrictEqual(c.positional, ["a", "b"])
    assert.deepStrictEqual(c.errors, [])
    assert.strictEqual(c.transactional, false)
    assert.strictEqual(c.description, "adds")
    assert.strictEqual(c.progress, undefined)
    const none = Contract.make("com.example.test.none", { result: Schema.Int })
    assert.deepStrictEqual(none.fields, [])
    assert.deepStrictEqual(none.positional, [])
    assert.deepStrictEqual(Schema.decodeUnknownSync(none.input)({}), {})
  })

  it("streaming keeps the progress Schema; topic declares a topic", () => {
    const s = Contract.streaming("com.example.test.s", { result: Schema.Int, progress: Schema.String })
    assert.strictEqual(s._tag, "Contract")
    assert.strictEqual(s.uri, "com.example.test.s")
    assert.strictEqual(s.progress, Schema.String)
    const t = Contract.topic("com.example.test.t", { payload: Schema.Int, description: "ticks" })
    assert.deepStrictEqual(t, { _tag: "Topic", uri: "com.example.test.t", payload: Schema.Int, description: "ticks" })
  })
})

describe("what a caller gets for bad arguments", () => {
  const nested = Procedure.make("com.example.test.nested", {
    args: { a: Schema.Int, b: Schema.Struct({ c: Schema.String }) },
    positional: ["a", "b"],
    result: Schema.Int,
    handler: () => Effect.succeed(1)
  })
  const none = Procedure.make("com.example.test.none", { result: Schema.Int, handler: () => Effect.succeed(1) })

  const failure = (procedure: Procedure.Runnable<never>, payload: { args?: Array<unknown>; kwargs?: Record<string, unknown> }) =>
    Effect.flip(invoke(procedure, request(procedure.uri, payload)))

  it.effect("every invalid field, by its dotted path, separated by '; '", () =>
    Effect.gen(function*() {
      const error = yield* failure(nested, { kwargs: { a: "x", b: { c: 1 } } })
      assert.strictEqual(error.error, ErrorUris.invalidArgument)
      assert.match(String(error.args[0]), /^a: .+; b\.c: .+$/)
    }))

  it.effect("too many positional arguments names the declared ones, separated by ', '", () =>
    Effect.gen(function*() {
      const error = yield* failure(nested, { args: [1, { c: "x" }, 3] })
      assert.strictEqual(error.args[0], "com.example.test.nested takes at most 2 positional argument(s) (a, b), got 3")
      const noneError = yield* failure(none, { args: [1] })
      assert.strictEqual(noneError.args[0], "com.example.test.none takes no positional arguments, got 1")
    }))

  it.effect("every unexpected keyword, separated by '; '", () =>
    Effect.gen(function*() {
      const error = yield* failure(none, { kwargs: { x: 1, y: 2 } })
      assert.strictEqual(error.args[0], "x: unexpected argument; y: unexpected argument")
    }))

  it.effect("a procedure without arguments answers calls without arguments", () =>
    Effect.gen(function*() {
      assert.deepStrictEqual(yield* invoke(none, request(none.uri)), { args: [1], kwargs: {} })
    }))
})

describe("what a caller gets for a failure", () => {
  const failing = (error: Refused) =>
    Procedure.make("com.example.test.refuse", { result: Schema.Int, errors: [Refused], handler: () => Effect.fail(error) })

  it.effect("a typed error: its URI, its message as args[0], its fields (without the tag) as kwargs", () =>
    Effect.gen(function*() {
      const procedure = failing(new Refused({ reason: "closed", message: "the account is closed" }))
      const error = yield* Effect.flip(invoke(procedure, request(procedure.uri)))
      assert.strictEqual(error.error, Refused.uri)
      assert.deepStrictEqual(error.args, ["the account is closed"])
      assert.deepStrictEqual(error.kwargs, { reason: "closed", message: "the account is closed" })
    }))

  it.effect("a typed error with an empty message: its URI as args[0]", () =>
    Effect.gen(function*() {
      const procedure = failing(new Refused({ reason: "closed", message: "" }))
      const error = yield* Effect.flip(invoke(procedure, request(procedure.uri)))
      assert.deepStrictEqual(error.args, [Refused.uri])
    }))

  it.effect("an SqlError is wampgres.error.database with its SQLSTATE; an undeclared failure is runtime_error", () =>
    Effect.gen(function*() {
      const query = Procedure.make("com.example.test.query", {
        result: Schema.Int,
        handler: () => Effect.flatMap(SqlClient.SqlClient, (sql) => sql`SELECT broken`).pipe(Effect.as(1))
      })
      const database = yield* Effect.flip(invoke(query, request(query.uri)))
      assert.strictEqual(database.error, ErrorUris.database)
      assert.deepStrictEqual(database.kwargs, { sqlstate: "42P01" })
      const undeclared = Procedure.make("com.example.test.undeclared", {
        result: Schema.Int,
        handler: () => Effect.fail(new Refused({ reason: "undeclared", message: "not in the contract" })) as never
      })
      const runtime = yield* Effect.flip(invoke(undeclared, request(undeclared.uri)))
      assert.strictEqual(runtime.error, ErrorUris.runtimeError)
    }).pipe(
      Effect.provide(PgClientMock.layer({ rules: [PgClientMock.when(/^SELECT broken/, PgClientMock.pgError({ code: "42P01", message: "no" }))] })),
      Effect.provide(Logger.layer([]))
    ))
})

describe("the caller's identity (asCaller)", () => {
  interface Disclosed {
    readonly caller: number | undefined
    readonly callerAuthid: string | undefined
    readonly callerAuthrole: string | undefined
  }
  const disclosed: Disclosed = { caller: 42, callerAuthid: "ada", callerAuthrole: "user" }
  const whoAmI = Procedure.make("com.example.test.whoami", {
    result: Schema.String,
    asCaller: true,
    handler: () => Effect.map(Effect.service(Caller.Caller), (identity) => `${identity?.authid}/${identity?.authrole}/${identity?.session}/${identity?.role}`)
  })
  const run = (who: Partial<Disclosed>, roles?: Caller.RoleMap) => {
    const call = { ...request(whoAmI.uri), ...disclosed, ...who }
    return Caller.provide(call, roles, invoke(whoAmI, call))
  }

  it.effect.each([
    { missing: "caller", who: { caller: undefined } },
    { missing: "authid", who: { callerAuthid: undefined } },
    { missing: "authrole", who: { callerAuthrole: undefined } }
  ])("without the $missing disclosed the call is refused with not_authorized", ({ who }) =>
    Effect.gen(function*() {
      const error = yield* Effect.flip(run(who))
      assert.strictEqual(error.error, "wamp.error.not_authorized")
      assert.strictEqual(error.args[0], "com.example.test.whoami runs as its caller, and the router did not disclose the caller")
    }))

  it.effect("with a role map: the mapped role, or not_authorized naming the role when unmapped", () =>
    Effect.gen(function*() {
      assert.deepStrictEqual((yield* run({})).args, ["ada/user/42/undefined"])
      assert.deepStrictEqual((yield* run({}, { user: "ledger_user" })).args, ["ada/user/42/ledger_user"])
      const refused = yield* Effect.flip(run({}, { admin: "ledger_admin" }))
      assert.strictEqual(refused.error, "wamp.error.not_authorized")
      assert.strictEqual(refused.args[0], `role "user" may not call com.example.test.whoami`)
      // a role map is a plain record: inherited keys map nothing
      assert.strictEqual((yield* Effect.flip(run({ callerAuthrole: "toString" }, { user: "ledger_user" }))).error, "wamp.error.not_authorized")
    }))

  it.effect("each transaction starts by setting the identity, with SET ROLE's setting only for a mapped role", () =>
    Effect.gen(function*() {
      const mock = yield* PgClientMock.PgClientMock
      const body = Effect.flatMap(SqlClient.SqlClient, (sql) => sql`SELECT 1`)
      const identity = (role: string | undefined) => ({ authid: "ada", authrole: "user", session: 42, role })
      yield* Transaction.around(body).pipe(Effect.provideService(Caller.Caller, identity(undefined)))
      yield* Transaction.around(body).pipe(Effect.provideService(Caller.Caller, identity("ledger_user")))
      const sets = (yield* mock.statements).filter((s) => s.sql.includes("set_config"))
      assert.strictEqual(sets.length, 2)
      assert.deepStrictEqual(sets[0]!.params, ["ada", "user", "42"])
      assert.notInclude(sets[0]!.sql, "set_config('role'")
      assert.deepStrictEqual(sets[1]!.params, ["ada", "user", "42", "ledger_user"])
      assert.include(sets[1]!.sql, "set_config('role'")
    }).pipe(
      Effect.provide(PgClientMock.layer({ rules: [PgClientMock.when(/set_config|SELECT 1/, [{}])] })),
      Effect.provide(Logger.layer([]))
    ))
})

describe("Rows.Int64", () => {
  it("decodes a driver bigint to a safe integer and encodes it back; beyond 2^53 it fails", () => {
    assert.strictEqual(Schema.decodeUnknownSync(Rows.Int64)(42n), 42)
    assert.strictEqual(Schema.encodeSync(Rows.Int64)(42), 42n)
    assert.throws(() => Schema.decodeUnknownSync(Rows.Int64)(2n ** 53n + 1n))
  })
})

describe("Transaction.retrying", () => {
  const retries = Effect.map(Metric.value(transactionRetries), (state) => Number((state as { readonly count: number | bigint }).count))

  it.live("counts each retry of a serialization failure; other failures are neither retried nor counted", () =>
    Effect.gen(function*() {
      const mock = yield* PgClientMock.PgClientMock
      const update = Effect.flatMap(SqlClient.SqlClient, (sql) => sql`UPDATE counter SET n = n + 1`)
      const before = yield* retries
      yield* Effect.flip(Transaction.retrying(update, { retries: 2, baseDelay: 1 }))
      // runs again twice (counted); the third failure reaches the caller (not counted)
      const counted = (yield* retries) - before
      assert.strictEqual(counted, 2)
      assert.strictEqual((yield* mock.statements).filter((s) => s.kind === "query" && s.sql.startsWith("UPDATE")).length, 3)
      const insert = Effect.flatMap(SqlClient.SqlClient, (sql) => sql`INSERT INTO unique_thing VALUES (1)`)
      yield* Effect.flip(Transaction.retrying(insert, { retries: 2, baseDelay: 1 }))
      assert.strictEqual((yield* retries) - before, counted)
      assert.strictEqual((yield* mock.statements).filter((s) => s.kind === "query" && s.sql.startsWith("INSERT")).length, 1)
    }).pipe(
      Effect.provide(PgClientMock.layer({
        rules: [
          PgClientMock.when(/^UPDATE counter/, PgClientMock.serializationFailure()),
          PgClientMock.when(/^INSERT INTO unique_thing/, PgClientMock.uniqueViolation("unique_thing_pkey"))
        ]
      })),
      Effect.provide(Logger.layer([]))
    ))
})
