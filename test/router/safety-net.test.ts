/**
 * The second line of defence: an exception escaping the handling of one message (a bug the checks
 * did not foresee, simulated here by a broker that throws for one topic) is logged once with the
 * session id and ends that session only: ABORT, its registrations gone, its callers answered,
 * every other session unharmed.
 */
import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import { Realm } from "../../src/router/realm.js"
import type { RouterLog } from "../../src/router/session.js"
import { startTransport } from "../../src/router/transport.js"
import { openRealm, promise, raw, session, websocketOptions } from "./support.js"

const ABORT = 3, ERROR = 8, SUBSCRIBE = 32, CALL = 48, REGISTER = 64, REGISTERED = 65, INVOCATION = 68

/**
 * A router over a realm whose broker throws on SUBSCRIBE to "com.bug" (and, with `leaveFails`, whose
 * first removal of a session throws too).
 */
const buggyRouter = (leaveFails = false) => Effect.acquireRelease(
  Effect.promise(async () => {
    const realm = new Realm(openRealm)
    if (leaveFails) {
      const leave = realm.leave.bind(realm)
      let failed = false
      realm.leave = (s) => {
        if (failed) return leave(s)
        failed = true
        throw new TypeError("a bug in leave")
      }
    }
    const subscribe = realm.broker.subscribe.bind(realm.broker)
    realm.broker.subscribe = (s, m) => {
      if (m[3] === "com.bug") throw new TypeError("a bug in the broker")
      subscribe(s, m)
    }
    const warnings: Array<string> = []
    const log: RouterLog = { debug: () => {}, info: () => {}, warn: (m) => void warnings.push(m) }
    const running = await startTransport(
      { type: "websocket", endpoint: { port: 0, interface: "127.0.0.1" }, options: websocketOptions() },
      new Map([[realm.name, realm]]),
      log
    )
    return { realm, running, warnings, url: `ws://127.0.0.1:${running.listening.port}` }
  }),
  ({ realm, running }) =>
    Effect.promise(() => {
      realm.shutdown()
      return running.close()
    })
)

describe("an exception while handling a message", () => {
  it.live("ends only that session, logged once with its id; its callers get an error, others go on", () =>
    Effect.gen(function*() {
      const r = yield* buggyRouter()
      const bystander = yield* session(r.url)
      yield* promise(() => bystander.session.register("com.kept", () => "still here"))
      const offender = yield* raw(r.url)
      const welcome = yield* promise(() => offender.hello())
      const id = welcome[1] as number
      offender.send([REGISTER, 1, {}, "com.offender"])
      expect((yield* promise(() => offender.next()))[0]).toBe(REGISTERED)
      // a caller waiting on the offender
      const caller = yield* raw(r.url)
      yield* promise(() => caller.hello())
      caller.send([CALL, 9, {}, "com.offender", []])
      expect((yield* promise(() => offender.next()))[0]).toBe(INVOCATION)

      offender.send([SUBSCRIBE, 2, {}, "com.bug"])
      const abort = yield* promise(() => offender.next())
      expect(abort).toEqual([ABORT, { message: "the router could not handle a message of this session" }, "wamp.error.protocol_violation"])
      expect((yield* promise(() => offender.closed)).code).toBe(1011)

      const logged = r.warnings.filter((w) => w.includes("internal error"))
      expect(logged).toHaveLength(1)
      expect(logged[0]).toContain(`session ${id}`)
      expect(logged[0]).toContain("a bug in the broker")
      expect(r.realm.sessions.has(id)).toBe(false)
      expect(r.realm.dealer.registrations.get("com.offender", "exact")).toBeUndefined()
      expect((yield* promise(() => caller.next())).slice(0, 5)).toEqual([ERROR, CALL, 9, {}, "wamp.error.canceled"])
      expect(yield* promise(() => bystander.session.call("com.kept"))).toBe("still here")
      expect(yield* promise(() => bystander.session.call("wamp.session.count"))).toBe(2)
    }))

  it.live("when ending that session fails too, its connection is closed all the same (1011)", () =>
    Effect.gen(function*() {
      const r = yield* buggyRouter(true)
      const offender = yield* raw(r.url)
      yield* promise(() => offender.hello())
      offender.send([SUBSCRIBE, 2, {}, "com.bug"])
      const abort = yield* promise(() => offender.next())
      expect([abort[0], abort[2]]).toEqual([ABORT, "wamp.error.protocol_violation"])
      expect(yield* promise(() => offender.closed)).toEqual({ code: 1011, reason: "wamp.error.protocol_violation" })
      expect(r.warnings.filter((w) => w.includes("internal error"))).toHaveLength(1)
      // the router goes on
      const next = yield* session(r.url)
      expect(yield* promise(() => next.session.call("wamp.session.count"))).toBeGreaterThanOrEqual(1)
    }))
})
