/**
 * The component on each `WAMP_SERIALIZER` (json with the binary convention, msgpack via msgpackr):
 * it joins with that subprotocol and serves JSON and MessagePack callers alike, byte arrays included.
 */
import { assert, layer } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Schema from "effect/Schema"
import * as Group from "../../src/procedures/Group.js"
import { NowGroup } from "../../src/procedures/now/index.js"
import * as Procedure from "../../src/procedures/Procedure.js"
import { Router } from "../../src/router/index.js"
import { callRaw, clientSession, componentLayer, TestDatabase, TestRouter } from "../support/index.js"

/** Returns what it was given, reversed bytes and all, to show both directions of the codec. */
const mirror = Procedure.make("com.example.test.mirror", {
  args: { bytes: Schema.Uint8Array, nested: Schema.Struct({ n: Schema.Number, list: Schema.Array(Schema.String) }) },
  result: Schema.Struct({ bytes: Schema.Uint8Array, nested: Schema.Struct({ n: Schema.Number, list: Schema.Array(Schema.String) }) }),
  handler: ({ bytes, nested }) => Effect.succeed({ bytes: Uint8Array.from(bytes).reverse(), nested })
})

for (const componentSerializer of ["json", "msgpack"] as const) {
  const Env = componentLayer(Layer.mergeAll(NowGroup.layer, Group.make("mirror", [mirror]).layer), { serializer: componentSerializer }).pipe(
    Layer.provideMerge(TestRouter.layer()),
    Layer.provideMerge(TestDatabase.layer)
  )

  layer(Env, { excludeTestServices: true, timeout: "60 seconds" })(`component over ${componentSerializer}`, (it) => {
    it.effect(`joins with wamp.2.${componentSerializer}`, () =>
      Effect.gen(function*() {
        const router = yield* Router
        const session = yield* clientSession(router.url)
        const registration = yield* callRaw(session, "wamp.registration.lookup", { args: ["com.example.now.v1"] })
        const callees = yield* callRaw(session, "wamp.registration.list_callees", { args: [registration.args[0]] })
        const component = yield* callRaw(session, "wamp.session.get", { args: [(callees.args[0] as Array<number>)[0]] })
        const details = component.args[0] as { transport: { protocol: string } }
        assert.strictEqual(details.transport.protocol, `wamp.2.${componentSerializer}`)
      }))

    for (const serializer of ["json", "msgpack"] as const) {
      it.effect(`serves a ${serializer} caller: database results and byte arrays`, () =>
        Effect.gen(function*() {
          const router = yield* Router
          const session = yield* clientSession(router.url, { serializer })
          for (const v of [1, 3]) {
            const result = yield* callRaw(session, `com.example.now.v${v}`)
            assert.match(String(result.args[0]), /^\d{4}-\d{2}-\d{2} /)
          }
          const nested = { n: 1.5, list: ["a", "ü", ""] }
          // autobahn's JSON serializer has no binary convention: a JSON caller writes it by hand.
          const bytes = (b: Array<number>) => serializer === "json" ? "\u0000" + Buffer.from(b).toString("base64") : Buffer.from(b)
          const result = yield* callRaw(session, "com.example.test.mirror", { kwargs: { bytes: bytes([1, 2, 3, 255]), nested } })
          const echoed = result.args[0] as { bytes: unknown; nested: unknown }
          assert.deepStrictEqual(echoed.bytes, bytes([255, 3, 2, 1]))
          assert.deepStrictEqual(echoed.nested, nested)
        }))
    }
  })
}
