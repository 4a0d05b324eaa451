/**
 * The ledger's procedures through `invoke` against the scripted PgClientMock: every transaction
 * starts with the caller's identity, SQLSTATE mapping (42501 from the pay policy → no_such_account,
 * 23514 → insufficient_funds), bounded retries of the whole transaction on 40001/40P01, and events
 * published only after COMMIT, to the payer. Rows come back as the driver returns them (`bigint` for
 * int8 columns, `Date` for timestamptz) and are decoded by the row Schemas. What PostgreSQL enforces
 * (row-level security, the posting trigger) is tested against the real one (test/integration/ledger).
 */
import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Ledger from "../../../src/procedures/ledger/index.js"
import * as PgClientMock from "../../../src/testing/PgClientMock.js"
import * as WampSessionMock from "../../../src/testing/WampSessionMock.js"
import { at, call, events, mocked } from "./support.js"

const L = "com.example.ledger"

const identity = PgClientMock.when(/set_config\('wampgres\.authid'/, [{}])
const insert = PgClientMock.when(/^INSERT INTO ledger_transfers/, [{ id: 9n, from: 1n, to: 2n, amount: 30n, at }])
const payer = PgClientMock.when(/^SELECT id, owner, balance FROM ledger_accounts WHERE id/, [{ id: 1n, owner: "ada", balance: 70n }])

/** Statement kinds in order; the identity statement shows as `identity`. */
const kinds = (statements: ReadonlyArray<PgClientMock.ExecutedStatement>) =>
  statements.map((s) =>
    s.kind !== "query" ? s.kind : /set_config\('wampgres\.authid'/.test(s.sql) ? "identity" : s.sql.trimStart().split(/\s/, 1)[0]!
  )

describe("ledger procedures (mocked PgClient)", () => {
  it.effect("open_account: the owner is the caller as PostgreSQL sees it, set first in the transaction", () =>
    Effect.gen(function*() {
      const mock = yield* PgClientMock.PgClientMock
      const result = yield* call(Ledger.openAccount, {})
      assert.deepStrictEqual(result.args, [{ id: 3, owner: "ada", balance: 0 }])
      const statements = yield* mock.statements
      assert.deepStrictEqual(kinds(statements), ["begin", "identity", "INSERT", "commit"])
      const set = statements[1]!
      assert.deepStrictEqual(set.kind === "query" ? set.params : [], ["ada", "user", "42"])
      assert.include(statements[2]!.kind === "query" ? statements[2]!.sql : "", "ledger_caller()")
    }).pipe(mocked(identity, PgClientMock.when(/^INSERT INTO ledger_accounts/, [{ id: 3n, owner: "ada", balance: 0n }]))))

  it.effect("open_account takes no owner or balance from the caller", () =>
    Effect.gen(function*() {
      const error = yield* Effect.flip(call(Ledger.openAccount, { kwargs: { owner: "bob", balance: 5 } }))
      assert.strictEqual(error.error, "wamp.error.invalid_argument")
    }).pipe(mocked()))

  it.effect("an asCaller procedure whose caller was not disclosed is not_authorized, before any statement", () =>
    Effect.gen(function*() {
      const mock = yield* PgClientMock.PgClientMock
      const error = yield* Effect.flip(call(Ledger.getAccount, { args: [1] }, undefined, { caller: undefined }))
      assert.strictEqual(error.error, "wamp.error.not_authorized")
      assert.deepStrictEqual(yield* mock.statements, [])
    }).pipe(mocked()))

  it.effect("get_account: no row is no_such_account", () =>
    Effect.gen(function*() {
      const error = yield* Effect.flip(call(Ledger.getAccount, { args: [4] }))
      assert.strictEqual(error.error, `${L}.error.no_such_account`)
      assert.deepStrictEqual(error.kwargs, { id: 4 })
    }).pipe(mocked(identity, PgClientMock.when(/FROM ledger_accounts WHERE id/, []))))

  it.effect("mint: only for the admin authrole, before any statement", () =>
    Effect.gen(function*() {
      const mock = yield* PgClientMock.PgClientMock
      const error = yield* Effect.flip(call(Ledger.mint, { kwargs: { account: 1, amount: 5 } }))
      assert.strictEqual(error.error, "wamp.error.not_authorized")
      assert.deepStrictEqual(kinds(yield* mock.statements), ["begin", "identity", "rollback"])
      const minted = yield* call(Ledger.mint, { kwargs: { account: 1, amount: 5 } }, undefined, { callerAuthrole: "admin" })
      assert.deepStrictEqual(minted.args, [{ id: 1, owner: "bob", balance: 5 }])
    }).pipe(mocked(identity, PgClientMock.when(/^UPDATE ledger_accounts/, [{ id: 1n, owner: "bob", balance: 5n }]))))

  it.effect("transfer: one INSERT (the trigger posts it), the payer's balance, on_transfer to the payer after commit", () =>
    Effect.gen(function*() {
      const mock = yield* PgClientMock.PgClientMock
      const result = yield* call(Ledger.transfer, { kwargs: { from: 1, to: 2, amount: 30 } })
      assert.deepStrictEqual(result.args, [{ id: 9, from_balance: 70 }])
      assert.deepStrictEqual(kinds(yield* mock.statements), ["begin", "identity", "INSERT", "SELECT", "commit"])
      assert.deepStrictEqual(yield* events, [{
        topic: `${L}.on_transfer`,
        args: [{ id: 9, from: 1, to: 2, amount: 30, at: at.toISOString() }]
      }])
      const [published] = yield* WampSessionMock.published
      assert.deepStrictEqual(published!.options, { eligible_authid: ["ada"] })
    }).pipe(mocked(identity, insert, payer)))

  // it.live: the retry's back-off sleeps (milliseconds) on the real clock.
  it.live("transfer: 40001 and 40P01 roll back and run the whole transaction again, identity included; one event", () =>
    Effect.gen(function*() {
      const mock = yield* PgClientMock.PgClientMock
      const result = yield* call(Ledger.transfer, { kwargs: { from: 1, to: 2, amount: 30 } })
      assert.deepStrictEqual(result.args, [{ id: 9, from_balance: 70 }])
      assert.deepStrictEqual(kinds(yield* mock.statements), [
        "begin", "identity", "INSERT", "rollback",
        "begin", "identity", "INSERT", "SELECT", "rollback",
        "begin", "identity", "INSERT", "SELECT", "commit"
      ])
      assert.strictEqual((yield* events).length, 1)
    }).pipe(mocked(
      identity,
      PgClientMock.when(/^INSERT INTO ledger_transfers/, PgClientMock.serializationFailure(), { times: 1 }),
      insert,
      PgClientMock.when(/^SELECT id, owner, balance FROM ledger_accounts WHERE id/, PgClientMock.deadlockDetected(), { times: 1 }),
      payer
    )))

  it.live("transfer: a serialization failure that persists ends after 5 retries, publishing nothing", () =>
    Effect.gen(function*() {
      const mock = yield* PgClientMock.PgClientMock
      const error = yield* Effect.flip(call(Ledger.transfer, { kwargs: { from: 1, to: 2, amount: 30 } }))
      assert.strictEqual(error.error, "wampgres.error.database")
      assert.deepStrictEqual(error.kwargs, { sqlstate: "40001" })
      assert.strictEqual(kinds(yield* mock.statements).filter((k) => k === "begin").length, 6)
      assert.deepStrictEqual(yield* events, [])
    }).pipe(mocked(identity, PgClientMock.when(/^INSERT INTO ledger_transfers/, PgClientMock.serializationFailure()))))

  it.effect("transfer: the pay policy's refusal (42501) is no_such_account for from, saying nothing more", () =>
    Effect.gen(function*() {
      const error = yield* Effect.flip(call(Ledger.transfer, { kwargs: { from: 5, to: 2, amount: 1 } }))
      assert.strictEqual(error.error, `${L}.error.no_such_account`)
      assert.deepStrictEqual(error.kwargs, { id: 5 })
      assert.deepStrictEqual(yield* events, [])
    }).pipe(mocked(
      identity,
      PgClientMock.when(
        /^INSERT INTO ledger_transfers/,
        PgClientMock.pgError({ code: "42501", message: "new row violates row-level security policy for table \"ledger_transfers\"" })
      )
    )))

  it.effect("transfer: the balance CHECK (23514) is insufficient_funds; an unknown payee (23502, 23503) no_such_account", () =>
    Effect.gen(function*() {
      const poor = yield* Effect.flip(call(Ledger.transfer, { kwargs: { from: 1, to: 2, amount: 30 } }))
      assert.strictEqual(poor.error, `${L}.error.insufficient_funds`)
      assert.deepStrictEqual(poor.kwargs, { account: 1, amount: 30 })
      const nobody = yield* Effect.flip(call(Ledger.transfer, { kwargs: { from: 1, to: 3, amount: 1 } }))
      assert.strictEqual(nobody.error, `${L}.error.no_such_account`)
      assert.deepStrictEqual(nobody.kwargs, { id: 3 })
      assert.deepStrictEqual(yield* events, [])
    }).pipe(mocked(
      identity,
      PgClientMock.when(
        /^INSERT INTO ledger_transfers[\s\S]*/,
        PgClientMock.pgError({ code: "23514", message: "violates check constraint", constraint: "ledger_accounts_balance_nonnegative" }),
        { times: 1 }
      ),
      PgClientMock.when(
        /^INSERT INTO ledger_transfers/,
        PgClientMock.pgError({ code: "23502", message: "null value in column \"to_owner\"" })
      )
    )))

  it.effect("transfer: from == to is invalid_argument, before any statement", () =>
    Effect.gen(function*() {
      const mock = yield* PgClientMock.PgClientMock
      const error = yield* Effect.flip(call(Ledger.transfer, { kwargs: { from: 1, to: 1, amount: 1 } }))
      assert.strictEqual(error.error, "wamp.error.invalid_argument")
      assert.deepStrictEqual(yield* mock.statements, [])
    }).pipe(mocked()))
})
