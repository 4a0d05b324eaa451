/**
 * 64-bit integers beyond 2^53 through the component: a MessagePack or CBOR caller can send them
 * exactly (the router decodes them as bigint and passes them on as exact digits or 64-bit integers);
 * the ledger's integer arguments accept only safe integers, so such a value is refused with
 * wamp.error.invalid_argument naming the argument, never rounded to a neighbouring account or amount.
 */
import { assert, layer } from "@effect/vitest"
import * as Effect from "effect/Effect"
import { Router } from "../../../src/router/index.js"
import type { SerializerName } from "../../../src/router/types.js"
import { raw } from "../../router/support.js"
import { balanceOf, caller as ledgerCaller, funded, L, LedgerEnv as Env, open } from "./callers.js"

const CALL = 48, RESULT = 50, ERROR = 8
/** 2^60 + 1: as a double it would round to 2^60. */
const BIG = 2n ** 60n + 1n

layer(Env, { excludeTestServices: true, timeout: "60 seconds" })("integers beyond 2^53 through the component", (it) => {
  for (const serializer of ["msgpack", "cbor"] as const satisfies ReadonlyArray<SerializerName>) {
    it.effect(`${serializer}: an id or amount beyond 2^53 is invalid_argument, and nothing changes`, () =>
      Effect.gen(function*() {
        const url = (yield* Router).url
        const session = yield* ledgerCaller()
        const a = (yield* funded(session, 100)).id
        const b = (yield* open(session)).id
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
          [4, `${L}.mint`, { account: a, amount: BIG }, "amount"]
        ] as const) {
          const answer = yield* ask(request, procedure, kwargs)
          const shown = JSON.stringify(answer, (_key, value: unknown) => (typeof value === "bigint" ? `${value}n` : value))
          assert.deepStrictEqual(answer.slice(0, 5), [ERROR, CALL, request, {}, "wamp.error.invalid_argument"], shown)
          assert.include(JSON.stringify(answer.slice(5)), name)
        }
        // nothing was written: the balance is as it was
        assert.strictEqual(yield* balanceOf(session, a), 100)
      }))
  }
})
