/**
 * The ledger procedures through `invoke` and PgClientMock, beside ledger.test.ts (SQLSTATE
 * mapping, retries, events): argument validation before any statement, the statements sent and
 * their parameters, results decoded from driver rows, `history` both as one result and as
 * progressive results, and the failures that are not retried.
 */
import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import type { Payload } from "../../../src/layers/WampSession.js"
import { ErrorUris } from "../../../src/procedures/invoke.js"
import * as Ledger from "../../../src/procedures/ledger/index.js"
import type * as Procedure from "../../../src/procedures/Procedure.js"
import * as PgClientMock from "../../../src/testing/PgClientMock.js"
import { at, type Call, call, events, mocked } from "./support.js"

/** Fails with the WAMP error, asserting its URI and that no statement was sent. */
const rejected = <R>(procedure: Procedure.Runnable<R> & { readonly asCaller?: boolean }, payload: Call) =>
  Effect.gen(function*() {
    const mock = yield* PgClientMock.PgClientMock
    const error = yield* Effect.flip(call(procedure, payload))
    assert.deepStrictEqual(yield* mock.statements, [], "no statement before the arguments are valid")
    return error
  })

const accountRow = { id: 7n, owner: "ada", balance: 100n }
const findAccount = PgClientMock.when(/FROM ledger_accounts WHERE id = \$1$/, [accountRow])
const transferRows = [
  { id: 1n, from: 7n, to: 8n, amount: 5n, at },
  { id: 2n, from: 8n, to: 7n, amount: 2n, at }
]
const wireTransfers = [
  { id: 1, from: 7, to: 8, amount: 5, at: at.toISOString() },
  { id: 2, from: 8, to: 7, amount: 2, at: at.toISOString() }
]

/** The statements a call ran, without transaction control and the caller's identity. */
const queries = (statements: ReadonlyArray<PgClientMock.ExecutedStatement>) =>
  statements.filter((s) => s.kind === "query" && !s.sql.includes("set_config('wampgres.authid'"))

const identity = PgClientMock.when(/set_config\('wampgres\.authid'/, [{}])
const planner = PgClientMock.when(/set_config\('enable_sort'/, [{}])

describe("open_account", () => {
  it.effect("inserts an account owned by the caller as PostgreSQL sees it, with no parameter from the call", () =>
    Effect.gen(function*() {
      const mock = yield* PgClientMock.PgClientMock
      const result = yield* call(Ledger.openAccount, {})
      assert.deepStrictEqual(result, { args: [{ id: 7, owner: "ada", balance: 100 }], kwargs: {} })
      assert.deepStrictEqual(queries(yield* mock.statements).map((s) => [s.sql, s.params]), [[
        `INSERT INTO ledger_accounts (owner) VALUES (ledger_caller()) RETURNING id, owner, balance`,
        []
      ]])
    }).pipe(mocked(identity, PgClientMock.when(/^INSERT INTO ledger_accounts/, [accountRow]))))

  it.effect.each([
    { kwargs: { owner: "ada" }, field: "owner" },
    { kwargs: { balance: 1 }, field: "balance" }
  ])("rejects $kwargs naming $field", ({ field, kwargs }) =>
    Effect.gen(function*() {
      const error = yield* rejected(Ledger.openAccount, { kwargs })
      assert.strictEqual(error.error, ErrorUris.invalidArgument)
      assert.match(String(error.args[0]), new RegExp(`^${field}: unexpected argument`))
    }).pipe(mocked()))

  it.effect("a database failure is wampgres.error.database", () =>
    Effect.gen(function*() {
      const error = yield* Effect.flip(call(Ledger.openAccount, {}))
      assert.strictEqual(error.error, ErrorUris.database)
      assert.deepStrictEqual(error.kwargs, { sqlstate: "42P01" })
    }).pipe(mocked(identity, PgClientMock.when(/^INSERT/, PgClientMock.pgError({
      code: "42P01",
      message: `relation "ledger_accounts" does not exist`
    })))))
})

describe("get_account", () => {
  it.effect("returns the account by positional or keyword id", () =>
    Effect.gen(function*() {
      const mock = yield* PgClientMock.PgClientMock
      const byPosition = yield* call(Ledger.getAccount, { args: [7] })
      const byKeyword = yield* call(Ledger.getAccount, { kwargs: { id: 7 } })
      assert.deepStrictEqual(byPosition.args, [{ id: 7, owner: "ada", balance: 100 }])
      assert.deepStrictEqual(byKeyword, byPosition)
      assert.deepStrictEqual(queries(yield* mock.statements).map((s) => s.params), [[7], [7]])
    }).pipe(mocked(identity, findAccount)))

  it.effect.each([
    { payload: { args: ["7"] }, message: /^id: / },
    { payload: { args: [7, 8] }, message: /at most 1 positional/ },
    { payload: { args: [7], kwargs: { id: 7 } }, message: /^id: given both/ },
    { payload: {}, message: /^id: / }
  ])("rejects $payload", ({ message, payload }) =>
    Effect.gen(function*() {
      const error = yield* rejected(Ledger.getAccount, payload)
      assert.strictEqual(error.error, ErrorUris.invalidArgument)
      assert.match(String(error.args[0]), message)
    }).pipe(mocked()))
})

describe("transfer", () => {
  it.effect.each([
    { kwargs: { from: 1, to: 2, amount: 0 }, message: /^amount: / },
    { kwargs: { from: 1, to: 2 }, message: /^amount: / },
    { kwargs: { from: 1, to: 2, amount: 1, note: "x" }, message: /^note: unexpected argument/ }
  ])("rejects $kwargs", ({ kwargs, message }) =>
    Effect.gen(function*() {
      const error = yield* rejected(Ledger.transfer, { kwargs })
      assert.strictEqual(error.error, ErrorUris.invalidArgument)
      assert.match(String(error.args[0]), message)
    }).pipe(mocked()))

  it.effect("inserts the transfer with the ids as parameters, then reads the payer's balance", () =>
    Effect.gen(function*() {
      const mock = yield* PgClientMock.PgClientMock
      const result = yield* call(Ledger.transfer, { kwargs: { from: 2, to: 1, amount: 30 } })
      assert.deepStrictEqual(result.args, [{ id: 3, from_balance: 70 }])
      const [insert, balance] = queries(yield* mock.statements)
      assert.match(insert!.sql, /^INSERT INTO ledger_transfers \(from_account, to_account, amount\)\s+VALUES \(\$1, \$2, \$3\)/)
      assert.deepStrictEqual(insert!.params, [2, 1, 30])
      assert.deepStrictEqual(balance!.params, [2])
    }).pipe(mocked(
      identity,
      PgClientMock.when(/^INSERT INTO ledger_transfers/, [{ id: 3n, from: 2n, to: 1n, amount: 30n, at }]),
      PgClientMock.when(/^SELECT id, owner, balance FROM ledger_accounts/, [{ id: 2n, owner: "ada", balance: 70n }])
    )))

  it.effect("a failure that is not retryable rolls back once and publishes nothing", () =>
    Effect.gen(function*() {
      const mock = yield* PgClientMock.PgClientMock
      const error = yield* Effect.flip(call(Ledger.transfer, { kwargs: { from: 1, to: 2, amount: 30 } }))
      assert.strictEqual(error.error, ErrorUris.database)
      assert.deepStrictEqual(error.kwargs, { sqlstate: "57014" })
      assert.deepStrictEqual((yield* mock.statements).map((s) => s.kind), ["begin", "query", "query", "rollback"])
      assert.deepStrictEqual(yield* events, [])
    }).pipe(mocked(
      identity,
      PgClientMock.when(/^INSERT/, PgClientMock.pgError({ code: "57014", message: "canceling statement due to statement timeout" }))
    )))

  it.effect("a foreign key violation on the transfer row is no_such_account for the payee", () =>
    Effect.gen(function*() {
      const error = yield* Effect.flip(call(Ledger.transfer, { kwargs: { from: 1, to: 2, amount: 30 } }))
      assert.strictEqual(error.error, Ledger.NoSuchAccount.uri)
      assert.deepStrictEqual(error.kwargs, { id: 2 })
      assert.deepStrictEqual(yield* events, [])
    }).pipe(mocked(
      identity,
      PgClientMock.when(/^INSERT INTO ledger_transfers/, PgClientMock.pgError({
        code: "23503",
        message: "insert or update on table \"ledger_transfers\" violates foreign key constraint",
        constraint: "ledger_transfers_to_account_fkey"
      }))
    )))
})

describe("history", () => {
  const historyRule = PgClientMock.when(/FROM ledger_transfers WHERE from_account/, transferRows)

  it.effect("returns the account's transfers, at most 1000 by default", () =>
    Effect.gen(function*() {
      const mock = yield* PgClientMock.PgClientMock
      const result = yield* call(Ledger.history, { kwargs: { account: 7 } })
      assert.deepStrictEqual(result.args, [{ count: 2, transfers: wireTransfers }])
      const [find, planner, history] = queries(yield* mock.statements)
      assert.deepStrictEqual(find?.params, [7])
      assert.include(planner?.sql, "enable_sort")
      assert.deepStrictEqual(history?.params, [7, 7, 1000])
    }).pipe(mocked(identity, planner, findAccount, historyRule)))

  it.effect("an unknown account is no_such_account, without the history query", () =>
    Effect.gen(function*() {
      const mock = yield* PgClientMock.PgClientMock
      const error = yield* Effect.flip(call(Ledger.history, { kwargs: { account: 9 } }))
      assert.strictEqual(error.error, Ledger.NoSuchAccount.uri)
      assert.deepStrictEqual(error.kwargs, { id: 9 })
      assert.lengthOf(queries(yield* mock.statements), 1)
    }).pipe(mocked(identity, PgClientMock.when(/FROM ledger_accounts WHERE id/, []))))

  it.effect("limit must be positive, and at most 10000 without progressive results", () =>
    Effect.gen(function*() {
      const zero = yield* rejected(Ledger.history, { kwargs: { account: 7, limit: 0 } })
      assert.strictEqual(zero.error, ErrorUris.invalidArgument)
      assert.match(String(zero.args[0]), /^limit: /)
      const mock = yield* PgClientMock.PgClientMock
      const tooMany = yield* Effect.flip(call(Ledger.history, { kwargs: { account: 7, limit: 10_001 } }))
      assert.strictEqual(tooMany.error, ErrorUris.invalidArgument)
      assert.match(String(tooMany.args[0]), /^limit: at most 10000/)
      assert.lengthOf(queries(yield* mock.statements), 2, "only the account lookup (and the planner setting) ran")
    }).pipe(mocked(identity, planner, findAccount)))

  it.effect("with progressive results: one per transfer, then the count", () =>
    Effect.gen(function*() {
      const sent: Array<Payload> = []
      const result = yield* call(
        Ledger.history,
        { kwargs: { account: 7, limit: 50_000 } },
        (payload) => Effect.sync(() => void sent.push(payload))
      )
      assert.deepStrictEqual(sent, wireTransfers.map((transfer) => ({ args: [transfer], kwargs: {} })))
      assert.deepStrictEqual(result.args, [{ count: 2 }])
    }).pipe(mocked(identity, planner, findAccount, historyRule)))
})
