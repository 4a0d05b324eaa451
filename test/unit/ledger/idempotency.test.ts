/**
 * Idempotent transfers on the mocked PgClient: the key's row, the work in a savepoint and the stored
 * outcome in one transaction; a repeated key replays the stored result or typed error without the
 * work; a key reused with other arguments is refused; keys are the caller's own (its authid is part
 * of the key's row). Properties: the stored arguments do not
 * depend on key order; an event's `_seq` is the outbox's, whatever the payload carries.
 */
import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as fc from "fast-check"
import * as Idempotency from "../../../src/procedures/Idempotency.js"
import * as Ledger from "../../../src/procedures/ledger/index.js"
import * as Outbox from "../../../src/procedures/Outbox.js"
import * as PgClientMock from "../../../src/testing/PgClientMock.js"
import { at, call, events, mocked } from "./support.js"

const L = "com.example.ledger"

const identity = PgClientMock.when(/set_config\('wampgres\.authid'/, [{}])
const source = PgClientMock.when(/^SELECT id, owner, balance FROM ledger_accounts/, [{ id: 1n, owner: "ada", balance: 70n }])
const insert = PgClientMock.when(/^INSERT INTO ledger_transfers/, [{ id: 9n, from: 1n, to: 2n, amount: 30n, at }])
const record = PgClientMock.when(/^UPDATE wampgres_idempotency/, [])
const claim = PgClientMock.when(/^INSERT INTO wampgres_idempotency/, [{ claimed: 1 }])
const taken = PgClientMock.when(/^INSERT INTO wampgres_idempotency/, [])
const stored = (outcome: unknown, args = Idempotency.fingerprint({ amount: 30, from: 1, to: 2 })) =>
  PgClientMock.when(/^SELECT arguments, outcome/, [{ arguments: args, outcome }])

const kinds = (statements: ReadonlyArray<PgClientMock.ExecutedStatement>) =>
  statements.map((s) => (s.kind === "query" ? s.sql.trimStart().split(/\s/, 2).join(" ") : s.kind))

const keyed = { from: 1, to: 2, amount: 30, idempotency_key: "k1" }

describe("idempotent transfer (mocked PgClient)", () => {
  it.effect("first call: key claimed, work in a savepoint, outcome stored, one commit", () =>
    Effect.gen(function*() {
      const mock = yield* PgClientMock.PgClientMock
      const result = yield* call(Ledger.transfer, { kwargs: keyed })
      assert.deepStrictEqual(result.args, [{ id: 9, from_balance: 70 }])
      assert.deepStrictEqual(kinds(yield* mock.statements), [
        "begin",
        "SELECT set_config('wampgres.authid',",
        "INSERT INTO",
        "savepoint",
        "INSERT INTO",
        "SELECT id,",
        "releaseSavepoint",
        "UPDATE wampgres_idempotency",
        "commit"
      ])
      const stored = (yield* mock.statements).find((s) => s.kind === "query" && /^UPDATE wampgres_idempotency/.test(s.sql))
      assert.deepStrictEqual(JSON.parse(String(stored?.kind === "query" ? stored.params[0] : "")), {
        result: { id: 9, from_balance: 70 }
      })
      // the key is the caller's: its authid is in the claimed row and in the stored outcome's address
      const claimed = (yield* mock.statements).find((s) => s.kind === "query" && /^INSERT INTO wampgres_idempotency/.test(s.sql))
      assert.deepStrictEqual(claimed?.kind === "query" ? claimed.params.slice(0, 3) : [], [Ledger.Uris.transfer, "ada", "k1"])
      assert.include(stored?.kind === "query" ? stored.params : [], "ada")
    }).pipe(mocked(identity, claim, insert, source, record)))

  it.effect("a repeated key returns the stored result: no transfer statement, no event", () =>
    Effect.gen(function*() {
      const mock = yield* PgClientMock.PgClientMock
      const result = yield* call(Ledger.transfer, { kwargs: keyed })
      assert.deepStrictEqual(result.args, [{ id: 9, from_balance: 70 }])
      assert.deepStrictEqual(kinds(yield* mock.statements), [
        "begin",
        "SELECT set_config('wampgres.authid',",
        "INSERT INTO",
        "SELECT arguments,",
        "commit"
      ])
      const read = (yield* mock.statements).find((s) => s.kind === "query" && /^SELECT arguments/.test(s.sql))
      assert.match(read?.kind === "query" ? read.sql : "", /authid = \$2/, "only the caller's own key is read")
      assert.deepStrictEqual(read?.kind === "query" ? read.params : [], [Ledger.Uris.transfer, "ada", "k1"])
      assert.deepStrictEqual(yield* events, [])
    }).pipe(mocked(identity, taken, stored({ result: { id: 9, from_balance: 70 } }))))

  it.effect("a repeated key returns the stored typed error with its fields", () =>
    Effect.gen(function*() {
      const error = yield* Effect.flip(call(Ledger.transfer, { kwargs: keyed }))
      assert.strictEqual(error.error, `${L}.error.insufficient_funds`)
      assert.deepStrictEqual(error.kwargs, { account: 1, amount: 30 })
    }).pipe(mocked(identity, taken, stored({ error: { _tag: "InsufficientFunds", account: 1, amount: 30 } }))))

  it.effect("the same key with other arguments is invalid_argument", () =>
    Effect.gen(function*() {
      const error = yield* Effect.flip(call(Ledger.transfer, { kwargs: { ...keyed, amount: 31 } }))
      assert.strictEqual(error.error, "wamp.error.invalid_argument")
      assert.match(String(error.args[0]), /idempotency_key/)
    }).pipe(mocked(identity, taken, stored({ result: { id: 9, from_balance: 70 } }))))

  it("property: the stored arguments do not depend on the order of keys", () => {
    fc.assert(fc.property(fc.dictionary(fc.string(), fc.jsonValue()), (record) => {
      const reversed = Object.fromEntries(Object.entries(record).reverse())
      assert.strictEqual(Idempotency.fingerprint(reversed), Idempotency.fingerprint(record))
    }), { numRuns: 500 })
  })

  it("property: an event's _seq is the outbox's sequence number, args untouched", () => {
    fc.assert(fc.property(
      fc.array(fc.jsonValue()),
      fc.dictionary(fc.string(), fc.jsonValue()),
      fc.nat(),
      (args, kwargs, seq) => {
        const payload = Outbox.eventPayload({ args, kwargs, seq })
        assert.strictEqual(payload.args, args)
        assert.strictEqual(payload.kwargs[Outbox.sequenceKey], seq)
      }
    ), { numRuns: 500 })
  })
})
