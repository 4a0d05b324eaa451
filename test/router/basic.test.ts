/**
 * The basic profile over real sockets with autobahn, once per serializer: session handshake,
 * REGISTER/CALL/INVOCATION/YIELD/RESULT, callee ERROR passthrough, SUBSCRIBE/PUBLISH/EVENT, and
 * binary payloads crossing serializers.
 */
import { describe, expect, it } from "@effect/vitest"
import autobahn from "autobahn"
import * as Effect from "effect/Effect"
import type { SerializerName } from "../../src/router/types.js"
import { callError, promise, router, session, waitUntil } from "./support.js"

const all: ReadonlyArray<SerializerName> = ["json", "msgpack", "cbor"]

describe.each(all)("basic profile over %s", (serializer) => {
  it.live("WELCOME announces the router roles and an anonymous identity", () =>
    Effect.gen(function*() {
      const r = yield* router()
      const { session: s, welcome } = yield* session(r.url, { serializer })
      expect(s.id).toBeGreaterThan(0)
      expect(welcome["authrole"]).toBe("anonymous")
      expect(welcome["authmethod"]).toBe("anonymous")
      expect(typeof welcome["authid"]).toBe("string")
      const roles = welcome["roles"] as Record<string, { features: Record<string, boolean> }>
      expect(Object.keys(roles).sort()).toEqual(["broker", "dealer"])
      // exactly the features this router implements (each has its conformance test)
      expect(Object.keys(roles["broker"]!.features).sort()).toEqual([
        "pattern_based_subscription",
        "publisher_exclusion",
        "publisher_identification",
        "session_meta_api",
        "subscriber_blackwhite_listing",
        "subscription_meta_api"
      ])
      expect(Object.keys(roles["dealer"]!.features).sort()).toEqual([
        "call_canceling",
        "call_timeout",
        "caller_identification",
        "pattern_based_registration",
        "progressive_call_results",
        "registration_meta_api",
        "session_meta_api",
        "shared_registration"
      ])
    }))

  it.live("a call reaches the callee with args and kwargs and the result comes back", () =>
    Effect.gen(function*() {
      const r = yield* router()
      const callee = yield* session(r.url, { serializer })
      const caller = yield* session(r.url, { serializer })
      yield* promise(() =>
        callee.session.register("com.example.add", (args, kwargs) =>
          new autobahn.Result([(args[0] as number) + (args[1] as number)], { echo: kwargs }))
      )
      const result = (yield* promise(() => caller.session.call("com.example.add", [2, 3], { x: "y" }))) as autobahn.Result
      expect(result.args).toEqual([5])
      expect(result.kwargs).toEqual({ echo: { x: "y" } })
      yield* promise(() => callee.session.register("com.example.one", (args) => (args[0] as number) + 1))
      const single = yield* promise(() => caller.session.call("com.example.one", [41]))
      expect(single).toBe(42)
    }))

  it.live("a callee's ERROR reaches the caller with its URI, args and kwargs unchanged", () =>
    Effect.gen(function*() {
      const r = yield* router()
      const callee = yield* session(r.url, { serializer })
      const caller = yield* session(r.url, { serializer })
      yield* promise(() =>
        callee.session.register("com.example.fail", () => {
          throw new autobahn.Error("com.example.error.insufficient_funds", [1, "two"], { balance: 3 })
        })
      )
      const error = yield* callError(() => caller.session.call("com.example.fail"))
      expect(error.error).toBe("com.example.error.insufficient_funds")
      expect(error.args).toEqual([1, "two"])
      expect(error.kwargs).toEqual({ balance: 3 })
    }))

  it.live("calling an unregistered procedure fails with wamp.error.no_such_procedure", () =>
    Effect.gen(function*() {
      const r = yield* router()
      const caller = yield* session(r.url, { serializer })
      const error = yield* callError(() => caller.session.call("com.example.nothing"))
      expect(error.error).toBe("wamp.error.no_such_procedure")
    }))

  it.live("an event published with acknowledge reaches subscribers but not the publisher", () =>
    Effect.gen(function*() {
      const r = yield* router()
      const publisher = yield* session(r.url, { serializer })
      const subscriber = yield* session(r.url, { serializer })
      const received: Array<{ args: Array<unknown>; kwargs: Record<string, unknown> }> = []
      const mine: Array<unknown> = []
      let gotOne: () => void = () => {}
      const got = new Promise<void>((r) => (gotOne = r))
      yield* promise(() =>
        subscriber.session.subscribe("com.example.topic", (args, kwargs) => {
          received.push({ args, kwargs })
          gotOne()
        })
      )
      yield* promise(() => publisher.session.subscribe("com.example.topic", (args) => void mine.push(args)))
      const publication = yield* promise(async () =>
        (await publisher.session.publish("com.example.topic", ["hello", 1], { k: [true] }, { acknowledge: true }))!
      )
      expect(publication.id).toBeGreaterThan(0)
      yield* promise(() => got)
      expect(received).toEqual([{ args: ["hello", 1], kwargs: { k: [true] } }])
      // barrier: the publisher's next publication, sent to itself with exclude_me: false, is the
      // first event its own subscription sees
      yield* promise(async () => publisher.session.publish("com.example.topic", ["own"], {}, { exclude_me: false, acknowledge: true }))
      yield* waitUntil(() => mine.length > 0, "the publisher's own event")
      expect(mine).toEqual([["own"]])
    }))
})

describe("binary payloads", () => {
  it.live("bytes from a JSON caller reach msgpack and cbor callees as bytes and back", () =>
    Effect.gen(function*() {
      const r = yield* router()
      const jsonCaller = yield* session(r.url, { serializer: "json" })
      for (const calleeSerializer of ["msgpack", "cbor"] as const) {
        const callee = yield* session(r.url, { serializer: calleeSerializer })
        const seen: Array<unknown> = []
        yield* promise(() =>
          callee.session.register(`com.example.bytes.${calleeSerializer}`, (args) => {
            seen.push(args[0])
            return new autobahn.Result([new Uint8Array([9, 8, 7])])
          })
        )
        // autobahn's JSON serializer sends bytes per the JSON convention: "\0" + base64
        const out = yield* promise(() => jsonCaller.session.call(`com.example.bytes.${calleeSerializer}`, ["\u0000AQID"]))
        expect(Buffer.from(seen[0] as Uint8Array)).toEqual(Buffer.from([1, 2, 3]))
        expect(out).toBe("\u0000" + Buffer.from([9, 8, 7]).toString("base64"))
      }
    }))
})
