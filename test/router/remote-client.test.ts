/**
 * The typed client (`Remote`) over autobahn-js against the embedded router, with a raw WebSocket
 * callee and publisher: what leaves on the wire (kwargs, options, receive_progress, CANCEL) and what
 * the caller gets back (decoded results, progressive results and events; declared errors as their
 * classes, others as `WampError`; a result or input off the contract as a precise error).
 */
import { describe, expect, it } from "@effect/vitest"
import autobahn from "autobahn"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Schema from "effect/Schema"
import * as Stream from "effect/Stream"
import { WampError } from "../../src/layers/wamp/Protocol.js"
import * as Contract from "../../src/procedures/Contract.js"
import * as Remote from "../../src/procedures/Remote.js"
import { promise, raw, type RawClient, router } from "./support.js"

const ERROR = 8, PUBLISH = 16, PUBLISHED = 17, CALL = 48, REGISTER = 64, REGISTERED = 65, INVOCATION = 68, INTERRUPT = 69, YIELD = 70

class TooLarge extends Schema.TaggedError<TooLarge>()("TooLarge", { limit: Schema.Int, message: Schema.String }) {
  static readonly uri = "com.example.remote.error.too_large"
}
const double = Contract.make("com.example.remote.double", {
  args: { n: Schema.NumberFromString },
  result: Schema.NumberFromString,
  errors: [TooLarge]
})
const count = Contract.streaming("com.example.remote.count", {
  args: { to: Schema.Int },
  result: Schema.Int,
  progress: Schema.NumberFromString,
  errors: [TooLarge]
})
class Negative extends Schema.TaggedError<Negative>()("Negative", { n: Schema.Int, message: Schema.String }) {
  static readonly uri = "com.example.remote.error.negative"
}
const half = Contract.make("com.example.remote.half", {
  args: { n: Schema.Int },
  result: Schema.Int,
  errors: [TooLarge, Negative]
})
const ticks = Contract.topic("com.example.remote.tick", { payload: Schema.Struct({ n: Schema.Int }) })

/** The INTERRUPT a callee gets for a call its caller canceled with mode kill. */
const KILLED = { mode: "kill", reason: "wamp.error.canceled" }

const autobahnModule = autobahn as unknown as Remote.AutobahnModule

/** The router, a typed client on it and a raw callee registered for `procedures`. */
const setup = (procedures: ReadonlyArray<string>, callOptions?: Remote.CallOptions) =>
  Effect.gen(function*() {
    const r = yield* router()
    const callee = yield* raw(r.url)
    yield* promise(() => callee.hello())
    for (const [i, procedure] of procedures.entries()) {
      callee.send([REGISTER, i + 1, {}, procedure])
      expect((yield* promise(() => callee.next()))[0]).toBe(REGISTERED)
    }
    const client = yield* Remote.connect(autobahnModule, { url: r.url, realm: "realm1", ...(callOptions ? { callOptions } : {}) })
    return { r, callee, client }
  })

/** The callee's next INVOCATION: [request id, details, args, kwargs]. */
const invocation = (callee: RawClient) =>
  promise(async () => {
    const m = await callee.next(10_000)
    expect(m[0]).toBe(INVOCATION)
    return { id: m[1] as number, details: m[3] as Record<string, unknown>, args: m[4], kwargs: m[5] as Record<string, unknown> }
  })

describe("Remote.call", () => {
  it.live("sends the input encoded as kwargs with every call's options; decodes the result", () =>
    Effect.gen(function*() {
      let asked = 0
      const { callee, client } = yield* setup([double.uri], () => ({ _trace: `t${++asked}`, timeout: 5000 }))
      const result = yield* Effect.forkChild(client.call(double, { n: 21 }, { timeout: 9000 }))
      const first = yield* invocation(callee)
      expect([first.args, first.kwargs]).toEqual([[], { n: "21" }])
      expect(first.details["timeout"]).toBe(9000)
      callee.send([YIELD, first.id, {}, ["42"]])
      expect(yield* Fiber.join(result)).toBe(42)
      // a result with kwargs (autobahn.Result): args[0] is the result
      const second = yield* Effect.forkChild(client.call(double, { n: 1 }))
      const next = yield* invocation(callee)
      expect(next.details["timeout"]).toBe(5000)
      callee.send([YIELD, next.id, {}, ["2"], { note: "kwargs too" }])
      expect(yield* Fiber.join(second)).toBe(2)
      expect(asked).toBe(2)
    }))

  it.live("a declared error URI becomes its class, any other error a WampError; a result off the contract is invalid_result", () =>
    Effect.gen(function*() {
      const { callee, client } = yield* setup([double.uri])
      const typed = yield* Effect.forkChild(Effect.flip(client.call(double, { n: 1000 })))
      callee.send([ERROR, INVOCATION, (yield* invocation(callee)).id, {}, TooLarge.uri, ["too large"], { limit: 100 }])
      const error = yield* Fiber.join(typed)
      expect(error).toBeInstanceOf(TooLarge)
      expect([(error as TooLarge).limit, (error as TooLarge).message]).toEqual([100, "too large"])

      const other = yield* Effect.forkChild(Effect.flip(client.call(double, { n: 1 })))
      callee.send([ERROR, INVOCATION, (yield* invocation(callee)).id, {}, "com.example.remote.error.other", ["no"], { x: 1 }])
      const wamp = (yield* Fiber.join(other)) as WampError
      expect(wamp).toBeInstanceOf(WampError)
      expect([wamp.error, wamp.args, wamp.kwargs, wamp.message]).toEqual(["com.example.remote.error.other", ["no"], { x: 1 }, "no"])

      const off = yield* Effect.forkChild(Effect.flip(client.call(double, { n: 1 })))
      callee.send([YIELD, (yield* invocation(callee)).id, {}, [2]])
      const invalid = (yield* Fiber.join(off)) as WampError
      expect(invalid.error).toBe("wampgres.error.invalid_result")
      expect(invalid.message).toMatch(/^com\.example\.remote\.double result: /)

      const bad = (yield* Effect.flip(client.call(double, { n: "x" } as never))) as WampError
      expect(bad.error).toBe("wamp.error.invalid_argument")
      expect(bad.message).toMatch(/^com\.example\.remote\.double: /)

      const missing = (yield* Effect.flip(client.call(Contract.make("com.example.remote.none", { result: Schema.Int }), {}))) as WampError
      expect(missing.error).toBe("wamp.error.no_such_procedure")
    }))

  it.live("each declared error URI becomes its own class, not the first declared one", () =>
    Effect.gen(function*() {
      const { callee, client } = yield* setup([half.uri])
      const second = yield* Effect.forkChild(Effect.flip(client.call(half, { n: -1 })))
      callee.send([ERROR, INVOCATION, (yield* invocation(callee)).id, {}, Negative.uri, ["below zero"], { n: -1 }])
      const error = yield* Fiber.join(second)
      expect(error).toBeInstanceOf(Negative)
      expect([(error as Negative).n, (error as Negative).message]).toEqual([-1, "below zero"])
    }))

  it.live("interrupting a call sends CANCEL (mode kill): the callee gets INTERRUPT", () =>
    Effect.gen(function*() {
      const { callee, client } = yield* setup([double.uri])
      const fiber = yield* Effect.forkChild(client.call(double, { n: 1 }))
      const { id } = yield* invocation(callee)
      yield* Fiber.interrupt(fiber)
      expect(yield* promise(() => callee.next(10_000))).toEqual([INTERRUPT, id, KILLED])
    }))
})

describe("Remote.stream and iterate", () => {
  it.live("asks for progressive results and yields them decoded, in order, ending with the final result", () =>
    Effect.gen(function*() {
      const { callee, client } = yield* setup([count.uri])
      const fiber = yield* Effect.forkChild(Stream.runCollect(client.stream(count, { to: 3 }, { timeout: 7000 })))
      const { id, details, kwargs } = yield* invocation(callee)
      expect(details["receive_progress"]).toBe(true)
      expect(details["timeout"]).toBe(7000)
      expect(kwargs).toEqual({ to: 3 })
      for (const n of ["1", "2", "3"]) callee.send([YIELD, id, { progress: true }, [n]])
      callee.send([YIELD, id, {}, [3]])
      expect(yield* Fiber.join(fiber)).toEqual([1, 2, 3])
    }))

  it.live("a progressive result off the contract fails the stream with invalid_result; a declared error becomes its class", () =>
    Effect.gen(function*() {
      const { callee, client } = yield* setup([count.uri])
      const off = yield* Effect.forkChild(Effect.flip(Stream.runCollect(client.stream(count, { to: 1 }))))
      const first = yield* invocation(callee)
      callee.send([YIELD, first.id, { progress: true }, [1]])
      const invalid = (yield* Fiber.join(off)) as WampError
      expect(invalid.error).toBe("wampgres.error.invalid_result")
      expect(invalid.message).toMatch(/^com\.example\.remote\.count progressive result: /)

      // the failed stream canceled its call
      expect(yield* promise(() => callee.next(10_000))).toEqual([INTERRUPT, first.id, KILLED])

      const typed = yield* Effect.forkChild(Effect.flip(Stream.runCollect(client.stream(count, { to: 1 }))))
      const next = yield* invocation(callee)
      callee.send([ERROR, INVOCATION, next.id, {}, TooLarge.uri, ["too many"], { limit: 10 }])
      expect(yield* Fiber.join(typed)).toBeInstanceOf(TooLarge)
    }))

  it.live("leaving a stream or an async iteration early sends CANCEL (mode kill)", () =>
    Effect.gen(function*() {
      const { callee, client } = yield* setup([count.uri])
      const taken = yield* Effect.forkChild(Stream.runCollect(Stream.take(client.stream(count, { to: 10 }), 1)))
      const first = yield* invocation(callee)
      callee.send([YIELD, first.id, { progress: true }, ["1"]])
      expect(yield* Fiber.join(taken)).toEqual([1])
      expect(yield* promise(() => callee.next(10_000))).toEqual([INTERRUPT, first.id, KILLED])

      const seen: Array<number> = []
      const loop = (async () => {
        for await (const n of client.iterate(count, { to: 10 })) {
          seen.push(n)
          break
        }
      })()
      const second = yield* invocation(callee)
      callee.send([YIELD, second.id, { progress: true }, ["5"]])
      yield* promise(() => loop)
      expect(seen).toEqual([5])
      expect(yield* promise(() => callee.next(10_000))).toEqual([INTERRUPT, second.id, KILLED])
    }))
})

describe("Remote.subscribe", () => {
  it.live("yields the topic's events decoded, skips those off its Schema, and unsubscribes when the stream ends", () =>
    Effect.gen(function*() {
      const { r, client } = yield* setup([])
      const publisher = yield* raw(r.url)
      yield* promise(() => publisher.hello())
      const events = yield* Effect.forkChild(Stream.runCollect(Stream.take(client.subscribe(ticks), 2)))
      // published (acknowledged) until the subscription is in place: the first event marks it
      const lookup = () => {
        publisher.send([CALL, 900, {}, "wamp.subscription.lookup", [ticks.uri]])
        return promise(() => publisher.next()).pipe(Effect.map((m) => m[3] as Array<unknown>))
      }
      let subscribed: Array<unknown> = [null]
      while (subscribed[0] === null) subscribed = yield* lookup()
      for (const payload of [{ n: 1 }, { n: "two" }, { n: 3 }]) {
        publisher.send([PUBLISH, 1, { acknowledge: true }, ticks.uri, [payload]])
        expect((yield* promise(() => publisher.next()))[0]).toBe(PUBLISHED)
      }
      expect(yield* Fiber.join(events)).toEqual([{ n: 1 }, { n: 3 }])
      let after: Array<unknown> = subscribed
      while (after[0] !== null) after = yield* lookup()
      expect(after).toEqual([null])
    }))
})

describe("Remote.connect", () => {
  it.live("fails with not_connected naming the realm and URL when it cannot join", () =>
    Effect.gen(function*() {
      const r = yield* router()
      const error = yield* Effect.flip(Effect.scoped(Remote.connect(autobahnModule, { url: r.url, realm: "nowhere" })))
      expect(error.error).toBe("wampgres.error.not_connected")
      expect(error.message).toMatch(new RegExp(`^cannot join nowhere at ${r.url}: `))
      // the router's own words for the refusal, not autobahn's close reason
      expect(error.message).toMatch(/no realm|nowhere/)
      expect(error.message).not.toMatch(/: (closed|lost|unreachable)$/)
    }))

  it.live("after its scope closed, a call fails at once (session not open) instead of waiting forever for an answer", () =>
    Effect.gen(function*() {
      const { r, callee } = yield* setup([double.uri])
      const client = yield* Effect.scoped(Effect.gen(function*() {
        const inner = yield* Remote.connect(autobahnModule, { url: r.url, realm: "realm1" })
        const answered = yield* Effect.forkChild(inner.call(double, { n: 2 }))
        callee.send([YIELD, (yield* invocation(callee)).id, {}, ["4"]])
        expect(yield* Fiber.join(answered)).toBe(4)
        return inner
      }))
      // at once, not after a timeout: autobahn would send it and never settle it
      const after = yield* Effect.flip(client.call(double, { n: 3 })).pipe(Effect.timeout("2 seconds"))
      expect(after).toBeInstanceOf(WampError)
      expect([(after as WampError).error, (after as WampError).message]).toEqual(["wampgres.error.session", "session not open"])
    }))
})

describe("Remote.toWampError", () => {
  it("reads autobahn's errors, its cancel and anything else thrown", () => {
    const known = new WampError({ error: "a.b", args: [], kwargs: {}, message: "m" })
    expect(Remote.toWampError(known)).toBe(known)
    const fromAutobahn = Remote.toWampError(new autobahn.Error("com.example.e", ["text"], { k: 1 }))
    expect([fromAutobahn.error, fromAutobahn.args, fromAutobahn.kwargs, fromAutobahn.message]).toEqual(["com.example.e", ["text"], { k: 1 }, "text"])
    const bare = Remote.toWampError({ error: "com.example.e", args: "no", kwargs: 3 })
    expect([bare.args, bare.kwargs, bare.message]).toEqual([[], {}, "com.example.e"])
    expect(Remote.toWampError({ error: "com.example.e", args: [7] }).message).toBe("com.example.e")
    const canceled = Remote.toWampError(new Error("Cancelled"))
    expect([canceled.error, canceled.message]).toEqual(["wamp.error.canceled", "call canceled by the caller"])
    const thrown = Remote.toWampError(new Error("session not open"))
    expect([thrown.error, thrown.message]).toEqual(["wampgres.error.session", "session not open"])
    expect(Remote.toWampError("plain").message).toBe("plain")
    expect(Remote.toWampError({ error: 5 }).error).toBe("wampgres.error.session")
  })
})
