/**
 * `WampSession.publishAll` against the embedded router: a batch goes out back to back, in order, and
 * every event gets its own outcome, in order: acknowledged, refused by the router (its URI), or sent
 * without asking for an acknowledgement. What the relay of the outbox relies on.
 */
import { assert, layer } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Layer from "effect/Layer"
import { WampSession } from "../../src/layers/WampSession.js"
import { Router } from "../../src/router/index.js"
import { clientSession, clientWamp, TestRouter } from "../support/index.js"

const topic = "com.example.test.batch"

const uriOf = (exit: Exit.Exit<void, { readonly error: string }>): string =>
  Exit.isSuccess(exit) ? "ok" : exit.cause.reasons[0]?._tag === "Fail" ? exit.cause.reasons[0].error.error : "died"

/** The first positional argument of every event on `topic`, as an anonymous subscriber receives them. */
const receivedOn = (topic: string) =>
  Effect.gen(function*() {
    const subscriber = yield* clientSession((yield* Router).url)
    const received: Array<unknown> = []
    yield* Effect.promise(() => subscriber.subscribe(topic, (args) => void received.push(args?.[0])))
    return received
  })

const Env = Layer.provideMerge(
  Layer.unwrap(Effect.map(Router, (router) => clientWamp(router.url))),
  TestRouter.layer()
)

layer(Env, { excludeTestServices: true, timeout: "60 seconds" })("WampSession.publishAll", (it) => {
  it.effect("one outcome per event, in order; subscribers get the published ones in order", () =>
    Effect.gen(function*() {
      const wamp = yield* WampSession
      const received = yield* receivedOn(topic)
      const exits = yield* wamp.publishAll([
        { topic, payload: { args: [1] }, options: { acknowledge: true } },
        { topic: "com..not a uri", payload: { args: [2] }, options: { acknowledge: true } },
        { topic, payload: { args: [3] } },
        { topic, payload: { args: [4] }, options: { acknowledge: true } }
      ])
      assert.deepStrictEqual(exits.map(uriOf), ["ok", "wamp.error.invalid_uri", "ok", "ok"])
      yield* Effect.sleep("100 millis").pipe(Effect.repeat({ until: () => received.length >= 3, times: 100 }))
      assert.deepStrictEqual(received, [1, 3, 4])
      assert.deepStrictEqual(yield* wamp.publishAll([]), [])
    }))

  it.effect("a large batch: every event acknowledged, delivered once, in order", () =>
    Effect.gen(function*() {
      const wamp = yield* WampSession
      const received = yield* receivedOn(`${topic}.large`)
      const count = 2000
      const exits = yield* wamp.publishAll(
        Array.from({ length: count }, (_, i) => ({ topic: `${topic}.large`, payload: { args: [i] }, options: { acknowledge: true } }))
      )
      assert.isTrue(exits.every(Exit.isSuccess))
      yield* Effect.sleep("100 millis").pipe(Effect.repeat({ until: () => received.length >= count, times: 100 }))
      assert.deepStrictEqual(received, Array.from({ length: count }, (_, i) => i))
    }))
})
