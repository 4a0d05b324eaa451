/**
 * A second, independent client library (wampy) against the router: register, call, subscribe and
 * publish over each serializer, with autobahn on the other side and Node's own WebSocket below.
 */
import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import { Wampy } from "wampy"
import { CborSerializer } from "wampy/CborSerializer.js"
import { JsonSerializer } from "wampy/JsonSerializer.js"
import { MsgpackSerializer } from "wampy/MsgpackSerializer.js"
import { promise, router, session } from "./support.js"

const serializers = {
  json: () => new JsonSerializer(),
  msgpack: () => new MsgpackSerializer(),
  cbor: () => new CborSerializer()
} as const

const connect = (url: string, serializer: keyof typeof serializers) =>
  Effect.acquireRelease(
    promise(async () => {
      const client = new Wampy(url, { realm: "realm1", ws: globalThis.WebSocket, autoReconnect: false, serializer: serializers[serializer]() })
      await client.connect()
      return client
    }),
    (client) => Effect.promise(() => client.disconnect().catch(() => undefined))
  )

describe.each(["json", "msgpack", "cbor"] as const)("wampy over %s", (serializer) => {
  it.live("wampy registers a procedure that autobahn calls, and calls one autobahn registered", () =>
    Effect.gen(function*() {
      const r = yield* router()
      const w = yield* connect(r.url, serializer)
      const a = yield* session(r.url)
      yield* promise(() =>
        w.register("com.example.wampy.double", (data) => ({ argsList: [(data.argsList![0] as number) * 2] }))
      )
      expect(yield* promise(() => a.session.call("com.example.wampy.double", [21]))).toBe(42)
      yield* promise(() => a.session.register("com.example.autobahn.greet", (args) => `hello ${String(args[0])}`))
      const result = (yield* promise(() => w.call("com.example.autobahn.greet", ["wampy"]))) as { argsList: Array<unknown> }
      expect(result.argsList).toEqual(["hello wampy"])
    }))

  it.live("wampy subscribes to what autobahn publishes, and publishes what autobahn receives", () =>
    Effect.gen(function*() {
      const r = yield* router()
      const w = yield* connect(r.url, serializer)
      const a = yield* session(r.url)
      let toWampy: (v: unknown) => void = () => {}
      const atWampy = new Promise((resolve) => (toWampy = resolve))
      yield* promise(() => w.subscribe("com.example.news", (e: { argsList?: Array<unknown>; argsDict?: unknown }) => toWampy([e.argsList, e.argsDict])))
      yield* promise(async () => a.session.publish("com.example.news", [1, "a"], { k: true }, { acknowledge: true }))
      expect(yield* promise(() => atWampy)).toEqual([[1, "a"], { k: true }])
      let toAutobahn: (v: unknown) => void = () => {}
      const atAutobahn = new Promise((resolve) => (toAutobahn = resolve))
      yield* promise(() => a.session.subscribe("com.example.back", (args, kwargs) => toAutobahn([args, kwargs])))
      yield* promise(() => w.publish("com.example.back", { argsList: [2], argsDict: { from: "wampy" } }))
      expect(yield* promise(() => atAutobahn)).toEqual([[2], { from: "wampy" }])
    }))
})
