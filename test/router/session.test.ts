/**
 * Session lifecycle: the Router layer, HELLO/WELCOME, ABORT for unknown realms and auth methods,
 * the GOODBYE handshake in both directions, and shutdown closing every connection.
 */
import { describe, expect, it, layer } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import { Router, startRouter } from "../../src/router/index.js"
import { openAutobahn, promise, raw, RawClient, router, session, testConfig } from "./support.js"

describe("Router layer", () => {
  layer(Router.layer(testConfig()), { excludeTestServices: true })((it) => {
    it.effect("listens on an ephemeral port and serves WAMP at its url", () =>
      Effect.gen(function*() {
        const r = yield* Router
        expect(r.listening).toHaveLength(1)
        expect(r.listening[0]!.port).toBeGreaterThan(0)
        expect(r.url).toBe(`ws://127.0.0.1:${r.listening[0]!.port}/`)
        const { session: s } = yield* session(r.url)
        expect(s.isOpen).toBe(true)
      }))
  })

  it.live("fails with RouterError when the port is taken", () =>
    Effect.gen(function*() {
      const first = yield* router()
      const port = first.listening[0]!.port
      const config = testConfig()
      const taken = { ...config, transports: [{ ...config.transports[0]!, endpoint: { port, interface: "127.0.0.1" } }] }
      const error = yield* Effect.flip(Layer.build(Router.layer(taken)))
      expect(error._tag).toBe("RouterError")
      expect(error.message).toContain("EADDRINUSE")
    }))
})

describe("handshake", () => {
  it.live("HELLO for an unknown realm gets ABORT wamp.error.no_such_realm", () =>
    Effect.gen(function*() {
      const r = yield* router()
      const c = yield* raw(r.url)
      const abort = yield* promise(() => c.hello("nowhere"))
      expect(abort[0]).toBe(3)
      expect(abort[2]).toBe("wamp.error.no_such_realm")
      expect((abort[1] as { message: string }).message).toContain("nowhere")
      yield* promise(() => c.closed)
    }))

  it.live("autobahn sees the abort reason for an unknown realm", () =>
    Effect.gen(function*() {
      const r = yield* router()
      const error = yield* Effect.flip(promise(() => openAutobahn(r.url, { realm: "nowhere" })))
      expect(error.message).toContain("wamp.error.no_such_realm")
    }))

  it.live("HELLO asking only for an auth method the transport lacks gets ABORT wamp.error.no_auth_method", () =>
    Effect.gen(function*() {
      const r = yield* router()
      const c = yield* raw(r.url)
      const abort = yield* promise(() => c.hello("realm1", { authmethods: ["ticket"], authid: "joe" }))
      expect(abort.slice(0, 1).concat(abort.slice(2))).toEqual([3, "wamp.error.no_auth_method"])
    }))

  it.live("HELLO whose auth role is not on the realm gets ABORT wamp.error.no_such_role", () =>
    Effect.gen(function*() {
      const r = yield* router(testConfig({ realms: [{ name: "realm1", roles: [{ name: "other", permissions: [] }] }] }))
      const c = yield* raw(r.url)
      const abort = yield* promise(() => c.hello())
      expect(abort[2]).toBe("wamp.error.no_such_role")
      expect((abort[1] as { message: string }).message).toBe(`no role "anonymous" on realm "realm1"`)
    }))

  it.live("anonymous sessions get distinct random authids", () =>
    Effect.gen(function*() {
      const r = yield* router()
      const a = yield* raw(r.url)
      const b = yield* raw(r.url)
      const wa = yield* promise(() => a.hello())
      const wb = yield* promise(() => b.hello())
      expect(wa[0]).toBe(2)
      expect(wa[1]).not.toBe(wb[1])
      const da = wa[2] as Record<string, unknown>
      const db = wb[2] as Record<string, unknown>
      expect(da["authid"]).not.toBe(db["authid"])
      expect(da["authmethod"]).toBe("anonymous")
      expect(da["authrole"]).toBe("anonymous")
    }))

  it.live("a WebSocket offering no WAMP subprotocol is refused at the upgrade", () =>
    Effect.gen(function*() {
      const r = yield* router()
      const error = yield* Effect.flip(promise(() => RawClient.open(r.url, "json", ["mqtt"])))
      expect(error.message).toContain("400")
    }))
})

describe("GOODBYE", () => {
  it.live("a client GOODBYE is answered with goodbye_and_out and the connection may join again", () =>
    Effect.gen(function*() {
      const r = yield* router()
      const c = yield* raw(r.url)
      const first = yield* promise(() => c.hello())
      c.send([6, {}, "wamp.close.close_realm"])
      expect(yield* promise(() => c.next())).toEqual([6, {}, "wamp.close.goodbye_and_out"])
      const second = yield* promise(() => c.hello())
      expect(second[0]).toBe(2)
      expect(second[1]).not.toBe(first[1])
    }))

  it.live("closing the router says GOODBYE (system_shutdown) and closes every connection", () =>
    Effect.gen(function*() {
      const r = yield* promise(() => startRouter(testConfig()))
      const c = yield* promise(() => RawClient.open(r.url))
      yield* promise(() => c.hello())
      const idle = yield* promise(() => RawClient.open(r.url))
      const closing = r.close()
      expect(yield* promise(() => c.next())).toEqual([6, { message: "the router is shutting down" }, "wamp.close.system_shutdown"])
      c.send([6, {}, "wamp.close.goodbye_and_out"])
      yield* promise(() => closing)
      const [joinedClosed, idleClosed] = yield* promise(() => Promise.all([c.closed, idle.closed]))
      expect(joinedClosed).toEqual({ code: 1001, reason: "router shutdown" })
      // a connection without a session gets no GOODBYE, only the close (every frame precedes it)
      expect(idleClosed).toEqual({ code: 1001, reason: "router shutdown" })
      expect(yield* promise(() => idle.silentFor(1))).toBe(true)
      const error = yield* Effect.flip(promise(() => RawClient.open(r.url)))
      expect(error.message).toContain("ECONNREFUSED")
    }))
})

const ABORT = 3, CHALLENGE = 4, CALL = 48, CANCEL = 49, ERROR = 8, REGISTER = 64, REGISTERED = 65, INVOCATION = 68, INTERRUPT = 69

describe("the peer's ABORT", () => {
  it.live("before HELLO: the router closes the connection normally and sends nothing", () =>
    Effect.gen(function*() {
      const r = yield* router()
      const c = yield* raw(r.url)
      c.send([ABORT, {}, "wamp.close.system_shutdown"])
      expect((yield* promise(() => c.closed)).code).toBe(1000)
      expect(yield* promise(() => c.silentFor(1))).toBe(true)
    }))

  it.live("on an established session: the session leaves with its registrations, nothing is sent back", () =>
    Effect.gen(function*() {
      const r = yield* router()
      const c = yield* raw(r.url)
      yield* promise(() => c.hello())
      c.send([REGISTER, 1, {}, "com.example.leaving"])
      expect((yield* promise(() => c.next()))[0]).toBe(REGISTERED)
      c.send([ABORT, {}, "wamp.close.system_shutdown"])
      expect((yield* promise(() => c.closed)).code).toBe(1000)
      expect(yield* promise(() => c.silentFor(1))).toBe(true)
      const other = yield* raw(r.url)
      yield* promise(() => other.hello())
      other.send([CALL, 1, {}, "com.example.leaving", []])
      expect((yield* promise(() => other.next())).slice(0, 5)).toEqual([ERROR, CALL, 1, {}, "wamp.error.no_such_procedure"])
    }))
})

describe("messages out of turn", () => {
  const ticketConfig = testConfig({
    websocket: {
      auth: [{ type: "ticket", provider: "static", principals: new Map([["joe", { ticket: "joe-ticket", role: "anonymous", realm: undefined }]]) }]
    }
  })

  it.live("a second HELLO while a CHALLENGE is out is a protocol violation naming the message type", () =>
    Effect.gen(function*() {
      const r = yield* router(ticketConfig)
      const c = yield* raw(r.url)
      const challenge = yield* promise(() => c.hello("realm1", { authmethods: ["ticket"], authid: "joe" }))
      expect(challenge).toEqual([CHALLENGE, "ticket", {}])
      const abort = yield* promise(() => c.hello("realm1", { authmethods: ["ticket"], authid: "joe" }))
      expect(abort).toEqual([ABORT, { message: "message type 1 before the session was established" }, "wamp.error.protocol_violation"])
      expect((yield* promise(() => c.closed)).code).toBe(1002)
    }))

  it.live("a CALL before HELLO is a protocol violation naming the message type", () =>
    Effect.gen(function*() {
      const r = yield* router()
      const c = yield* raw(r.url)
      c.send([CALL, 1, {}, "com.example.p"])
      expect(yield* promise(() => c.next())).toEqual([
        ABORT,
        { message: "message type 48 before the session was established" },
        "wamp.error.protocol_violation"
      ])
    }))

  it.live("a GOODBYE before HELLO is a protocol violation naming the message type", () =>
    Effect.gen(function*() {
      const r = yield* router()
      const c = yield* raw(r.url)
      c.send([6, {}, "wamp.close.close_realm"])
      expect(yield* promise(() => c.next())).toEqual([
        ABORT,
        { message: "message type 6 before the session was established" },
        "wamp.error.protocol_violation"
      ])
      expect((yield* promise(() => c.closed)).code).toBe(1002)
    }))

  it.live("the right ticket after the CHALLENGE joins", () =>
    Effect.gen(function*() {
      const r = yield* router(ticketConfig)
      const c = yield* raw(r.url)
      expect((yield* promise(() => c.hello("realm1", { authmethods: ["ticket"], authid: "joe" })))[0]).toBe(CHALLENGE)
      c.send([5, "joe-ticket", {}])
      const welcome = yield* promise(() => c.next())
      expect(welcome[0]).toBe(2)
      expect(welcome[2]).toMatchObject({ authid: "joe", authmethod: "ticket", authrole: "anonymous" })
    }))
})

describe("HELLO.Details.roles.callee.features.call_canceling", () => {
  /** Calls, cancels (killnowait), calls again: the callee's next message after the first INVOCATION. */
  const afterCancel = (roles: Record<string, unknown>) =>
    Effect.gen(function*() {
      const r = yield* router()
      const c = yield* raw(r.url)
      yield* promise(() => c.hello("realm1", { roles }))
      c.send([REGISTER, 1, {}, "com.example.p"])
      expect((yield* promise(() => c.next()))[0]).toBe(REGISTERED)
      const caller = yield* raw(r.url)
      yield* promise(() => caller.hello())
      caller.send([CALL, 1, {}, "com.example.p", ["first"]])
      const first = yield* promise(() => c.next())
      expect(first[0]).toBe(INVOCATION)
      caller.send([CANCEL, 1, { mode: "killnowait" }])
      expect((yield* promise(() => caller.next())).slice(0, 5)).toEqual([ERROR, CALL, 1, {}, "wamp.error.canceled"])
      caller.send([CALL, 2, {}, "com.example.p", ["second"]])
      return { first: first[1], next: yield* promise(() => c.next()) }
    })

  it.live("true: the callee gets INTERRUPT for a canceled call", () =>
    Effect.gen(function*() {
      const { first, next } = yield* afterCancel({ callee: { features: { call_canceling: true } } })
      expect(next).toEqual([INTERRUPT, first, { mode: "killnowait", reason: "wamp.error.canceled" }])
    }))

  it.live.each([
    { name: "absent", roles: { callee: {} } },
    { name: "not exactly true", roles: { callee: { features: { call_canceling: "yes" } } } },
    { name: "announced for the caller role only", roles: { caller: { features: { call_canceling: true } }, callee: {} } },
    { name: "no callee role at all", roles: { caller: {} } }
  ])("$name: no INTERRUPT, the next message is the next call", ({ roles }) =>
    Effect.gen(function*() {
      const { next } = yield* afterCancel(roles)
      expect(next[0]).toBe(INVOCATION)
      expect(next[4]).toEqual(["second"])
    }))
})

describe("max_message_size is inclusive", () => {
  it.live("a message of exactly max_message_size bytes is accepted", () =>
    Effect.gen(function*() {
      const r = yield* router(testConfig({ websocket: { maxMessageSize: 1024 } }))
      const c = yield* raw(r.url)
      yield* promise(() => c.hello())
      const frame = (padding: number) => JSON.stringify([16, 1, { acknowledge: true }, "com.example.t", ["x".repeat(padding)]])
      const exact = frame(1024 - frame(0).length)
      expect(Buffer.byteLength(exact)).toBe(1024)
      c.sendRaw(exact)
      expect((yield* promise(() => c.next()))[0]).toBe(17)
    }))
})
