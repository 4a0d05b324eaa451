/**
 * The now group (`com.example.now.v1`–`v4`) run through `invoke` — what the WAMP session does
 * for an INVOCATION — against the scripted PgClientMock: results, argument validation, error URIs,
 * and the transaction boundaries of v3/v4 (commit on success, rollback on failure).
 */
import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Logger from "effect/Logger"
import { WampError } from "../../../src/layers/WampSession.js"
import { ErrorUris, invoke, request } from "../../../src/procedures/invoke.js"
import { NowGroup, nowV1, nowV2, nowV3, nowV4 } from "../../../src/procedures/now/index.js"
import type * as Procedure from "../../../src/procedures/Procedure.js"
import * as PgClientMock from "../../../src/testing/PgClientMock.js"

const selectNow = "SELECT now()::text AS now"
const dbNow = "2026-11-25 19:40:00.123456+00"

const plain = [nowV1, nowV2]
const transactional = [nowV3, nowV4]

/** Invokes a procedure with a raw payload; the WAMP error when it fails. */
const call = <R>(procedure: Procedure.Runnable<R>, payload: { args?: Array<unknown>; kwargs?: Record<string, unknown> } = {}) =>
  invoke(procedure, request(procedure.uri, payload))

const failure = <R>(procedure: Procedure.Runnable<R>, payload: { args?: Array<unknown>; kwargs?: Record<string, unknown> } = {}) =>
  Effect.flip(call(procedure, payload))

const mocked = (...rules: ReadonlyArray<PgClientMock.Rule>) =>
  <A, E, R>(self: Effect.Effect<A, E, R>) =>
    self.pipe(
      Effect.provide(PgClientMock.layer({ rules })),
      // invoke logs database failures and defects; keep the test output for assertions.
      Effect.provide(Logger.layer([]))
    )

const answersNow = PgClientMock.when(selectNow, [{ now: dbNow }])

describe("now group", () => {
  it("declares v1 to v4, v3 and v4 transactional", () => {
    assert.deepStrictEqual(NowGroup.procedures.map((p) => [p.uri, p.transactional]), [
      ["com.example.now.v1", false],
      ["com.example.now.v2", false],
      ["com.example.now.v3", true],
      ["com.example.now.v4", true]
    ])
  })

  describe.each(NowGroup.procedures.map((procedure) => ({ procedure, uri: procedure.uri })))("$uri", ({ procedure }) => {
    it.effect("returns the database's now() as its one positional result", () =>
      Effect.gen(function*() {
        const result = yield* call(procedure)
        assert.deepStrictEqual(result, { args: [dbNow], kwargs: {} })
      }).pipe(mocked(answersNow)))

    it.effect("rejects positional arguments with wamp.error.invalid_argument, before any statement", () =>
      Effect.gen(function*() {
        const mock = yield* PgClientMock.PgClientMock
        const error = yield* failure(procedure, { args: [1] })
        assert.strictEqual(error.error, ErrorUris.invalidArgument)
        assert.strictEqual(error.args[0], `${procedure.uri} takes no positional arguments, got 1`)
        assert.deepStrictEqual(yield* mock.statements, [])
      }).pipe(mocked(answersNow)))

    it.effect("rejects keyword arguments with wamp.error.invalid_argument naming them", () =>
      Effect.gen(function*() {
        const mock = yield* PgClientMock.PgClientMock
        const error = yield* failure(procedure, { kwargs: { tz: "UTC" } })
        assert.strictEqual(error.error, ErrorUris.invalidArgument)
        assert.strictEqual(error.args[0], "tz: unexpected argument")
        assert.deepStrictEqual(yield* mock.statements, [])
      }).pipe(mocked(answersNow)))

    it.effect("a failed statement is wampgres.error.database with the SQLSTATE and no SQL", () =>
      Effect.gen(function*() {
        const error = yield* failure(procedure)
        assert.strictEqual(error.error, ErrorUris.database)
        assert.deepStrictEqual(error.args, ["database error"])
        assert.deepStrictEqual(error.kwargs, { sqlstate: "57014" })
        assert.notInclude(JSON.stringify(error), "SELECT")
      }).pipe(mocked(PgClientMock.when(selectNow, PgClientMock.pgError({
        code: "57014",
        message: "canceling statement due to statement timeout"
      })))))
  })

  describe.each(plain.map((procedure) => ({ procedure, uri: procedure.uri })))("$uri (no transaction)", ({ procedure }) => {
    it.effect("sends its query alone, outside a transaction", () =>
      Effect.gen(function*() {
        const mock = yield* PgClientMock.PgClientMock
        yield* call(procedure)
        assert.deepStrictEqual(yield* mock.statements, [
          { sql: selectNow, params: [], connection: 1, kind: "query" }
        ])
      }).pipe(mocked(answersNow)))

    it.effect("a lost connection is wampgres.error.database", () =>
      Effect.gen(function*() {
        const error = yield* failure(procedure)
        assert.strictEqual(error.error, ErrorUris.database)
        assert.deepStrictEqual(error.kwargs, {})
      }).pipe(mocked(PgClientMock.when(selectNow, PgClientMock.connectionLost()))))
  })

  describe.each(transactional.map((procedure) => ({ procedure, uri: procedure.uri })))("$uri (transaction)", ({ procedure }) => {
    it.effect("commits: BEGIN, the query, COMMIT on one connection", () =>
      Effect.gen(function*() {
        const mock = yield* PgClientMock.PgClientMock
        yield* call(procedure)
        const statements = yield* mock.statements
        assert.deepStrictEqual(statements.map((s) => s.sql), ["BEGIN", selectNow, "COMMIT"])
        assert.strictEqual(new Set(statements.map((s) => s.connection)).size, 1)
      }).pipe(mocked(answersNow)))

    it.effect("rolls back when its query fails", () =>
      Effect.gen(function*() {
        const mock = yield* PgClientMock.PgClientMock
        const error = yield* failure(procedure)
        assert.strictEqual(error.error, ErrorUris.database)
        assert.deepStrictEqual(error.kwargs, { sqlstate: "40001" })
        assert.deepStrictEqual(yield* mock.sqlLog, ["BEGIN", selectNow, "ROLLBACK"])
      }).pipe(mocked(PgClientMock.when(selectNow, PgClientMock.serializationFailure()))))

    it.effect("a COMMIT that fails (serialization failure) is wampgres.error.database 40001", () =>
      Effect.gen(function*() {
        const mock = yield* PgClientMock.PgClientMock
        const error = yield* failure(procedure)
        assert.strictEqual(error.error, ErrorUris.database)
        assert.deepStrictEqual(error.kwargs, { sqlstate: "40001" })
        assert.deepStrictEqual(yield* mock.sqlLog, ["BEGIN", selectNow, "COMMIT"])
      }).pipe(mocked(answersNow, PgClientMock.when("COMMIT", PgClientMock.serializationFailure()))))

    // The real driver behaves the same (checked against PostgreSQL): the failed ROLLBACK becomes a
    // defect in SqlClient.withTransaction; invoke still answers with the database error.
    it.effect("a connection lost inside the transaction is wampgres.error.database", () =>
      Effect.gen(function*() {
        const error = yield* failure(procedure)
        assert.strictEqual(error.error, ErrorUris.database)
        assert.deepStrictEqual(error.args, ["database error"])
      }).pipe(mocked(PgClientMock.when(selectNow, PgClientMock.connectionLost()))))

    it.effect("a BEGIN that fails never runs the query", () =>
      Effect.gen(function*() {
        const mock = yield* PgClientMock.PgClientMock
        const error = yield* failure(procedure)
        assert.strictEqual(error.error, ErrorUris.database)
        assert.deepStrictEqual(error.kwargs, { sqlstate: "53300" })
        assert.deepStrictEqual(yield* mock.sqlLog, ["BEGIN"])
      }).pipe(mocked(
        answersNow,
        PgClientMock.when("BEGIN", PgClientMock.pgError({ code: "53300", message: "too many connections" }))
      )))
  })
})
