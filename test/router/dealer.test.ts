/**
 * Dealer conformance: registration errors, progressive results, canceling (skip, kill,
 * killnowait), sessions leaving with calls pending, router-side timeouts, caller identification,
 * pattern-based and shared registrations. Raw clients where exact messages matter, autobahn where
 * it can play the part.
 */
import { describe, expect, it } from "@effect/vitest"
import autobahn from "autobahn"
import * as Effect from "effect/Effect"
import { allowAll, callError, promise, raw, type RawClient, router, session, testConfig } from "./support.js"

const REGISTER = 64, REGISTERED = 65, UNREGISTER = 66, UNREGISTERED = 67, CALL = 48, CANCEL = 49, RESULT = 50
const INVOCATION = 68, INTERRUPT = 69, YIELD = 70, ERROR = 8

/** A raw client joined to realm1. */
const joined = (url: string) =>
  Effect.tap(raw(url), (c) => promise(() => c.hello()))

/** REGISTER and wait for REGISTERED; returns the registration id. */
const register = (c: RawClient, procedure: string, options: Record<string, unknown> = {}, request = 1) =>
  promise(async () => {
    c.send([REGISTER, request, options, procedure])
    const m = await c.next()
    if (m[0] !== REGISTERED) throw new Error(`expected REGISTERED, got ${JSON.stringify(m)}`)
    return m[2] as number
  })

describe("registration", () => {
  it.live("REGISTER answers REGISTERED, UNREGISTER answers UNREGISTERED, then the procedure is gone", () =>
    Effect.gen(function*() {
      const r = yield* router()
      const callee = yield* joined(r.url)
      const caller = yield* joined(r.url)
      const id = yield* register(callee, "com.example.p")
      callee.send([UNREGISTER, 2, id])
      expect(yield* promise(() => callee.next())).toEqual([UNREGISTERED, 2])
      caller.send([CALL, 1, {}, "com.example.p", []])
      const error = yield* promise(() => caller.next())
      expect(error.slice(0, 5)).toEqual([ERROR, CALL, 1, {}, "wamp.error.no_such_procedure"])
    }))

  it.live("UNREGISTER of an unknown registration fails with wamp.error.no_such_registration", () =>
    Effect.gen(function*() {
      const r = yield* router()
      const c = yield* joined(r.url)
      c.send([UNREGISTER, 7, 123456])
      // the spec's error, without a message: exactly five elements
      expect(yield* promise(() => c.next())).toEqual([ERROR, UNREGISTER, 7, {}, "wamp.error.no_such_registration"])
    }))

  it.live("registering an existing procedure fails with wamp.error.procedure_already_exists", () =>
    Effect.gen(function*() {
      const r = yield* router()
      const a = yield* session(r.url)
      const b = yield* session(r.url)
      yield* promise(() => a.session.register("com.example.once", () => 1))
      const error = yield* callError(() => b.session.register("com.example.once", () => 2))
      expect(error.error).toBe("wamp.error.procedure_already_exists")
    }))

  it.live("invalid procedure URIs fail with wamp.error.invalid_uri, for REGISTER and CALL", () =>
    Effect.gen(function*() {
      const r = yield* router()
      const c = yield* joined(r.url)
      c.send([REGISTER, 1, {}, "com..bad"])
      expect((yield* promise(() => c.next())).slice(0, 5)).toEqual([ERROR, REGISTER, 1, {}, "wamp.error.invalid_uri"])
      c.send([REGISTER, 2, {}, "wamp.session.mine"])
      expect((yield* promise(() => c.next())).slice(0, 5)).toEqual([ERROR, REGISTER, 2, {}, "wamp.error.invalid_uri"])
      c.send([CALL, 3, {}, "com.has space"])
      expect((yield* promise(() => c.next())).slice(0, 5)).toEqual([ERROR, CALL, 3, {}, "wamp.error.invalid_uri"])
    }))
})

describe("progressive call results", () => {
  it.live("progress results reach a caller that asked for them, then the final result", () =>
    Effect.gen(function*() {
      const r = yield* router()
      const callee = yield* session(r.url)
      const caller = yield* joined(r.url)
      yield* promise(() =>
        callee.session.register("com.example.count", (args, _kwargs, details) => {
          const n = args[0] as number
          for (let i = 1; i <= n; i++) details.progress!([i])
          return new autobahn.Result(["done"], { n })
        })
      )
      caller.send([CALL, 1, { receive_progress: true }, "com.example.count", [3]])
      const got = yield* promise(() => Promise.all([caller.next(), caller.next(), caller.next(), caller.next()]))
      expect(got).toEqual([
        [RESULT, 1, { progress: true }, [1]],
        [RESULT, 1, { progress: true }, [2]],
        [RESULT, 1, { progress: true }, [3]],
        [RESULT, 1, {}, ["done"], { n: 3 }]
      ])
    }))

  it.live("the callee is told receive_progress only when the caller asked", () =>
    Effect.gen(function*() {
      const r = yield* router()
      const callee = yield* joined(r.url)
      const caller = yield* joined(r.url)
      yield* register(callee, "com.example.p")
      caller.send([CALL, 1, { receive_progress: true }, "com.example.p"])
      const first = yield* promise(() => callee.next())
      expect(first[3]).toEqual({ receive_progress: true })
      caller.send([CALL, 2, {}, "com.example.p"])
      const second = yield* promise(() => callee.next())
      expect(second[3]).toEqual({})
      // progress YIELDs for a caller that did not ask are dropped; the final one arrives
      callee.send([YIELD, second[1], { progress: true }, ["p"]])
      callee.send([YIELD, second[1], {}, ["final"]])
      expect(yield* promise(() => caller.next())).toEqual([RESULT, 2, {}, ["final"]])
    }))
})

describe("call canceling", () => {
  const setup = Effect.gen(function*() {
    const r = yield* router()
    const callee = yield* joined(r.url)
    const caller = yield* joined(r.url)
    yield* register(callee, "com.example.slow")
    caller.send([CALL, 5, {}, "com.example.slow", ["x"]])
    const invocation = yield* promise(() => callee.next())
    expect(invocation[0]).toBe(INVOCATION)
    return { callee, caller, invocationId: invocation[1] as number }
  })

  it.live("skip: the caller gets wamp.error.canceled, the callee no INTERRUPT, its late YIELD is dropped", () =>
    Effect.gen(function*() {
      const { callee, caller, invocationId } = yield* setup
      caller.send([CANCEL, 5, { mode: "skip" }])
      expect((yield* promise(() => caller.next())).slice(0, 5)).toEqual([ERROR, CALL, 5, {}, "wamp.error.canceled"])
      // barriers instead of silence: the caller's next CALL is the callee's next message (no
      // INTERRUPT came before it), and the answer to it is the caller's next (the late YIELD was dropped)
      caller.send([CALL, 6, {}, "com.example.slow", ["y"]])
      const second = yield* promise(() => callee.next(10_000))
      expect([second[0], second[4]]).toEqual([INVOCATION, ["y"]])
      callee.send([YIELD, invocationId, {}, ["late"]])
      callee.send([YIELD, second[1], {}, ["second"]])
      expect(yield* promise(() => caller.next(10_000))).toEqual([RESULT, 6, {}, ["second"]])
      // the callee's session is still fine
      callee.send([REGISTER, 9, {}, "com.example.other"])
      expect((yield* promise(() => callee.next()))[0]).toBe(REGISTERED)
    }))

  it.live("kill: INTERRUPT to the callee, and the caller gets the callee's answer", () =>
    Effect.gen(function*() {
      const { callee, caller, invocationId } = yield* setup
      caller.send([CANCEL, 5, { mode: "kill" }])
      const interrupt = yield* promise(() => callee.next())
      expect(interrupt[0]).toBe(INTERRUPT)
      expect(interrupt[1]).toBe(invocationId)
      expect((interrupt[2] as Record<string, unknown>)["mode"]).toBe("kill")
      // the caller's first message is the callee's own answer (with its args): nothing came before it
      callee.send([ERROR, INVOCATION, invocationId, {}, "wamp.error.canceled", ["stopped at 40%"]])
      expect(yield* promise(() => caller.next())).toEqual([ERROR, CALL, 5, {}, "wamp.error.canceled", ["stopped at 40%"]])
    }))

  it.live("killnowait: INTERRUPT to the callee and wamp.error.canceled to the caller at once", () =>
    Effect.gen(function*() {
      const { callee, caller, invocationId } = yield* setup
      caller.send([CANCEL, 5, { mode: "killnowait" }])
      const interrupt = yield* promise(() => callee.next())
      expect(interrupt.slice(0, 2)).toEqual([INTERRUPT, invocationId])
      expect((interrupt[2] as Record<string, unknown>)["mode"]).toBe("killnowait")
      expect((yield* promise(() => caller.next())).slice(0, 5)).toEqual([ERROR, CALL, 5, {}, "wamp.error.canceled"])
      // the callee's late answer is dropped: the answer to a later call is the caller's next message
      caller.send([CALL, 6, {}, "com.example.slow", ["y"]])
      const second = yield* promise(() => callee.next(10_000))
      callee.send([ERROR, INVOCATION, invocationId, {}, "wamp.error.canceled"])
      callee.send([YIELD, second[1], {}, ["second"]])
      expect(yield* promise(() => caller.next(10_000))).toEqual([RESULT, 6, {}, ["second"]])
    }))

  it.live("autobahn's cancel() reaches the callee as INTERRUPT", () =>
    Effect.gen(function*() {
      const r = yield* router()
      const callee = yield* joined(r.url)
      const caller = yield* session(r.url)
      yield* register(callee, "com.example.slow")
      const pending = caller.session.call("com.example.slow") as Promise<unknown> & { cancel(o?: object): void }
      const outcome = pending.then(() => "resolved", () => "rejected")
      const invocation = yield* promise(() => callee.next())
      pending.cancel({ mode: "killnowait" })
      expect((yield* promise(() => callee.next())).slice(0, 2)).toEqual([INTERRUPT, invocation[1]])
      expect(yield* promise(() => outcome)).toBe("rejected")
    }))

  it.live("a caller that leaves cancels its pending calls at the callee", () =>
    Effect.gen(function*() {
      const { callee, caller, invocationId } = yield* setup
      caller.close()
      const interrupt = yield* promise(() => callee.next())
      expect(interrupt.slice(0, 2)).toEqual([INTERRUPT, invocationId])
    }))

  it.live("a callee that leaves fails its pending invocations with wamp.error.canceled", () =>
    Effect.gen(function*() {
      const { callee, caller } = yield* setup
      callee.close()
      expect((yield* promise(() => caller.next())).slice(0, 5)).toEqual([ERROR, CALL, 5, {}, "wamp.error.canceled"])
    }))
})

describe("answers for unknown invocations", () => {
  it.live("a late YIELD or ERROR for an issued INVOCATION is dropped; one for an id never issued is a protocol violation", () =>
    Effect.gen(function*() {
      const r = yield* router()
      const callee = yield* joined(r.url)
      const caller = yield* joined(r.url)
      yield* register(callee, "com.example.p")
      caller.send([CALL, 1, {}, "com.example.p", []])
      const invocation = yield* promise(() => callee.next())
      const id = invocation[1] as number
      callee.send([YIELD, id, {}, ["once"]])
      expect(yield* promise(() => caller.next())).toEqual([RESULT, 1, {}, ["once"]])
      // late answers to an issued id: dropped, the callee stays (its next REGISTER is answered first)
      callee.send([YIELD, id, {}, ["again"]])
      callee.send([ERROR, INVOCATION, id, {}, "com.example.error"])
      callee.send([REGISTER, 2, {}, "com.example.q"])
      expect((yield* promise(() => callee.next()))[0]).toBe(REGISTERED)
      // the next id the router would issue was never issued: the callee's session is aborted
      callee.send([YIELD, id + 1, {}, ["forged"]])
      const abort = yield* promise(() => callee.next(10_000))
      expect(abort.slice(0, 1)).toEqual([3])
      expect(abort[2]).toBe("wamp.error.protocol_violation")
      expect(String((abort[1] as Record<string, unknown>)["message"])).toContain(`YIELD for unknown INVOCATION request id ${id + 1}`)
    }))

  it.live("an ERROR for an id never issued (none yet, or beyond the last) is a protocol violation too", () =>
    Effect.gen(function*() {
      const r = yield* router()
      for (const id of [1, 2 ** 53]) {
        const callee = yield* joined(r.url)
        callee.send([ERROR, INVOCATION, id, {}, "com.example.error"])
        const abort = yield* promise(() => callee.next(10_000))
        expect([abort[0], abort[2]]).toEqual([3, "wamp.error.protocol_violation"])
        expect(String((abort[1] as Record<string, unknown>)["message"])).toContain(`ERROR for unknown INVOCATION request id ${id}`)
      }
    }))
})

describe("call timeout", () => {
  it.live("a call not answered within options.timeout is canceled at both ends", () =>
    Effect.gen(function*() {
      const r = yield* router()
      const callee = yield* joined(r.url)
      const caller = yield* joined(r.url)
      yield* register(callee, "com.example.slow")
      caller.send([CALL, 1, { timeout: 150 }, "com.example.slow"])
      const invocation = yield* promise(() => callee.next())
      expect((invocation[3] as Record<string, unknown>)["timeout"]).toBe(150)
      const started = Date.now()
      expect((yield* promise(() => caller.next())).slice(0, 5)).toEqual([ERROR, CALL, 1, {}, "wamp.error.canceled"])
      expect(Date.now() - started).toBeGreaterThanOrEqual(100)
      expect((yield* promise(() => callee.next())).slice(0, 2)).toEqual([INTERRUPT, invocation[1]])
    }))

  it.live("a call answered in time is not disturbed by its timeout", () =>
    Effect.gen(function*() {
      const r = yield* router()
      const callee = yield* joined(r.url)
      const caller = yield* joined(r.url)
      yield* register(callee, "com.example.p")
      caller.send([CALL, 1, { timeout: 100 }, "com.example.p"])
      const first = yield* promise(() => callee.next())
      callee.send([YIELD, first[1], {}, ["ok"]])
      expect(yield* promise(() => caller.next())).toEqual([RESULT, 1, {}, ["ok"]])
      // a barrier from the router's own clock: call 2 times out after call 1's timer would have
      // fired, so a stray answer to call 1 (or an INTERRUPT for it) would arrive first
      caller.send([CALL, 2, { timeout: 200 }, "com.example.p"])
      const second = yield* promise(() => callee.next())
      expect((yield* promise(() => caller.next(10_000))).slice(0, 5)).toEqual([ERROR, CALL, 2, {}, "wamp.error.canceled"])
      expect((yield* promise(() => callee.next(10_000))).slice(0, 2)).toEqual([INTERRUPT, second[1]])
    }))
})

describe("caller identification", () => {
  it.live("disclose_me gives the callee the caller's session id, authid and authrole", () =>
    Effect.gen(function*() {
      const r = yield* router()
      const callee = yield* session(r.url)
      const caller = yield* session(r.url)
      yield* promise(() =>
        callee.session.register("com.example.who", (_a, _k, details) => [details.caller ?? null, details.caller_authrole ?? null])
      )
      expect(yield* promise(() => caller.session.call("com.example.who", [], {}, { disclose_me: true }))).toEqual([
        caller.session.id,
        "anonymous"
      ])
      expect(yield* promise(() => caller.session.call("com.example.who"))).toEqual([null, null])
    }))

  it.live("a permission with disclose.caller discloses without disclose_me", () =>
    Effect.gen(function*() {
      const r = yield* router(testConfig({
        realms: [{ name: "realm1", roles: [{ name: "anonymous", permissions: [allowAll("", "prefix", true)] }] }]
      }))
      const callee = yield* joined(r.url)
      const caller = yield* joined(r.url)
      yield* register(callee, "com.example.who")
      caller.send([CALL, 1, {}, "com.example.who"])
      const details = (yield* promise(() => callee.next()))[3] as Record<string, unknown>
      expect(details["caller"]).toBeGreaterThan(0)
      expect(typeof details["caller_authid"]).toBe("string")
      expect(details["caller_authrole"]).toBe("anonymous")
    }))
})

describe("pattern-based registration", () => {
  it.live("exact beats the longest prefix, which beats a wildcard; INVOCATION names the procedure", () =>
    Effect.gen(function*() {
      const r = yield* router()
      const callee = yield* session(r.url)
      const caller = yield* session(r.url)
      const handler = (name: string): autobahn.Endpoint => (_a, _k, details) => [name, details.procedure]
      yield* promise(() => callee.session.register("com.example.a.b", handler("exact")))
      yield* promise(() => callee.session.register("com.example", handler("short prefix"), { match: "prefix" }))
      yield* promise(() => callee.session.register("com.example.a", handler("long prefix"), { match: "prefix" }))
      yield* promise(() => callee.session.register("com..a.b", handler("wildcard"), { match: "wildcard" }))
      const call = (p: string) => promise(() => caller.session.call(p))
      expect(yield* call("com.example.a.b")).toEqual(["exact", "com.example.a.b"])
      expect(yield* call("com.example.a.c")).toEqual(["long prefix", "com.example.a.c"])
      expect(yield* call("com.example.z")).toEqual(["short prefix", "com.example.z"])
      expect(yield* call("com.other.a.b")).toEqual(["wildcard", "com.other.a.b"])
      const error = yield* callError(() => caller.session.call("org.other.a.b.c"))
      expect(error.error).toBe("wamp.error.no_such_procedure")
    }))
})

describe("shared registration", () => {
  const callees = (policy: string) =>
    Effect.gen(function*() {
      const r = yield* router()
      const caller = yield* session(r.url)
      for (const name of ["one", "two", "three"]) {
        const callee = yield* session(r.url)
        yield* promise(() => callee.session.register("com.example.shared", () => name, { invoke: policy }))
      }
      const results: Array<unknown> = []
      for (let i = 0; i < 6; i++) results.push(yield* promise(() => caller.session.call("com.example.shared")))
      return { r, caller, results }
    })

  it.live("roundrobin takes the callees in turn", () =>
    Effect.map(callees("roundrobin"), ({ results }) =>
      expect(results).toEqual(["one", "two", "three", "one", "two", "three"])))

  it.live("first always takes the first callee", () =>
    Effect.map(callees("first"), ({ results }) => expect(new Set(results)).toEqual(new Set(["one"]))))

  it.live("last always takes the last callee", () =>
    Effect.map(callees("last"), ({ results }) => expect(new Set(results)).toEqual(new Set(["three"]))))

  it.live("random only takes registered callees, each of them, in no fixed order", () =>
    Effect.gen(function*() {
      const { caller } = yield* callees("random")
      const picks: Array<unknown> = []
      for (let i = 0; i < 300; i++) picks.push(yield* promise(() => caller.session.call("com.example.shared")))
      const count = (name: string) => picks.filter((x) => x === name).length
      // uniform over 3 callees: 100 expected each, standard deviation about 8; a fixed choice gives
      // 300/0/0, a rotation repeats with period 3 (chance of either from a fair draw: below 1e-50)
      expect(count("one") + count("two") + count("three")).toBe(300)
      for (const name of ["one", "two", "three"]) {
        expect(count(name), name).toBeGreaterThan(50)
        expect(count(name), name).toBeLessThan(150)
      }
      expect(picks.some((x, i) => i + 3 < picks.length && x !== picks[i + 3])).toBe(true)
    }))

  it.live("a different policy for the same URI fails with wamp.error.procedure_already_exists", () =>
    Effect.gen(function*() {
      const r = yield* router()
      const a = yield* session(r.url)
      const b = yield* session(r.url)
      yield* promise(() => a.session.register("com.example.shared", () => 1, { invoke: "roundrobin" }))
      const error = yield* callError(() => b.session.register("com.example.shared", () => 2, { invoke: "random" }))
      expect(error.error).toBe("wamp.error.procedure_already_exists")
      expect(error.args[0]).toBe(`procedure "com.example.shared" is already registered with invocation policy "roundrobin"`)
      // the same callee twice with the same policy: the message names no policy
      const twice = yield* callError(() => a.session.register("com.example.shared", () => 3, { invoke: "roundrobin" }))
      expect(twice.args[0]).toBe(`procedure "com.example.shared" is already registered`)
    }))

  it.live("when a callee leaves, calls go to the remaining ones", () =>
    Effect.gen(function*() {
      const r = yield* router()
      const caller = yield* session(r.url)
      const a = yield* joined(r.url)
      const b = yield* session(r.url)
      yield* register(a, "com.example.shared", { invoke: "first" })
      yield* promise(() => b.session.register("com.example.shared", () => "b", { invoke: "first" }))
      const aLeft = new Promise<void>((resolve) => void caller.session.subscribe("wamp.session.on_leave", () => resolve()))
      yield* promise(() => caller.session.call("wamp.session.count")) // the subscription is in place
      a.close()
      yield* promise(() => aLeft)
      expect(yield* promise(() => caller.session.call("com.example.shared"))).toBe("b")
    }))
})

describe("what the dealer answers, message by message", () => {
  /** A raw caller and a raw callee (announcing call_canceling) of com.example.p. */
  const pair = (options: Record<string, unknown> = {}) =>
    Effect.gen(function*() {
      const r = yield* router()
      const callee = yield* joined(r.url)
      const caller = yield* joined(r.url)
      const registration = yield* register(callee, "com.example.p", options)
      return { r, callee, caller, registration }
    })
  const message = (m: ReadonlyArray<unknown>) => String((m[5] as Array<unknown>)[0])

  it.live("REGISTER errors name the refused policy or URI", () =>
    Effect.gen(function*() {
      const r = yield* router()
      const c = yield* joined(r.url)
      c.send([REGISTER, 1, { match: "fuzzy" }, "com.example.p"])
      const match = yield* promise(() => c.next())
      expect(match.slice(0, 5)).toEqual([ERROR, REGISTER, 1, {}, "wamp.error.invalid_argument"])
      expect(message(match)).toContain("fuzzy")
      c.send([REGISTER, 2, { invoke: "sometimes" }, "com.example.p"])
      const invoke = yield* promise(() => c.next())
      expect(invoke.slice(0, 5)).toEqual([ERROR, REGISTER, 2, {}, "wamp.error.invalid_argument"])
      expect(message(invoke)).toContain("sometimes")
      c.send([REGISTER, 4, {}, "com..bad"])
      expect(message(yield* promise(() => c.next()))).toBe(`invalid procedure URI "com..bad" for match "exact"`)
    }))

  it.live("CALL errors: a timeout above the maximum, no callee, an unknown cancel mode", () =>
    Effect.gen(function*() {
      const r = yield* router()
      const c = yield* joined(r.url)
      c.send([CALL, 1, { timeout: 2_147_483_648 }, "com.example.p"])
      const timeout = yield* promise(() => c.next())
      expect(timeout.slice(0, 5)).toEqual([ERROR, CALL, 1, {}, "wamp.error.invalid_argument"])
      expect(message(timeout)).toBe("call timeout 2147483648 ms is above the maximum of 2147483647 ms")
      c.send([CALL, 2, { timeout: 2_147_483_647 }, "com.example.none"])
      const none = yield* promise(() => c.next())
      expect(none.slice(0, 5)).toEqual([ERROR, CALL, 2, {}, "wamp.error.no_such_procedure"])
      expect(message(none)).toBe(`no callee registered for procedure "com.example.none"`)
      c.send([CALL, 3, {}, "com.has space"])
      expect(message(yield* promise(() => c.next()))).toBe(`invalid procedure URI "com.has space"`)
      c.send([CANCEL, 4, { mode: "gently" }])
      const mode = yield* promise(() => c.next())
      expect(mode.slice(0, 5)).toEqual([ERROR, CANCEL, 4, {}, "wamp.error.invalid_argument"])
      expect(message(mode)).toContain("gently")
    }))

  it.live("an unauthorized REGISTER or CALL names the procedure", () =>
    Effect.gen(function*() {
      const r = yield* router(testConfig({
        realms: [{
          name: "realm1",
          roles: [{
            name: "anonymous",
            permissions: [{ uri: "com.open", match: "prefix", allow: { call: true, register: true, publish: false, subscribe: false }, disclose: { caller: false, publisher: false } }]
          }]
        }]
      }))
      const c = yield* joined(r.url)
      c.send([REGISTER, 1, {}, "org.closed"])
      const reg = yield* promise(() => c.next())
      expect(reg.slice(0, 5)).toEqual([ERROR, REGISTER, 1, {}, "wamp.error.not_authorized"])
      expect(message(reg)).toBe(`session is not authorized to register procedure "org.closed"`)
      c.send([CALL, 2, {}, "org.closed"])
      const call = yield* promise(() => c.next())
      expect(call.slice(0, 5)).toEqual([ERROR, CALL, 2, {}, "wamp.error.not_authorized"])
      expect(message(call)).toBe(`session is not authorized to call procedure "org.closed"`)
    }))

  it.live("INVOCATION, RESULT and ERROR carry exactly the payload given: none, args only, or args and kwargs", () =>
    Effect.gen(function*() {
      const { callee, caller, registration } = yield* pair()
      caller.send([CALL, 1, {}, "com.example.p"])
      caller.send([CALL, 2, {}, "com.example.p", ["a"]])
      caller.send([CALL, 3, {}, "com.example.p", [], { k: 1 }])
      const i1 = yield* promise(() => callee.next())
      const i2 = yield* promise(() => callee.next())
      const i3 = yield* promise(() => callee.next())
      expect(i1).toEqual([INVOCATION, expect.any(Number), registration, {}])
      expect(i2).toEqual([INVOCATION, expect.any(Number), registration, {}, ["a"]])
      expect(i3).toEqual([INVOCATION, expect.any(Number), registration, {}, [], { k: 1 }])
      callee.send([YIELD, i1[1], {}])
      expect(yield* promise(() => caller.next())).toEqual([RESULT, 1, {}])
      callee.send([ERROR, INVOCATION, i2[1], {}, "com.example.failed"])
      expect(yield* promise(() => caller.next())).toEqual([ERROR, CALL, 2, {}, "com.example.failed"])
      callee.send([ERROR, INVOCATION, i3[1], {}, "com.example.failed", ["why"], { k: 2 }])
      expect(yield* promise(() => caller.next())).toEqual([ERROR, CALL, 3, {}, "com.example.failed", ["why"], { k: 2 }])
    }))

  it.live("a CALL reusing the request id of a pending call is a protocol violation", () =>
    Effect.gen(function*() {
      const { callee, caller } = yield* pair()
      caller.send([CALL, 1, {}, "com.example.p"])
      expect((yield* promise(() => callee.next()))[0]).toBe(INVOCATION)
      caller.send([CALL, 1, {}, "com.example.p"])
      const abort = yield* promise(() => caller.next())
      expect(abort).toEqual([3, { message: "CALL request id 1 is already in use" }, "wamp.error.protocol_violation"])
    }))

  it.live("REGISTER with disclose_caller: every INVOCATION names the caller", () =>
    Effect.gen(function*() {
      const r = yield* router()
      const callee = yield* joined(r.url)
      const caller = yield* raw(r.url)
      const welcome = yield* promise(() => caller.hello())
      yield* register(callee, "com.example.who", { disclose_caller: true })
      caller.send([CALL, 1, {}, "com.example.who"])
      expect((yield* promise(() => callee.next()))[3]).toEqual({
        caller: welcome[1],
        caller_authid: (welcome[2] as Record<string, unknown>)["authid"],
        caller_authrole: "anonymous"
      })
    }))

  it.live("a shared registration discloses the caller once any of its callees asked", () =>
    Effect.gen(function*() {
      const r = yield* router()
      const first = yield* joined(r.url)
      const second = yield* joined(r.url)
      const caller = yield* joined(r.url)
      yield* register(first, "com.example.shared", { invoke: "first" })
      yield* register(second, "com.example.shared", { invoke: "first", disclose_caller: true })
      caller.send([CALL, 1, {}, "com.example.shared"])
      expect(Object.keys((yield* promise(() => first.next()))[3] as object).sort()).toEqual(["caller", "caller_authid", "caller_authrole"])
    }))

  it.live("the call timeout: INTERRUPT with reason wamp.error.timeout, the caller's error says it timed out", () =>
    Effect.gen(function*() {
      const { callee, caller } = yield* pair()
      caller.send([CALL, 1, { timeout: 50 }, "com.example.p"])
      const invocation = yield* promise(() => callee.next())
      expect(yield* promise(() => caller.next(10_000))).toEqual([ERROR, CALL, 1, {}, "wamp.error.canceled", ["call timed out"]])
      expect(yield* promise(() => callee.next(10_000))).toEqual([INTERRUPT, invocation[1], { mode: "killnowait", reason: "wamp.error.timeout" }])
    }))

  it.live("a timeout of 0 is no timeout: the INVOCATION carries none and the call waits for its answer", () =>
    Effect.gen(function*() {
      const { callee, caller } = yield* pair()
      caller.send([CALL, 1, { timeout: 0 }, "com.example.p"])
      const invocation = yield* promise(() => callee.next())
      expect(invocation[3]).toEqual({})
      callee.send([YIELD, invocation[1], {}, ["done"]])
      expect(yield* promise(() => caller.next())).toEqual([RESULT, 1, {}, ["done"]])
    }))

  it.live("a callee that leaves fails its pending calls saying so; the caller's own session is unaffected", () =>
    Effect.gen(function*() {
      const { callee, caller } = yield* pair()
      caller.send([CALL, 1, {}, "com.example.p"])
      expect((yield* promise(() => callee.next()))[0]).toBe(INVOCATION)
      callee.close()
      expect(yield* promise(() => caller.next())).toEqual([ERROR, CALL, 1, {}, "wamp.error.canceled", ["the callee left"]])
    }))

  it.live("canceling a call that already completed does nothing", () =>
    Effect.gen(function*() {
      const { callee, caller } = yield* pair()
      caller.send([CALL, 1, {}, "com.example.p"])
      const invocation = yield* promise(() => callee.next())
      callee.send([YIELD, invocation[1], {}, ["done"]])
      expect(yield* promise(() => caller.next())).toEqual([RESULT, 1, {}, ["done"]])
      caller.send([CANCEL, 1, { mode: "killnowait" }])
      caller.send([CALL, 2, {}, "com.example.p"])
      // the callee's next message is the next call (no INTERRUPT), the caller's its answer (no ERROR)
      const second = yield* promise(() => callee.next(10_000))
      expect(second[0]).toBe(INVOCATION)
      callee.send([YIELD, second[1], {}, ["two"]])
      expect(yield* promise(() => caller.next(10_000))).toEqual([RESULT, 2, {}, ["two"]])
    }))

  it.live("kill to a callee that cannot cancel: the caller is answered at once, the callee gets no INTERRUPT", () =>
    Effect.gen(function*() {
      const r = yield* router()
      const callee = yield* raw(r.url)
      yield* promise(() => callee.hello("realm1", { roles: { callee: {} } }))
      yield* register(callee, "com.example.p")
      const caller = yield* joined(r.url)
      caller.send([CALL, 1, {}, "com.example.p"])
      expect((yield* promise(() => callee.next()))[0]).toBe(INVOCATION)
      caller.send([CANCEL, 1, { mode: "kill" }])
      expect(yield* promise(() => caller.next())).toEqual([ERROR, CALL, 1, {}, "wamp.error.canceled", ["call canceled by the caller"]])
      caller.send([CALL, 2, {}, "com.example.p", ["next"]])
      expect((yield* promise(() => callee.next(10_000)))[4]).toEqual(["next"])
    }))
})

describe("calls whose caller no longer waits", () => {
  const skipped = (progress: boolean) =>
    Effect.gen(function*() {
      const r = yield* router()
      const callee = yield* joined(r.url)
      const caller = yield* joined(r.url)
      yield* register(callee, "com.example.p")
      caller.send([CALL, 1, progress ? { receive_progress: true } : {}, "com.example.p"])
      const invocation = yield* promise(() => callee.next())
      caller.send([CANCEL, 1, { mode: "skip" }])
      expect((yield* promise(() => caller.next())).slice(0, 5)).toEqual([ERROR, CALL, 1, {}, "wamp.error.canceled"])
      return { r, callee, caller, id: invocation[1] as number }
    })

  it.live("after skip, the callee's progressive results and late ERROR are dropped and it stays", () =>
    Effect.gen(function*() {
      const { callee, caller, id } = yield* skipped(true)
      callee.send([YIELD, id, { progress: true }, ["p"]])
      callee.send([ERROR, INVOCATION, id, {}, "com.example.failed"])
      callee.send([REGISTER, 2, {}, "com.example.q"])
      expect((yield* promise(() => callee.next()))[0]).toBe(REGISTERED)
      caller.send([CALL, 2, {}, "com.example.q"])
      expect((yield* promise(() => callee.next(10_000)))[0]).toBe(INVOCATION)
    }))

  it.live("after skip, a callee that leaves takes its registrations with it", () =>
    Effect.gen(function*() {
      const { callee, caller } = yield* skipped(false)
      callee.close()
      yield* promise(() => callee.closed)
      // once the router has seen the close, the procedure is gone
      for (let request = 2; request < 100; request++) {
        caller.send([CALL, request, {}, "com.example.p"])
        const answer = yield* promise(() => caller.next(10_000))
        if (answer[4] === "wamp.error.no_such_procedure") return
        expect(answer[4]).toBe("wamp.error.canceled")
      }
      expect.fail("the procedure stayed registered")
    }))
})

describe("callees that did not announce call_canceling get no INTERRUPT", () => {
  const plainCallee = Effect.gen(function*() {
    const r = yield* router()
    const callee = yield* raw(r.url)
    yield* promise(() => callee.hello("realm1", { roles: { callee: {} } }))
    yield* register(callee, "com.example.p")
    const caller = yield* joined(r.url)
    return { r, callee, caller }
  })

  it.live("on a call timeout", () =>
    Effect.gen(function*() {
      const { callee, caller } = yield* plainCallee
      caller.send([CALL, 1, { timeout: 50 }, "com.example.p"])
      expect((yield* promise(() => callee.next()))[0]).toBe(INVOCATION)
      expect((yield* promise(() => caller.next(10_000))).slice(0, 5)).toEqual([ERROR, CALL, 1, {}, "wamp.error.canceled"])
      caller.send([CALL, 2, {}, "com.example.p", ["next"]])
      expect((yield* promise(() => callee.next(10_000)))[4]).toEqual(["next"])
    }))

  it.live("when the caller leaves", () =>
    Effect.gen(function*() {
      const { r, callee, caller } = yield* plainCallee
      caller.send([CALL, 1, {}, "com.example.p"])
      expect((yield* promise(() => callee.next()))[0]).toBe(INVOCATION)
      caller.close()
      const next = yield* joined(r.url)
      // the barrier may reach the callee before the router saw the first caller leave: either way,
      // the callee's next message is an INVOCATION
      next.send([CALL, 1, {}, "com.example.p", ["next"]])
      expect((yield* promise(() => callee.next(10_000)))[4]).toEqual(["next"])
    }))
})

describe("registering with the meta API off", () => {
  it.live("REGISTER, a shared registration's second callee and UNREGISTER work without meta events", () =>
    Effect.gen(function*() {
      const r = yield* router(testConfig({ realms: [{ name: "realm1", roles: [{ name: "anonymous", permissions: [allowAll()] }], options: { enableMetaApi: false } }] }))
      const a = yield* joined(r.url)
      const b = yield* joined(r.url)
      const id = yield* register(a, "com.example.shared", { invoke: "roundrobin" })
      expect(yield* register(b, "com.example.shared", { invoke: "roundrobin" })).toBe(id)
      b.send([UNREGISTER, 2, id])
      expect(yield* promise(() => b.next())).toEqual([UNREGISTERED, 2])
    }))

  it.live("a trailing dot is no procedure URI to call", () =>
    Effect.gen(function*() {
      const r = yield* router()
      const c = yield* joined(r.url)
      c.send([CALL, 1, {}, "com.example."])
      expect((yield* promise(() => c.next())).slice(0, 5)).toEqual([ERROR, CALL, 1, {}, "wamp.error.invalid_uri"])
    }))
})

describe("joining a shared registration", () => {
  it.live("a callee without disclose_caller does not turn disclosure on", () =>
    Effect.gen(function*() {
      const r = yield* router()
      const first = yield* joined(r.url)
      const second = yield* joined(r.url)
      const caller = yield* joined(r.url)
      yield* register(first, "com.example.shared", { invoke: "first" })
      yield* register(second, "com.example.shared", { invoke: "first", disclose_caller: false })
      caller.send([CALL, 1, {}, "com.example.shared"])
      expect((yield* promise(() => first.next()))[3]).toEqual({})
    }))

  it.live("counts toward max_registrations_per_session", () =>
    Effect.gen(function*() {
      const r = yield* router(testConfig({ realms: [{ name: "realm1", roles: [{ name: "anonymous", permissions: [allowAll()] }], options: { maxRegistrationsPerSession: 1 } }] }))
      const owner = yield* joined(r.url)
      const full = yield* joined(r.url)
      yield* register(owner, "com.example.shared", { invoke: "roundrobin" })
      yield* register(full, "com.example.own")
      full.send([REGISTER, 2, { invoke: "roundrobin" }, "com.example.shared"])
      expect((yield* promise(() => full.next())).slice(0, 5)).toEqual([ERROR, REGISTER, 2, {}, "wampgres.error.limit_exceeded"])
    }))
})
