/**
 * The ledger's procedures through `invoke` against the scripted PgClientMock: SQLSTATE mapping
 * (23505 → duplicate_owner, 23514 → insufficient_funds), bounded retries of the whole transaction on
 * 40001/40P01, and events published only after COMMIT. Rows come back as the driver returns them
 * (`bigint` for int8 columns, `Date` for timestamptz) and are decoded by the row Schemas.
 */
import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Ledger from "../../../src/procedures/ledger/index.js"
import * as PgClientMock from "../../../src/testing/PgClientMock.js"
import { at, call, events, mocked } from "./support.js"

const L = "com.example.ledger"

const lockBoth = PgClientMock.when(/FOR UPDATE/, [{ id: 1n, owner: "a", balance: 100n }, { id: 2n, owner: "b", balance: 5n }])
const update = PgClientMock.when(/^UPDATE ledger_accounts/, [{ id: 1n, owner: "a", balance: 70n }, { id: 2n, owner: "b", balance: 35n }])
const insert = PgClientMock.when(/^INSERT INTO ledger_transfers/, [{ id: 9n, from: 1n, to: 2n, amount: 30n, at }])

const kinds = (statements: ReadonlyArray<PgClientMock.ExecutedStatement>) =>
  statements.map((s) => s.kind === "query" ? s.sql.trimStart().split(/\s/, 1)[0]! : s.kind)

describe("ledger procedures (mocked PgClient)", () => {
  it.effect("open_account: 23505 on the owner's unique key is duplicate_owner", () =>
    Effect.gen(function*() {
      const error = yield* Effect.flip(call(Ledger.openAccount, { kwargs: { owner: "ada", balance: 1 } }))
      assert.strictEqual(error.error, `${L}.error.duplicate_owner`)
      assert.deepStrictEqual(error.kwargs, { owner: "ada" })
      assert.deepStrictEqual(error.args, ["an account of ada exists"])
    }).pipe(mocked(PgClientMock.when(/^INSERT INTO ledger_accounts/, PgClientMock.uniqueViolation("ledger_accounts_owner_key")))))

  it.effect("open_account decodes the driver's bigint columns into the account", () =>
    Effect.gen(function*() {
      const result = yield* call(Ledger.openAccount, { kwargs: { owner: "ada", balance: 10 } })
      assert.deepStrictEqual(result.args, [{ id: 3, owner: "ada", balance: 10 }])
    }).pipe(mocked(PgClientMock.when(/^INSERT INTO ledger_accounts/, [{ id: 3n, owner: "ada", balance: 10n }]))))

  it.effect("get_account: no row is no_such_account", () =>
    Effect.gen(function*() {
      const error = yield* Effect.flip(call(Ledger.getAccount, { args: [4] }))
      assert.strictEqual(error.error, `${L}.error.no_such_account`)
      assert.deepStrictEqual(error.kwargs, { id: 4 })
    }).pipe(mocked(PgClientMock.when(/FROM ledger_accounts WHERE id/, []))))

  it.effect("transfer: commits, then publishes on_transfer once", () =>
    Effect.gen(function*() {
      const mock = yield* PgClientMock.PgClientMock
      const result = yield* call(Ledger.transfer, { kwargs: { from: 1, to: 2, amount: 30 } })
      assert.deepStrictEqual(result.args, [{ id: 9, from_balance: 70, to_balance: 35 }])
      assert.deepStrictEqual(kinds(yield* mock.statements), ["begin", "SELECT", "UPDATE", "INSERT", "commit"])
      assert.deepStrictEqual(yield* events, [{
        topic: `${L}.on_transfer`,
        args: [{ id: 9, from: 1, to: 2, amount: 30, at: at.toISOString() }]
      }])
    }).pipe(mocked(lockBoth, update, insert)))

  // it.live: the retry's back-off sleeps (milliseconds) on the real clock.
  it.live("transfer: 40001 and 40P01 roll back and run the whole transaction again; one event", () =>
    Effect.gen(function*() {
      const mock = yield* PgClientMock.PgClientMock
      const result = yield* call(Ledger.transfer, { kwargs: { from: 1, to: 2, amount: 30 } })
      assert.deepStrictEqual(result.args, [{ id: 9, from_balance: 70, to_balance: 35 }])
      assert.deepStrictEqual(kinds(yield* mock.statements), [
        "begin", "SELECT", "UPDATE", "rollback",
        "begin", "SELECT", "UPDATE", "INSERT", "rollback",
        "begin", "SELECT", "UPDATE", "INSERT", "commit"
      ])
      assert.strictEqual((yield* events).length, 1)
    }).pipe(mocked(
      lockBoth,
      PgClientMock.when(/^UPDATE ledger_accounts/, PgClientMock.serializationFailure(), { times: 1 }),
      update,
      PgClientMock.when(/^INSERT INTO ledger_transfers/, PgClientMock.deadlockDetected(), { times: 1 }),
      insert
    )))

  it.live("transfer: a serialization failure that persists ends after 5 retries, publishing nothing", () =>
    Effect.gen(function*() {
      const mock = yield* PgClientMock.PgClientMock
      const error = yield* Effect.flip(call(Ledger.transfer, { kwargs: { from: 1, to: 2, amount: 30 } }))
      assert.strictEqual(error.error, "wampgres.error.database")
      assert.deepStrictEqual(error.kwargs, { sqlstate: "40001" })
      assert.strictEqual(kinds(yield* mock.statements).filter((k) => k === "begin").length, 6)
      assert.deepStrictEqual(yield* events, [])
    }).pipe(mocked(lockBoth, PgClientMock.when(/^UPDATE ledger_accounts/, PgClientMock.serializationFailure()))))

  it.effect("transfer: not enough money is insufficient_funds before any write, rolled back", () =>
    Effect.gen(function*() {
      const mock = yield* PgClientMock.PgClientMock
      const error = yield* Effect.flip(call(Ledger.transfer, { kwargs: { from: 2, to: 1, amount: 6 } }))
      assert.strictEqual(error.error, `${L}.error.insufficient_funds`)
      assert.deepStrictEqual(error.kwargs, { account: 2, amount: 6 })
      assert.deepStrictEqual(kinds(yield* mock.statements), ["begin", "SELECT", "rollback"])
      assert.deepStrictEqual(yield* events, [])
    }).pipe(mocked(lockBoth)))

  it.effect("transfer: the balance CHECK (23514) is insufficient_funds too", () =>
    Effect.gen(function*() {
      const error = yield* Effect.flip(call(Ledger.transfer, { kwargs: { from: 1, to: 2, amount: 30 } }))
      assert.strictEqual(error.error, `${L}.error.insufficient_funds`)
      assert.deepStrictEqual(yield* events, [])
    }).pipe(mocked(
      lockBoth,
      PgClientMock.when(
        /^UPDATE ledger_accounts/,
        PgClientMock.pgError({ code: "23514", message: "violates check constraint", constraint: "ledger_accounts_balance_nonnegative" })
      )
    )))

  it.effect("transfer: an account missing from the lock is no_such_account", () =>
    Effect.gen(function*() {
      const error = yield* Effect.flip(call(Ledger.transfer, { kwargs: { from: 1, to: 3, amount: 1 } }))
      assert.strictEqual(error.error, `${L}.error.no_such_account`)
      assert.deepStrictEqual(error.kwargs, { id: 3 })
    }).pipe(mocked(PgClientMock.when(/FOR UPDATE/, [{ id: 1n, owner: "a", balance: 100n }]))))

  it.effect("transfer: from == to is invalid_argument, before any statement", () =>
    Effect.gen(function*() {
      const mock = yield* PgClientMock.PgClientMock
      const error = yield* Effect.flip(call(Ledger.transfer, { kwargs: { from: 1, to: 1, amount: 1 } }))
      assert.strictEqual(error.error, "wamp.error.invalid_argument")
      assert.deepStrictEqual(yield* mock.statements, [])
    }).pipe(mocked()))
})
