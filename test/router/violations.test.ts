/**
 * Protocol violations, as a raw client commits them: each aborts that session with
 * wamp.error.protocol_violation, removes its registrations and subscriptions, and leaves every
 * other session unharmed. Also the message-size limit and auto-ping.
 */
import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import type { SerializerName } from "../../src/router/types.js"
import { callError, promise, raw, RawClient, router, session, testConfig } from "./support.js"

type Violation = {
  readonly name: string
  readonly serializer?: SerializerName
  readonly commit: (c: RawClient) => void
  readonly joined?: boolean
  /** What the ABORT's message says, where the session (not the shape check) finds the violation. */
  readonly says?: string
}

const violations: ReadonlyArray<Violation> = [
  { name: "a second HELLO", commit: (c) => c.send([1, "realm1", { roles: { caller: {} } }]), says: "HELLO received on an established session" },
  { name: "a YIELD for an unknown request", commit: (c) => c.send([70, 4242, {}, ["x"]]) },
  { name: "an ERROR for an unknown INVOCATION", commit: (c) => c.send([8, 68, 4242, {}, "com.example.error"]) },
  { name: "an ERROR for a request type other than INVOCATION", commit: (c) => c.send([8, 48, 1, {}, "com.example.error"]) },
  { name: "a CALL whose request id is a string", commit: (c) => c.send([48, "1", {}, "com.example.p"]) },
  { name: "a SUBSCRIBE whose options are a list", commit: (c) => c.send([32, 1, [], "com.example.t"]) },
  { name: "a CALL with kwargs but no args list", commit: (c) => c.send([48, 1, {}, "com.example.p", { k: 1 }]) },
  { name: "a PUBLISH with too many elements", commit: (c) => c.send([16, 1, {}, "com.example.t", [], {}, "extra"]) },
  { name: "a message that is not an array", commit: (c) => c.send({ hello: "world" } as unknown as Array<unknown>) },
  { name: "an empty array", commit: (c) => c.send([]), says: "a WAMP message must be a non-empty array" },
  { name: "an unknown message type", commit: (c) => c.send([99, 1, {}]) },
  { name: "a router-only message type (EVENT)", commit: (c) => c.send([36, 1, 2, {}]) },
  { name: "undecodable JSON", commit: (c) => c.sendRaw("[48, 1, {}, \"com.example.p\""), says: "undecodable json message: " },
  { name: "undecodable msgpack", serializer: "msgpack", commit: (c) => c.sendRaw(Buffer.from([0x93, 0x01])), says: "undecodable msgpack message: " },
  { name: "undecodable cbor", serializer: "cbor", commit: (c) => c.sendRaw(Buffer.from([0x83, 0x01])), says: "undecodable cbor message: " },
  { name: "a CALL before HELLO", joined: false, commit: (c) => c.send([48, 1, {}, "com.example.p"]), says: "message type 48 before the session was established" }
]

describe("protocol violations", () => {
  it.live.each(violations)("$name aborts only that session, with its registrations and subscriptions", (v) =>
    Effect.gen(function*() {
      const r = yield* router()
      const bystander = yield* session(r.url)
      yield* promise(() => bystander.session.register("com.example.kept", () => "still here"))
      const offender = yield* raw(r.url, v.serializer ?? "json")
      if (v.joined !== false) {
        yield* promise(() => offender.hello())
        offender.send([64, 1, {}, "com.example.offender"])
        expect((yield* promise(() => offender.next()))[0]).toBe(65)
        offender.send([32, 2, {}, "com.example.offender.topic"])
        expect((yield* promise(() => offender.next()))[0]).toBe(33)
      }
      v.commit(offender)
      const abort = yield* promise(() => offender.next())
      expect(abort[0]).toBe(3)
      expect(abort[2]).toBe("wamp.error.protocol_violation")
      expect(typeof (abort[1] as Record<string, unknown>)["message"]).toBe("string")
      if (v.says !== undefined) expect((abort[1] as { message: string }).message).toContain(v.says)
      yield* promise(() => offender.closed)
      // the offender's registration and subscription are gone; the bystander is unharmed
      expect((yield* callError(() => bystander.session.call("com.example.offender"))).error).toBe("wamp.error.no_such_procedure")
      expect(yield* promise(() => bystander.session.call("wamp.subscription.lookup", ["com.example.offender.topic"]))).toBe(null)
      expect(yield* promise(() => bystander.session.call("com.example.kept"))).toBe("still here")
      expect(yield* promise(() => bystander.session.call("wamp.session.count"))).toBe(1)
    }))
})

describe("maximum message size", () => {
  it.live("a message above max_message_size aborts that session with a reason naming the limit", () =>
    Effect.gen(function*() {
      const r = yield* router(testConfig({ websocket: { maxMessageSize: 1024 } }))
      const bystander = yield* session(r.url)
      const big = yield* raw(r.url)
      yield* promise(() => big.hello())
      big.send([16, 1, {}, "com.example.t", ["x".repeat(2000)]])
      const abort = yield* promise(() => big.next())
      expect(abort[0]).toBe(3)
      expect(abort[2]).toBe("wamp.error.payload_size_exceeded")
      expect((abort[1] as { message: string }).message).toContain("1024")
      expect((yield* promise(() => big.closed)).code).toBe(1009)
      expect(yield* promise(() => bystander.session.call("wamp.session.count"))).toBe(1)
      // a message just under the limit is fine
      const small = yield* raw(r.url)
      yield* promise(() => small.hello())
      small.send([16, 1, { acknowledge: true }, "com.example.t", ["x".repeat(900)]])
      expect((yield* promise(() => small.next()))[0]).toBe(17)
    }))
})

describe("auto-ping", () => {
  it.live("a peer that does not answer pings is dropped and its session removed; a live one stays", () =>
    Effect.gen(function*() {
      const r = yield* router(testConfig({ websocket: { autoPingInterval: 100, autoPingTimeout: 100 } }))
      const live = yield* session(r.url)
      const dead = yield* Effect.acquireRelease(
        promise(() => RawClient.open(r.url, "json", undefined, { autoPong: false })),
        (c) => Effect.sync(() => c.close())
      )
      yield* promise(() => dead.hello())
      expect(yield* promise(() => live.session.call("wamp.session.count"))).toBe(2)
      const closed = yield* promise(() => dead.closed)
      expect(closed.code).toBe(1006)
      expect(yield* promise(() => live.session.call("wamp.session.count"))).toBe(1)
      // the live peer answers pings and stays: three more ping rounds (events on a second, raw
      // peer that answers them too), then it still calls
      const witness = yield* raw(r.url)
      yield* promise(() => witness.hello())
      yield* promise(() =>
        new Promise<void>((resolve) => {
          let pings = 0
          witness.ws.on("ping", () => ++pings === 3 && resolve())
        })
      )
      expect(live.session.isOpen).toBe(true)
      expect(yield* promise(() => live.session.call("wamp.session.count"))).toBe(2)
    }))
})

describe("slow consumers", () => {
  it.live("a peer that stops reading is dropped once 16 maximum-size messages wait for it", () =>
    Effect.gen(function*() {
      const r = yield* router(testConfig({ websocket: { maxMessageSize: 4096 } }))
      const bystander = yield* session(r.url)
      const stuck = yield* raw(r.url)
      yield* promise(() => stuck.hello())
      stuck.send([32, 1, {}, "com.example.flood"])
      expect((yield* promise(() => stuck.next()))[0]).toBe(33)
      // stop reading: the kernel buffers fill up, then the router's send buffer
      ;(stuck.ws as unknown as { _socket: { pause(): void } })._socket.pause()
      const publisher = yield* raw(r.url)
      yield* promise(() => publisher.hello())
      const payload = "x".repeat(3500)
      let count = 3
      for (let round = 0; round < 40 && count === 3; round++) {
        for (let i = 0; i < 500; i++) publisher.send([16, i + 1, {}, "com.example.flood", [payload]])
        publisher.send([16, 9999, { acknowledge: true }, "com.example.flood", []])
        expect((yield* promise(() => publisher.next(5000)))[0]).toBe(17)
        count = (yield* promise(() => bystander.session.call("wamp.session.count"))) as number
      }
      expect(count).toBe(2)
      expect(yield* promise(() => bystander.session.call("wamp.session.count"))).toBe(2)
    }), 60_000)
})
