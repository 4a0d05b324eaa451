/**
 * 64-bit integers beyond 2^53 through the component: a MessagePack or CBOR caller can send them
 * exactly (the router decodes them as bigint and passes them on as exact digits or 64-bit integers);
 * the ledger's integer arguments accept only safe integers, so such a value is refused with
 * wamp.error.invalid_argument naming the argument, never rounded to a neighbouring account or amount.
 */
import { assert, layer } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Ledger from "../../../src/procedures/ledger/index.js"
import { Router } from "../../../src/router/index.js"
import type { SerializerName } from "../../../src/router/types.js"
import { raw } from "../../router/support.js"
import { callRaw, clientSession, componentLayer, TestDatabase, TestRouter } from "../../support/index.js"

const Env = componentLayer(Ledger.layer).pipe(
  Layer.provideMerge(TestRouter.layer()),
  Layer.provideMerge(TestDatabase.layer)
)

const L = "com.example.ledger"
const CALL = 48, RESULT = 50, ERROR = 8
/** 2^60 + 1: as a double it would round to 2^60. */
const BIG = 2n ** 60n + 1n

layer(Env, { excludeTestServices: true, timeout: "60 seconds" })("integers beyond 2^53 through the component", (it) => {
  for (const serializer of ["msgpack", "cbor"] as const satisfies ReadonlyArray<SerializerName>) {
    it.effect(`${serializer}: an id or amount beyond 2^53 is invalid_argument, and nothing changes`, () =>
      Effect.gen(function*() {
        const url = (yield* Router).url
        const session = yield* clientSession(url)
        const open = (owner: string, balance: number) =>
          Effect.map(callRaw(session, `${L}.open_account`, { kwargs: { owner, balance } }), (r) => (r.args[0] as { id: number }).id)
        const a = yield* open(`a-${serializer}`, 100)
        const b = yield* open(`b-${serializer}`, 0)
        const caller = yield* raw(url, serializer)
        yield* Effect.promise(() => caller.hello())
        const ask = (request: number, procedure: string, kwargs: Record<string, unknown>) =>
          Effect.promise(async () => {
            caller.send([CALL, request, {}, procedure, [], kwargs])
            return caller.next(10_000)
          })

        for (const [request, procedure, kwargs, name] of [
          [1, `${L}.get_account`, { id: BIG }, "id"],
          [2, `${L}.transfer`, { from: a, to: b, amount: BIG }, "amount"],
          [3, `${L}.transfer`, { from: BIG, to: b, amount: 1 }, "from"],
          [4, `${L}.open_account`, { owner: `c-${serializer}`, balance: BIG }, "balance"]
        ] as const) {
          const answer = yield* ask(request, procedure, kwargs)
          const shown = JSON.stringify(answer, (_key, value: unknown) => (typeof value === "bigint" ? `${value}n` : value))
          assert.deepStrictEqual(answer.slice(0, 5), [ERROR, CALL, request, {}, "wamp.error.invalid_argument"], shown)
          assert.include(JSON.stringify(answer.slice(5)), name)
        }
        // nothing was written: the balances are as they were, no account "c" exists
        const balances = yield* ask(5, `${L}.get_account`, { id: a })
        assert.strictEqual(balances[0], RESULT)
        assert.strictEqual((balances[3] as Array<{ balance: number }>)[0]!.balance, 100)
        // (opening "c" now succeeds: the refused call created no account, so no duplicate_owner)
        const created = yield* callRaw(session, `${L}.open_account`, { kwargs: { owner: `c-${serializer}`, balance: 1 } })
        assert.strictEqual((created.args[0] as { owner: string }).owner, `c-${serializer}`)
      }))
  }
})
