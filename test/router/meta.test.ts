/**
 * The meta API as autobahn sees it: session join/leave events, session count/list/get, and the
 * registration and subscription reflection procedures, with Crossbar's result shapes.
 */
import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import { callError, promise, router, session } from "./support.js"

describe("session meta API", () => {
  it.live("wamp.session.on_join and on_leave announce other sessions", () =>
    Effect.gen(function*() {
      const r = yield* router()
      const watcher = yield* session(r.url)
      const joins: Array<Record<string, unknown>> = []
      const leaves: Array<Array<unknown>> = []
      let left: () => void = () => {}
      const leftOnce = new Promise<void>((resolve) => (left = resolve))
      yield* promise(() => watcher.session.subscribe("wamp.session.on_join", (args) => void joins.push(args[0] as Record<string, unknown>)))
      yield* promise(() =>
        watcher.session.subscribe("wamp.session.on_leave", (args) => {
          leaves.push(args)
          left()
        })
      )
      const other = yield* Effect.scoped(Effect.gen(function*() {
        const o = yield* session(r.url)
        return { id: o.session.id, authid: o.welcome["authid"] }
      }))
      yield* promise(() => leftOnce)
      expect(joins).toHaveLength(1)
      expect(joins[0]).toMatchObject({ session: other.id, authid: other.authid, authrole: "anonymous", authmethod: "anonymous" })
      expect(leaves).toEqual([[other.id, other.authid, "anonymous"]])
    }))

  it.live("wamp.session.count, list and get describe the realm's sessions", () =>
    Effect.gen(function*() {
      const r = yield* router()
      const a = yield* session(r.url)
      const b = yield* session(r.url)
      const call = (p: string, args: Array<unknown> = []) => promise(() => a.session.call(p, args))
      expect(yield* call("wamp.session.count")).toBe(2)
      expect(yield* call("wamp.session.count", [["admin"]])).toBe(0)
      expect(new Set((yield* call("wamp.session.list")) as Array<number>)).toEqual(new Set([a.session.id, b.session.id]))
      const details = (yield* call("wamp.session.get", [b.session.id])) as Record<string, unknown>
      expect(details).toMatchObject({ session: b.session.id, authid: b.welcome["authid"], authrole: "anonymous" })
      expect((details["transport"] as Record<string, unknown>)["protocol"]).toBe("wamp.2.json")
      const error = yield* callError(() => a.session.call("wamp.session.get", [42]))
      expect(error.error).toBe("wamp.error.no_such_session")
    }))
})

describe("registration meta API", () => {
  it.live("list, lookup, match, get and list_callees reflect the dealer", () =>
    Effect.gen(function*() {
      const r = yield* router()
      const a = yield* session(r.url)
      const b = yield* session(r.url)
      const exact = yield* promise(() => a.session.register("com.example.p", () => 1, { invoke: "roundrobin" }))
      yield* promise(() => b.session.register("com.example.p", () => 2, { invoke: "roundrobin" }))
      const prefix = yield* promise(() => a.session.register("com.example", () => 3, { match: "prefix" }))
      const call = (p: string, args: Array<unknown> = []) => promise(() => a.session.call(p, args))
      expect(yield* call("wamp.registration.list")).toEqual({ exact: [exact.id], prefix: [prefix.id], wildcard: [] })
      expect(yield* call("wamp.registration.lookup", ["com.example.p"])).toBe(exact.id)
      expect(yield* call("wamp.registration.lookup", ["com.example", { match: "prefix" }])).toBe(prefix.id)
      expect(yield* call("wamp.registration.lookup", ["com.example"])).toBe(null)
      expect(yield* call("wamp.registration.match", ["com.example.q"])).toBe(prefix.id)
      expect(yield* call("wamp.registration.match", ["org.none"])).toBe(null)
      expect(yield* call("wamp.registration.get", [exact.id])).toMatchObject({
        id: exact.id,
        uri: "com.example.p",
        match: "exact",
        invoke: "roundrobin"
      })
      expect(new Set((yield* call("wamp.registration.list_callees", [exact.id])) as Array<number>)).toEqual(
        new Set([a.session.id, b.session.id])
      )
      const error = yield* callError(() => a.session.call("wamp.registration.get", [999999]))
      expect(error.error).toBe("wamp.error.no_such_registration")
    }))
})

describe("subscription meta API", () => {
  it.live("list, lookup, match, get and list_subscribers reflect the broker", () =>
    Effect.gen(function*() {
      const r = yield* router()
      const a = yield* session(r.url)
      const b = yield* session(r.url)
      const exact = yield* promise(() => a.session.subscribe("com.example.t", () => {}))
      yield* promise(() => b.session.subscribe("com.example.t", () => {}))
      const wildcard = yield* promise(() => b.session.subscribe("com..t", () => {}, { match: "wildcard" }))
      const call = (p: string, args: Array<unknown> = []) => promise(() => a.session.call(p, args))
      expect(yield* call("wamp.subscription.list")).toEqual({ exact: [exact.id], prefix: [], wildcard: [wildcard.id] })
      expect(yield* call("wamp.subscription.lookup", ["com.example.t"])).toBe(exact.id)
      expect(yield* call("wamp.subscription.lookup", ["com..t", { match: "wildcard" }])).toBe(wildcard.id)
      expect(new Set((yield* call("wamp.subscription.match", ["com.example.t"])) as Array<number>)).toEqual(
        new Set([exact.id, wildcard.id])
      )
      expect(yield* call("wamp.subscription.match", ["org.none"])).toBe(null)
      expect(yield* call("wamp.subscription.get", [wildcard.id])).toMatchObject({ id: wildcard.id, uri: "com..t", match: "wildcard" })
      expect(new Set((yield* call("wamp.subscription.list_subscribers", [exact.id])) as Array<number>)).toEqual(
        new Set([a.session.id, b.session.id])
      )
      const error = yield* callError(() => a.session.call("wamp.subscription.get", [999999]))
      expect(error.error).toBe("wamp.error.no_such_subscription")
    }))
})

describe("registration and subscription meta events", () => {
  it.live("on_create, on_register, on_unregister and on_delete follow a registration's life", () =>
    Effect.gen(function*() {
      const r = yield* router()
      const watcher = yield* session(r.url)
      const callee = yield* session(r.url)
      const events: Array<[string, Array<unknown>]> = []
      let deleted: () => void = () => {}
      const gone = new Promise<void>((resolve) => (deleted = resolve))
      for (const name of ["on_create", "on_register", "on_unregister", "on_delete"]) {
        yield* promise(() =>
          watcher.session.subscribe(`wamp.registration.${name}`, (args) => {
            events.push([name, args])
            if (name === "on_delete") deleted()
          })
        )
      }
      const registration = yield* promise(() => callee.session.register("com.example.watched", () => 1))
      yield* promise(() => callee.session.unregister(registration))
      yield* promise(() => gone)
      expect(events.map(([name]) => name)).toEqual(["on_create", "on_register", "on_unregister", "on_delete"])
      expect(events[0]![1]).toEqual([callee.session.id, expect.objectContaining({ id: registration.id, uri: "com.example.watched", match: "exact" })])
      expect(events[1]![1]).toEqual([callee.session.id, registration.id])
      expect(events[3]![1]).toEqual([callee.session.id, registration.id])
    }))

  it.live("on_subscribe and on_unsubscribe follow subscribers", () =>
    Effect.gen(function*() {
      const r = yield* router()
      const watcher = yield* session(r.url)
      const other = yield* session(r.url)
      const events: Array<[string, Array<unknown>]> = []
      let unsubscribed: () => void = () => {}
      const done = new Promise<void>((resolve) => (unsubscribed = resolve))
      yield* promise(() => watcher.session.subscribe("wamp.subscription.on_subscribe", (args) => void events.push(["on_subscribe", args])))
      yield* promise(() =>
        watcher.session.subscribe("wamp.subscription.on_unsubscribe", (args) => {
          events.push(["on_unsubscribe", args])
          unsubscribed()
        })
      )
      const subscription = yield* promise(() => other.session.subscribe("com.example.t", () => {}))
      yield* promise(() => other.session.unsubscribe(subscription))
      yield* promise(() => done)
      // the watcher's own subscriptions to meta topics are announced too; look at the other session
      expect(events.filter(([, args]) => args[0] === other.session.id)).toEqual([
        ["on_subscribe", [other.session.id, subscription.id]],
        ["on_unsubscribe", [other.session.id, subscription.id]]
      ])
    }))
})
