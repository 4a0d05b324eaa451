/**
 * Edges of the ledger and now.* procedures beside their own unit tests (test/unit/ledger,
 * now.test.ts): the exact limit of a listed history, the refusal of a transfer to the same account,
 * mint refused to a caller with no authrole, now() when the database returns no row, and the groups
 * registering every procedure.
 */
import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Logger from "effect/Logger"
import { ErrorUris, invoke, request } from "../../../src/procedures/invoke.js"
import * as Contract from "../../../src/procedures/ledger/contract.js"
import * as Ledger from "../../../src/procedures/ledger/index.js"
import { NowGroup, nowV1 } from "../../../src/procedures/now/index.js"
import * as PgClientMock from "../../../src/testing/PgClientMock.js"
import { call, mocked } from "../ledger/support.js"

const identity = PgClientMock.when(/set_config\('wampgres\.authid'/, [{}])
const planner = PgClientMock.when(/set_config\('enable_sort'/, [{}])
const findAccount = PgClientMock.when(/FROM ledger_accounts WHERE id = \$1$/, [{ id: 7n, owner: "ada", balance: 100n }])
const history = PgClientMock.when(/FROM ledger_transfers WHERE from_account/, [])

describe("ledger edges", () => {
  it.effect("history lists up to exactly maxListedTransfers without progressive results", () =>
    Effect.gen(function*() {
      const mock = yield* PgClientMock.PgClientMock
      const result = yield* call(Ledger.history, { kwargs: { account: 7, limit: Ledger.maxListedTransfers } })
      assert.deepStrictEqual(result.args, [{ count: 0, transfers: [] }])
      const last = (yield* mock.statements).filter((s) => s.kind === "query").at(-1)
      assert.deepStrictEqual(last?.kind === "query" ? last.params : [], [7, 7, Ledger.maxListedTransfers])
      const none = yield* call(Ledger.history, { kwargs: { account: 7 } })
      assert.deepStrictEqual(none.args, [{ count: 0, transfers: [] }])
    }).pipe(mocked(identity, planner, findAccount, history)))

  it.effect("a transfer to the same account is refused before any statement, saying why", () =>
    Effect.gen(function*() {
      const mock = yield* PgClientMock.PgClientMock
      const error = yield* Effect.flip(call(Ledger.transfer, { kwargs: { from: 1, to: 1, amount: 5 } }))
      assert.strictEqual(error.error, ErrorUris.invalidArgument)
      assert.deepStrictEqual(error.args, ["from and to must be different accounts"])
      assert.isFalse((yield* mock.statements).some((s) => s.kind === "query" && /ledger_/.test(s.sql)))
    }).pipe(mocked(identity)))

  it.effect("mint refuses a caller without an authrole, naming the empty authrole", () =>
    Effect.gen(function*() {
      const error = yield* Effect.flip(invoke(Ledger.mint, request(Ledger.mint.uri, { kwargs: { account: 1, amount: 5 } })))
      assert.strictEqual(error.error, Contract.NotAdmin.uri)
      assert.deepStrictEqual(error.kwargs, { authrole: "" })
    }).pipe(mocked(identity)))

  it("the ledger group registers its five procedures", () => {
    assert.strictEqual(Ledger.LedgerGroup.name, "ledger")
    assert.deepStrictEqual(Ledger.LedgerGroup.procedures.map((p) => p.uri), [
      Contract.openAccount.uri,
      Contract.getAccount.uri,
      Contract.transfer.uri,
      Contract.history.uri,
      Contract.mint.uri
    ])
    assert.strictEqual(NowGroup.name, "now")
  })
})

describe("now.v1 when the database returns no row", () => {
  it.effect("answers an empty string", () =>
    Effect.gen(function*() {
      assert.deepStrictEqual(yield* invoke(nowV1, request(nowV1.uri)), { args: [""], kwargs: {} })
    }).pipe(
      Effect.provide(PgClientMock.layer({ rules: [PgClientMock.when("SELECT now()::text AS now", [])] })),
      Effect.provide(Logger.layer([]))
    ))
})
