/**
 * Hostile values where the spec names a type: one example per message type whose handler used to
 * throw on them (objects whose "toString" is data, lists where strings belong, odd numbers). A
 * value of the wrong type in a message, its options or details is a protocol violation of that
 * session; a well-typed value the router does not offer, and a meta procedure's bad argument, is
 * an ERROR wamp.error.invalid_argument. Either way every other session keeps working.
 */
import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import { promise, raw, type RawClient, router, session } from "./support.js"

const ABORT = 3, ERROR = 8, CALL = 48, RESULT = 50, YIELD = 70, INVOCATION = 68

/** Data that breaks String(): its toString is not a function, its valueOf returns an object. */
const trap = (): Record<string, unknown> => ({ toString: 1, valueOf: {} })

interface Case {
  readonly name: string
  /** Sent after HELLO, a registration of com.hostile.own and a CALL (request 100) pending as INVOCATION 1. */
  readonly send: ReadonlyArray<Array<unknown>>
}

const violations: ReadonlyArray<Case> = [
  { name: "REGISTER with an object as match", send: [[64, 2, { match: trap() }, "com.hostile.p"]] },
  { name: "REGISTER with an object as invoke", send: [[64, 2, { invoke: trap() }, "com.hostile.p"]] },
  { name: "SUBSCRIBE with an object as match", send: [[32, 2, { match: trap() }, "com.hostile.t"]] },
  { name: "PUBLISH with objects in exclude", send: [[16, 2, { exclude: [trap()] }, "com.hostile.t"]] },
  { name: "PUBLISH with a string as eligible", send: [[16, 2, { eligible: "everyone" }, "com.hostile.t"]] },
  { name: "PUBLISH with numbers in exclude_authid", send: [[16, 2, { exclude_authid: [1, 2] }, "com.hostile.t"]] },
  { name: "PUBLISH with an object as acknowledge", send: [[16, 2, { acknowledge: trap() }, "com.hostile.t"]] },
  { name: "PUBLISH with a number as exclude_me", send: [[16, 2, { exclude_me: 0 }, "com.hostile.t"]] },
  { name: "PUBLISH with a string as disclose_me", send: [[16, 2, { disclose_me: "yes" }, "com.hostile.t"]] },
  { name: "CALL with an object as timeout", send: [[CALL, 2, { timeout: trap() }, "com.hostile.own"]] },
  { name: "CALL with a negative timeout", send: [[CALL, 2, { timeout: -1 }, "com.hostile.own"]] },
  { name: "CALL with a fractional timeout", send: [[CALL, 2, { timeout: 0.5 }, "com.hostile.own"]] },
  { name: "CALL with a string as receive_progress", send: [[CALL, 2, { receive_progress: "true" }, "com.hostile.own"]] },
  { name: "CALL with an object as disclose_me", send: [[CALL, 2, { disclose_me: trap() }, "com.hostile.own"]] },
  { name: "CALL with request id 0 (ids are 1..2^53)", send: [[CALL, 0, {}, "com.hostile.own"]] },
  { name: "CANCEL with an object as mode", send: [[49, 100, { mode: trap() }]] },
  { name: "YIELD with a string as progress", send: [[YIELD, 1, { progress: "true" }, [1]]] },
  { name: "ERROR whose details are a list", send: [[ERROR, INVOCATION, 1, [trap()], "com.hostile.error"]] },
  { name: "ERROR whose error is not a URI", send: [[ERROR, INVOCATION, 1, {}, "com.hostile error"]] },
  { name: "ABORT followed by another message", send: [[ABORT, {}, "wamp.close.normal"], [CALL, 2, {}, "com.hostile.own"]] }
]

/** A raw session that registered com.hostile.own and called it (request 100 pending as INVOCATION 1). */
const offender = (url: string) =>
  Effect.gen(function*() {
    const c = yield* raw(url)
    yield* promise(() => c.hello())
    c.send([64, 1, {}, "com.hostile.own"])
    expect((yield* promise(() => c.next()))[0]).toBe(65)
    c.send([CALL, 100, {}, "com.hostile.own", [1]])
    expect((yield* promise(() => c.next()))[0]).toBe(INVOCATION)
    return c
  })

/** Two well-behaved sessions: `check` asserts a call and an event between them still complete. */
const bystanders = (url: string) =>
  Effect.gen(function*() {
    const callee = yield* session(url)
    yield* promise(() => callee.session.register("com.hostile.kept", () => "still here"))
    let onEvent: (n: unknown) => void = () => {}
    yield* promise(() => callee.session.subscribe("com.hostile.check", (args?: Array<unknown>) => onEvent(args?.[0])))
    const caller = yield* session(url)
    return {
      check: () =>
        promise(async () => {
          expect(await caller.session.call("com.hostile.kept")).toBe("still here")
          const event = new Promise<unknown>((resolve) => (onEvent = resolve))
          await caller.session.publish("com.hostile.check", [7], {}, { acknowledge: true })
          expect(await event).toBe(7)
        })
    }
  })

describe("a value of the wrong type is a protocol violation of that session only", () => {
  it.live.each(violations)("$name", (v) =>
    Effect.gen(function*() {
      const r = yield* router()
      const bystander = yield* bystanders(r.url)
      const c = yield* offender(r.url)
      for (const m of v.send) c.send(m)
      const closed = c.closed
      if (v.send[0]![0] !== ABORT) {
        const abort = yield* promise(() => c.next())
        expect(abort[0]).toBe(ABORT)
        expect(abort[2]).toBe("wamp.error.protocol_violation")
        expect(typeof (abort[1] as { message: unknown }).message).toBe("string")
      }
      yield* promise(() => closed)
      yield* bystander.check()
    }))
})

describe("HELLO details", () => {
  it.live.each([
    { name: "authmethods holding an object", details: { authmethods: [trap()] } },
    { name: "authmethods as a string", details: { authmethods: "anonymous" } },
    { name: "authid as an object", details: { authid: trap() } },
    { name: "authrole as a list", details: { authrole: ["admin"] } },
    { name: "a role that is not a dictionary", details: { roles: { callee: "yes" } } },
    { name: "features that are not a dictionary", details: { roles: { caller: { features: [trap()] } } } },
    { name: "authextra as a string", details: { authextra: "x" } }
  ])("with $name: ABORT protocol_violation, other sessions unharmed", ({ details }) =>
    Effect.gen(function*() {
      const r = yield* router()
      const bystander = yield* bystanders(r.url)
      const c = yield* raw(r.url)
      const abort = yield* promise(() => c.hello("realm1", details))
      expect(abort[0]).toBe(ABORT)
      expect(abort[2]).toBe("wamp.error.protocol_violation")
      yield* bystander.check()
    }))

  it.live("many unknown authmethods: ABORT no_auth_method with a bounded message", () =>
    Effect.gen(function*() {
      const r = yield* router()
      const c = yield* raw(r.url)
      const abort = yield* promise(() => c.hello("realm1", { authmethods: Array.from({ length: 1000 }, () => "x".repeat(1000)) }))
      expect(abort[2]).toBe("wamp.error.no_auth_method")
      expect(((abort[1] as { message: string }).message).length).toBeLessThan(2000)
    }))
})

/** A CALL's ERROR: [uri, first arg]. */
const callFails = (c: RawClient, request: number, procedure: string, args: Array<unknown>, options: Record<string, unknown> = {}) =>
  promise(async () => {
    c.send([CALL, request, options, procedure, args])
    const m = await c.next()
    if (m[0] !== ERROR) throw new Error(`expected ERROR, got ${JSON.stringify(m)}`)
    expect(m.slice(0, 3)).toEqual([ERROR, CALL, request])
    return [m[4], (m[5] as Array<unknown> | undefined)?.[0]] as const
  })

describe("well-typed values the router does not offer, and bad meta arguments: ERROR invalid_argument", () => {
  it.live("a call timeout beyond the longest timer", () =>
    Effect.gen(function*() {
      const r = yield* router()
      const c = yield* offender(r.url)
      const [uri, message] = yield* callFails(c, 2, "com.hostile.own", [], { timeout: 2 ** 31 })
      expect(uri).toBe("wamp.error.invalid_argument")
      expect(message).toContain("2147483647")
      // the session goes on
      c.send([CALL, 3, {}, "wamp.session.count", []])
      expect(yield* promise(() => c.next())).toEqual([RESULT, 3, {}, [1]])
    }))

  it.live.each([
    { procedure: "wamp.session.get", args: [trap()] },
    { procedure: "wamp.session.get", args: ["1"] },
    { procedure: "wamp.session.count", args: [trap()] },
    { procedure: "wamp.session.list", args: [["anonymous", trap()]] },
    { procedure: "wamp.registration.get", args: [trap()] },
    { procedure: "wamp.registration.list_callees", args: [[1]] },
    { procedure: "wamp.registration.count_callees", args: [-1] },
    { procedure: "wamp.registration.lookup", args: [trap()] },
    { procedure: "wamp.registration.lookup", args: ["com.hostile.own", { match: trap() }] },
    { procedure: "wamp.registration.lookup", args: ["com.hostile.own", "exact"] },
    { procedure: "wamp.registration.match", args: [[]] },
    { procedure: "wamp.subscription.get", args: [1.5] },
    { procedure: "wamp.subscription.list_subscribers", args: [trap()] },
    { procedure: "wamp.subscription.count_subscribers", args: [null] },
    { procedure: "wamp.subscription.lookup", args: ["com.hostile.t", { match: "everything" }] },
    { procedure: "wamp.subscription.match", args: [trap()] }
  ])("$procedure with $args", ({ procedure, args }) =>
    Effect.gen(function*() {
      const r = yield* router()
      const c = yield* offender(r.url)
      const [uri, message] = yield* callFails(c, 2, procedure, args)
      expect(uri).toBe("wamp.error.invalid_argument")
      expect(typeof message).toBe("string")
      c.send([CALL, 3, {}, "wamp.session.count", []])
      expect(yield* promise(() => c.next())).toEqual([RESULT, 3, {}, [1]])
    }))

  it.live("an unknown session, registration or subscription id of the right type keeps the spec's no_such_* error", () =>
    Effect.gen(function*() {
      const r = yield* router()
      const c = yield* offender(r.url)
      expect((yield* callFails(c, 2, "wamp.session.get", [12345]))[0]).toBe("wamp.error.no_such_session")
      expect((yield* callFails(c, 3, "wamp.registration.get", [12345]))[0]).toBe("wamp.error.no_such_registration")
      expect((yield* callFails(c, 4, "wamp.subscription.get", [12345]))[0]).toBe("wamp.error.no_such_subscription")
    }))
})

describe("data that looks like Object.prototype's keys is plain data", () => {
  it.live("options and payloads with toString, constructor and __proto__ keys route normally", () =>
    Effect.gen(function*() {
      const r = yield* router()
      const callee = yield* raw(r.url)
      yield* promise(() => callee.hello())
      callee.send([64, 1, JSON.parse("{\"__proto__\": {\"match\": \"prefix\"}, \"toString\": 1}"), "com.hostile.p"])
      const registered = yield* promise(() => callee.next())
      expect(registered[0]).toBe(65)
      const caller = yield* raw(r.url)
      yield* promise(() => caller.hello())
      const kwargs = JSON.parse("{\"__proto__\": {\"x\": 1}, \"constructor\": 2, \"toString\": 3}")
      // "com.hostile.p.x" would match only if the inherited-looking match "prefix" had been read
      caller.send([CALL, 1, { constructor: 1, valueOf: 2 }, "com.hostile.p.x", [], kwargs])
      expect((yield* promise(() => caller.next())).slice(0, 5)).toEqual([ERROR, CALL, 1, {}, "wamp.error.no_such_procedure"])
      caller.send([CALL, 2, { constructor: 1, valueOf: 2 }, "com.hostile.p", [], kwargs])
      const invocation = yield* promise(() => callee.next())
      expect(invocation[0]).toBe(INVOCATION)
      expect(invocation[5]).toEqual(kwargs)
      callee.send([YIELD, invocation[1], {}, [], kwargs])
      expect(yield* promise(() => caller.next())).toEqual([RESULT, 2, {}, [], kwargs])
    }))
})
