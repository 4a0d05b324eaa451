/**
 * Authorization as Crossbar orders it: an invalid URI first (wamp.error.invalid_uri), then the
 * permission (wamp.error.not_authorized), then the lookup (no_such_procedure, ...), so a session
 * without permission cannot learn which procedures exist. Two transports give two roles.
 */
import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import type { Permission, RouterConfig } from "../../src/router/types.js"
import { callError, promise, raw, router, session, websocketOptions } from "./support.js"

const permission = (uri: string, match: Permission["match"], allow: Partial<Permission["allow"]>): Permission => ({
  uri,
  match,
  allow: { call: false, register: false, publish: false, subscribe: false, ...allow },
  disclose: { caller: false, publisher: false }
})

const config: RouterConfig = {
  realms: [{
    name: "realm1",
    roles: [
      { name: "frontend", permissions: [permission("com.public", "prefix", { call: true, subscribe: true })] },
      { name: "backend", permissions: [permission("com", "prefix", { register: true, publish: true })] }
    ]
  }],
  transports: [
    {
      type: "websocket",
      endpoint: { port: 0, interface: "127.0.0.1" },
      options: websocketOptions({ auth: [{ type: "anonymous", role: "frontend" }] })
    },
    {
      type: "websocket",
      endpoint: { port: 0, interface: "127.0.0.1" },
      options: websocketOptions({ auth: [{ type: "anonymous", role: "backend" }] })
    }
  ]
}

const setup = Effect.gen(function*() {
  const r = yield* router(config)
  const backendUrl = `ws://127.0.0.1:${r.listening[1]!.port}/`
  const frontend = yield* session(r.url)
  const backend = yield* session(backendUrl)
  return { frontend, backend, backendUrl }
})

describe("authorization order", () => {
  it.live("an unauthorized call fails with not_authorized whether or not the procedure exists", () =>
    Effect.gen(function*() {
      const { frontend, backend } = yield* setup
      expect(frontend.welcome["authrole"]).toBe("frontend")
      expect(backend.welcome["authrole"]).toBe("backend")
      yield* promise(() => backend.session.register("com.internal.secret", () => "secret"))
      const existing = yield* callError(() => frontend.session.call("com.internal.secret"))
      const missing = yield* callError(() => frontend.session.call("com.internal.missing"))
      expect(existing.error).toBe("wamp.error.not_authorized")
      expect(missing.error).toBe("wamp.error.not_authorized")
    }))

  it.live("an invalid URI fails with invalid_uri before authorization", () =>
    Effect.gen(function*() {
      const { frontend } = yield* setup
      const error = yield* callError(() => frontend.session.call("org..invalid"))
      expect(error.error).toBe("wamp.error.invalid_uri")
    }))

  it.live("an authorized call to a missing procedure fails with no_such_procedure; an existing one succeeds", () =>
    Effect.gen(function*() {
      const { frontend, backend } = yield* setup
      expect((yield* callError(() => frontend.session.call("com.public.none"))).error).toBe("wamp.error.no_such_procedure")
      yield* promise(() => backend.session.register("com.public.hello", () => "hello"))
      expect(yield* promise(() => frontend.session.call("com.public.hello"))).toBe("hello")
    }))

  it.live("register, subscribe and acknowledged publish are authorized per action", () =>
    Effect.gen(function*() {
      const { frontend, backend } = yield* setup
      expect((yield* callError(() => frontend.session.register("com.public.mine", () => 1))).error).toBe(
        "wamp.error.not_authorized"
      )
      expect((yield* callError(() => backend.session.subscribe("com.public.t", () => {}))).error).toBe(
        "wamp.error.not_authorized"
      )
      expect((yield* callError(async () => frontend.session.publish("com.public.t", [], {}, { acknowledge: true }))).error)
        .toBe("wamp.error.not_authorized")
      // the allowed directions work
      let got: (v: unknown) => void = () => {}
      const event = new Promise((resolve) => (got = resolve))
      yield* promise(() => frontend.session.subscribe("com.public.t", (args) => got(args[0])))
      yield* promise(async () => backend.session.publish("com.public.t", ["news"], {}, { acknowledge: true }))
      expect(yield* promise(() => event)).toBe("news")
    }))

  it.live("an unauthorized UNREGISTER of another session's registration is no_such_registration", () =>
    Effect.gen(function*() {
      const { backend, backendUrl } = yield* setup
      const reg = yield* promise(() => backend.session.register("com.x.y", () => 1))
      const other = yield* raw(backendUrl)
      yield* promise(() => other.hello())
      other.send([66, 1, reg.id])
      expect((yield* promise(() => other.next())).slice(0, 5)).toEqual([8, 66, 1, {}, "wamp.error.no_such_registration"])
    }))

  it.live("meta procedures are authorized like any procedure", () =>
    Effect.gen(function*() {
      const { frontend } = yield* setup
      expect((yield* callError(() => frontend.session.call("wamp.session.count"))).error).toBe("wamp.error.not_authorized")
    }))
})
