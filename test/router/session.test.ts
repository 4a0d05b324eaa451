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
      const goodbye = yield* promise(() => c.next())
      expect(goodbye[0]).toBe(6)
      expect(goodbye[2]).toBe("wamp.close.system_shutdown")
      c.send([6, {}, "wamp.close.goodbye_and_out"])
      yield* promise(() => closing)
      yield* promise(() => Promise.all([c.closed, idle.closed]))
      const error = yield* Effect.flip(promise(() => RawClient.open(r.url)))
      expect(error.message).toContain("ECONNREFUSED")
    }))
})
