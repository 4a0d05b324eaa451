/**
 * A call never hangs without an answer. When the router cannot encode a message for its receiver
 * (a CBOR big integer beyond 64 bits for a MessagePack peer; JSON writes it as its digits), the one waiting for it gets an ERROR with
 * wamp.error.invalid_payload and the pending call is removed; a callee that leaves fails its
 * pending calls with wamp.error.canceled; an EVENT one subscriber cannot take does not keep it
 * from the others.
 */
import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import type { SerializerName } from "../../src/router/types.js"
import { promise, raw, router } from "./support.js"

const ERROR = 8, PUBLISH = 16, PUBLISHED = 17, SUBSCRIBE = 32, SUBSCRIBED = 33, EVENT = 36
const CALL = 48, RESULT = 50, REGISTER = 64, REGISTERED = 65, INVOCATION = 68, INTERRUPT = 69, YIELD = 70

/** Beyond 64 bits: CBOR encodes it (tag 2) and JSON as digits; MessagePack cannot. */
const BIG = 2n ** 70n

const joined = (url: string, serializer: SerializerName) =>
  Effect.gen(function*() {
    const c = yield* raw(url, serializer)
    yield* promise(() => c.hello())
    return c
  })

const registered = (url: string, serializer: SerializerName, procedure: string) =>
  Effect.gen(function*() {
    const c = yield* joined(url, serializer)
    c.send([REGISTER, 1, {}, procedure])
    expect((yield* promise(() => c.next()))[0]).toBe(REGISTERED)
    return c
  })

describe("an INVOCATION that cannot be encoded for the callee", () => {
  it.live.each(["msgpack"] as const)("fails the call with invalid_payload (%s callee) and removes it", (calleeSerializer) =>
    Effect.gen(function*() {
      const r = yield* router()
      const callee = yield* registered(r.url, calleeSerializer, "com.answers.p")
      const caller = yield* joined(r.url, "cbor")
      caller.send([CALL, 7, {}, "com.answers.p", [BIG]])
      const error = yield* promise(() => caller.next())
      expect(error.slice(0, 5)).toEqual([ERROR, CALL, 7, {}, "wamp.error.invalid_payload"])
      expect((error[5] as Array<string>)[0]).toContain(calleeSerializer)
      // the call is gone: the same request id may be used again, and its INVOCATION is the callee's
      // first message (the unencodable one never reached it)
      caller.send([CALL, 7, {}, "com.answers.p", [1]])
      const invocation = yield* promise(() => callee.next())
      expect([invocation[0], invocation[4]]).toEqual([INVOCATION, [1]])
      callee.send([YIELD, invocation[1], {}, ["ok"]])
      expect(yield* promise(() => caller.next())).toEqual([RESULT, 7, {}, ["ok"]])
    }))
})

describe("an answer that cannot be encoded for the caller", () => {
  it.live("a RESULT becomes ERROR invalid_payload", () =>
    Effect.gen(function*() {
      const r = yield* router()
      const callee = yield* registered(r.url, "cbor", "com.answers.p")
      const caller = yield* joined(r.url, "msgpack")
      caller.send([CALL, 1, {}, "com.answers.p", []])
      const invocation = yield* promise(() => callee.next())
      callee.send([YIELD, invocation[1], {}, [BIG]])
      expect(yield* promise(() => caller.next())).toEqual([
        ERROR, CALL, 1, {}, "wamp.error.invalid_payload", ["the result cannot be encoded for the caller (msgpack)"]
      ])
    }))

  it.live("a callee's ERROR becomes ERROR invalid_payload", () =>
    Effect.gen(function*() {
      const r = yield* router()
      const callee = yield* registered(r.url, "cbor", "com.answers.p")
      const caller = yield* joined(r.url, "msgpack")
      caller.send([CALL, 1, {}, "com.answers.p", []])
      const invocation = yield* promise(() => callee.next())
      callee.send([ERROR, INVOCATION, invocation[1], {}, "com.answers.failed", [BIG]])
      expect(yield* promise(() => caller.next())).toEqual([
        ERROR, CALL, 1, {}, "wamp.error.invalid_payload", ["the callee's error cannot be encoded for the caller (msgpack)"]
      ])
    }))

  it.live("a progressive result ends the call: ERROR invalid_payload to the caller, INTERRUPT to the callee", () =>
    Effect.gen(function*() {
      const r = yield* router()
      const callee = yield* registered(r.url, "cbor", "com.answers.p")
      const caller = yield* joined(r.url, "msgpack")
      caller.send([CALL, 1, { receive_progress: true }, "com.answers.p", []])
      const invocation = yield* promise(() => callee.next())
      callee.send([YIELD, invocation[1], { progress: true }, [1]])
      expect(yield* promise(() => caller.next())).toEqual([RESULT, 1, { progress: true }, [1]])
      callee.send([YIELD, invocation[1], { progress: true }, [BIG]])
      expect(yield* promise(() => caller.next())).toEqual([
        ERROR, CALL, 1, {}, "wamp.error.invalid_payload", ["a progressive result cannot be encoded for the caller (msgpack)"]
      ])
      expect(yield* promise(() => callee.next())).toEqual([INTERRUPT, invocation[1], { mode: "killnowait", reason: "wamp.error.canceled" }])
      // a late final YIELD is dropped: the answer to a later call is the caller's next message
      caller.send([CALL, 2, {}, "com.answers.p", []])
      const second = yield* promise(() => callee.next())
      callee.send([YIELD, invocation[1], {}, ["late"]])
      callee.send([YIELD, second[1], {}, ["second"]])
      expect(yield* promise(() => caller.next(10_000))).toEqual([RESULT, 2, {}, ["second"]])
    }))
})

describe("a callee that leaves", () => {
  it.live("fails every pending call with wamp.error.canceled", () =>
    Effect.gen(function*() {
      const r = yield* router()
      const callee = yield* registered(r.url, "json", "com.answers.p")
      const a = yield* joined(r.url, "json")
      const b = yield* joined(r.url, "msgpack")
      a.send([CALL, 1, {}, "com.answers.p", []])
      b.send([CALL, 5, {}, "com.answers.p", []])
      b.send([CALL, 6, { timeout: 60_000 }, "com.answers.p", []])
      for (let i = 0; i < 3; i++) expect((yield* promise(() => callee.next()))[0]).toBe(INVOCATION)
      callee.close()
      expect((yield* promise(() => a.next())).slice(0, 5)).toEqual([ERROR, CALL, 1, {}, "wamp.error.canceled"])
      const errors = [yield* promise(() => b.next()), yield* promise(() => b.next())]
      expect(errors.map((m) => [m[2], m[4]]).sort()).toEqual([[5, "wamp.error.canceled"], [6, "wamp.error.canceled"]])
    }))
})

describe("a callee whose connection is closing", () => {
  it.live("fails a new call at once with wamp.error.canceled instead of waiting for the close to complete", () =>
    Effect.gen(function*() {
      const r = yield* router()
      const callee = yield* registered(r.url, "json", "com.answers.p")
      const caller = yield* joined(r.url, "json")
      // The callee sends its close frame but never reads the router's answer, so the router's side
      // stays CLOSING (ws waits up to 30 s for the TCP end) while the session is still registered.
      ;(callee.ws as unknown as { _socket: import("node:net").Socket })._socket.pause()
      callee.ws.close()
      // Until the router has read the close frame an INVOCATION may still leave (and get no answer):
      // each attempt that stays silent is such a race; the first one after it must fail at once.
      let answer: Array<unknown> | undefined
      for (let request = 1; request <= 10 && answer === undefined; request++) {
        caller.send([CALL, request, {}, "com.answers.p", []])
        answer = yield* promise(() => caller.next(1000).catch(() => undefined))
      }
      expect(answer?.[0]).toBe(ERROR)
      expect(answer?.[4]).toBe("wamp.error.canceled")
      expect(answer?.[5]).toEqual(["the callee left"])
    }))
})

describe("an EVENT one subscriber cannot take", () => {
  it.live("reaches the subscribers that can, and later events reach everyone", () =>
    Effect.gen(function*() {
      const r = yield* router()
      const subscribers = { json: yield* joined(r.url, "json"), msgpack: yield* joined(r.url, "msgpack"), cbor: yield* joined(r.url, "cbor") }
      for (const s of Object.values(subscribers)) {
        s.send([SUBSCRIBE, 1, {}, "com.answers.t"])
        expect((yield* promise(() => s.next()))[0]).toBe(SUBSCRIBED)
      }
      const publisher = yield* joined(r.url, "cbor")
      publisher.send([PUBLISH, 1, { acknowledge: true }, "com.answers.t", [BIG]])
      expect((yield* promise(() => publisher.next()))[0]).toBe(PUBLISHED)
      const big = yield* promise(() => subscribers.cbor.next())
      expect(big[0]).toBe(EVENT)
      expect(big[4]).toEqual([BIG])
      const bigAsJson = yield* promise(() => subscribers.json.next())
      expect([bigAsJson[0], bigAsJson[4]]).toEqual([EVENT, [Number(BIG)]])
      publisher.send([PUBLISH, 2, {}, "com.answers.t", ["small"]])
      for (const s of Object.values(subscribers)) {
        const event = yield* promise(() => s.next())
        expect([event[0], event[4]]).toEqual([EVENT, ["small"]])
      }
    }))
})
