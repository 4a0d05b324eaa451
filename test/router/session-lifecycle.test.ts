/**
 * A session's life as its peer sees it on the wire, where the other router tests do not look:
 * the bound on messages held while a dynamic authorization is pending, a handshake whose
 * authenticator answers after the peer gave up, the GOODBYE and close of a killed session, and the
 * close that follows the peer's own ABORT.
 */
import { describe, expect, it } from "@effect/vitest"
import autobahn from "autobahn"
import * as Effect from "effect/Effect"
import type { Socket } from "node:net"
import { attempt, type Attempt, leave } from "./auth-client.js"
import { ALICE, AUTH_ENV, authConfigJson, AUTHENTICATE_URI, authRouter, AUTHORIZE_URI, TICKETS } from "./auth-fixture.js"
import { parseRouterConfig } from "../../src/router/config.js"
import { startRouter } from "../../src/router/index.js"
import { openRealm, promise, RawClient, testConfig, waitUntil } from "./support.js"
import { flowControl } from "../../src/router/session.js"
import { serializers } from "../../src/wamp/codecs.js"

const WELCOME = 2, ABORT = 3, CHALLENGE = 4, AUTHENTICATE = 5, GOODBYE = 6, ERROR = 8, RESULT = 50, CALL = 48, UNSUBSCRIBE = 34

const joined = (a: Attempt) => {
  if (!a.joined) throw new Error(`not joined: ${a.reason} ${a.message}`)
  return a
}
const open = (url: string, credentials: Parameters<typeof attempt>[1]) =>
  Effect.acquireRelease(promise(() => attempt(url, credentials)), (a) => Effect.promise(() => leave(a)))
const admin = (url: string) => open(url, { method: "cryptosign", authid: "alice", seed: ALICE.seed, publicKey: ALICE.publicKey })
const rawClient = (url: string, serializer: "json" | "msgpack" | "cbor" = "json") =>
  Effect.acquireRelease(promise(() => RawClient.open(url, serializer)), (c) => Effect.sync(() => c.close()))

/** A promise the test settles: an authenticator or authorizer that answers when told. */
const gate = <A>() => {
  let open: (value: A) => void = () => {}
  const opened = new Promise<A>((resolve) => (open = resolve))
  return { opened, open }
}

/** dora (ticket, the role with the dynamic authorizer) over a raw msgpack connection. */
const dora = (url: string) =>
  Effect.gen(function*() {
    const c = yield* rawClient(url, "msgpack")
    expect((yield* promise(() => c.hello("realm1", { authmethods: ["ticket"], authid: "dora" })))[0]).toBe(CHALLENGE)
    c.send([AUTHENTICATE, TICKETS.dora, {}])
    expect((yield* promise(() => c.next()))[0]).toBe(WELCOME)
    return c
  })

/** Client frames (masked with a zero key) of msgpack messages, to write in one TCP write. */
const frames = (messages: ReadonlyArray<ReadonlyArray<unknown>>): Buffer =>
  Buffer.concat(messages.map((m) => {
    const payload = Buffer.from(serializers.msgpack.encode(m, true) as Uint8Array)
    if (payload.length >= 126) throw new Error("frames() writes short frames only")
    return Buffer.concat([Buffer.from([0x82, 0x80 | payload.length, 0, 0, 0, 0]), payload])
  }))
const writeAtOnce = (c: RawClient, data: Buffer) => (c.ws as unknown as { _socket: Socket })._socket.write(data)

describe("messages held while a dynamic authorization is pending", () => {
  const waitingCall = [CALL, 1, {}, "com.example.open.echo", ["first"]] as const
  const unsubscribes = (n: number) => Array.from({ length: n }, (_, i) => [UNSUBSCRIBE, 100 + i, 1])

  it.live("up to 4096 wait and are then handled in order, after the pending one", () =>
    Effect.gen(function*() {
      const { staticUrl } = yield* authRouter
      const service = joined(yield* admin(staticUrl))
      const answer = gate<boolean>()
      let asked = 0
      yield* promise(() => service.session.register(AUTHORIZE_URI, () => (++asked === 1 ? answer.opened : true)))
      yield* promise(() => service.session.register("com.example.open.echo", (args) => args))
      const c = yield* dora(staticUrl)
      // every frame is in the router's hands before the authorizer answers the CALL
      writeAtOnce(c, frames([waitingCall, ...unsubscribes(4096)]))
      yield* waitUntil(() => asked === 1, "the authorizer asked")
      answer.open(true)
      const received: Array<ReadonlyArray<unknown>> = []
      for (let i = 0; i < 4097; i++) received.push(yield* promise(() => c.next(20_000)))
      // the CALL went on to its callee (its RESULT comes back whenever that answers); the rest were
      // each handled, in the order sent
      const results = received.filter((m) => m[0] === RESULT)
      expect(results.map((m) => [m[1], m[3]])).toEqual([[1, [["first"]]]])
      expect(received.filter((m) => m[0] !== RESULT).map((m) => m.slice(0, 5))).toEqual(
        unsubscribes(4096).map(([, id]) => [ERROR, UNSUBSCRIBE, id, {}, "wamp.error.no_such_subscription"])
      )
    }), 60_000)

  it.live("the 4097th aborts the session: protocol_violation naming the bound, close 1008", () =>
    Effect.gen(function*() {
      const { staticUrl } = yield* authRouter
      const service = joined(yield* admin(staticUrl))
      const never = gate<boolean>()
      yield* promise(() => service.session.register(AUTHORIZE_URI, () => never.opened))
      const c = yield* dora(staticUrl)
      writeAtOnce(c, frames([waitingCall, ...unsubscribes(4097)]))
      expect(yield* promise(() => c.next(20_000))).toEqual([
        ABORT,
        { message: "more than 4096 messages sent while an authorization was pending" },
        "wamp.error.protocol_violation"
      ])
      expect((yield* promise(() => c.closed)).code).toBe(1008)
      never.open(false)
    }), 60_000)
})

describe("messages after a CALL awaiting its authorization", () => {
  it.live("wait for it, and for every authorization that one of them begins, before they are handled", () =>
    Effect.gen(function*() {
      const { staticUrl } = yield* authRouter
      const service = joined(yield* admin(staticUrl))
      const answers = [gate<boolean>(), gate<boolean>()]
      let asked = 0
      yield* promise(() => service.session.register(AUTHORIZE_URI, () => answers[asked++]!.opened))
      yield* promise(() => service.session.register("com.example.open.echo", (args) => args))
      const c = yield* dora(staticUrl)
      // in one write: two CALLs (each needs the authorizer) and an UNSUBSCRIBE (answered at once when handled)
      writeAtOnce(c, frames([[CALL, 1, {}, "com.example.open.echo", ["first"]], [CALL, 2, {}, "com.example.open.echo", ["second"]], [UNSUBSCRIBE, 3, 1]]))
      yield* waitUntil(() => asked === 1, "the authorizer asked about the first CALL")
      // a barrier on the authorizer's connection: its own call returns after anything the router
      // sent it before, so a second question would have arrived by then
      yield* promise(() => service.session.call("wamp.session.count"))
      expect(asked).toBe(1)
      answers[0]!.open(true)
      // the first call's RESULT comes before anything else: the UNSUBSCRIBE still waits, behind the second CALL
      expect((yield* promise(() => c.next())).slice(0, 4)).toEqual([RESULT, 1, {}, [["first"]]])
      yield* waitUntil(() => asked === 2, "the authorizer asked about the second CALL")
      answers[1]!.open(true)
      expect((yield* promise(() => c.next())).slice(0, 5)).toEqual([ERROR, UNSUBSCRIBE, 3, {}, "wamp.error.no_such_subscription"])
      expect((yield* promise(() => c.next())).slice(0, 4)).toEqual([RESULT, 2, {}, [["second"]]])
    }))
})

describe("a handshake that ends while its authenticator still answers", () => {
  it.live.each([
    { name: "the peer's ABORT", end: (c: RawClient) => c.send([ABORT, {}, "wamp.close.system_shutdown"]) },
    { name: "the connection dropping", end: (c: RawClient) => c.close() }
  ])("after $name the late answer joins no session", ({ end }) =>
    Effect.gen(function*() {
      const { staticUrl, dynamicUrl } = yield* authRouter
      const service = joined(yield* open(staticUrl, { method: "ticket", authid: "auth-service", ticket: TICKETS.authService }))
      const answer = gate<string>()
      let asked = 0
      yield* promise(() => service.session.register(AUTHENTICATE_URI, () => (asked++, answer.opened)))
      const watcher = joined(yield* admin(staticUrl))
      const before = yield* promise(() => watcher.session.call("wamp.session.count"))

      const c = yield* rawClient(dynamicUrl)
      expect((yield* promise(() => c.hello("realm1", { authmethods: ["ticket"], authid: "tom" })))[0]).toBe(CHALLENGE)
      c.send([AUTHENTICATE, "tom-ticket", {}])
      yield* waitUntil(() => asked === 1, "the authenticator asked")
      end(c)
      expect((yield* promise(() => c.closed)).code).not.toBe(1002)
      answer.open("frontend")
      // the answer has reached the router once a later call through the same session returns
      yield* promise(() => service.session.call("wamp.session.count").catch(() => undefined))
      yield* promise(() => watcher.session.call("wamp.session.count").then(() => undefined))
      expect(yield* promise(() => watcher.session.call("wamp.session.count"))).toBe(before)
      expect(yield* promise(() => watcher.session.call("wamp.session.list", [["frontend"]]))).toEqual([])
    }))
})

describe("wamp.session.kill on the wire", () => {
  it.live("the killed peer gets GOODBYE with the reason and message given, then a normal close", () =>
    Effect.gen(function*() {
      const { staticUrl } = yield* authRouter
      const service = joined(yield* admin(staticUrl))
      const withMessage = yield* rawClient(staticUrl)
      const withMessageId = (yield* promise(() => withMessage.hello("realm1", { authmethods: ["anonymous"] })))[1]
      const plain = yield* rawClient(staticUrl)
      const plainId = (yield* promise(() => plain.hello("realm1", { authmethods: ["anonymous"] })))[1]

      yield* promise(() => service.session.call("wamp.session.kill", [withMessageId], { reason: "com.example.bye", message: "go" }))
      expect(yield* promise(() => withMessage.next())).toEqual([GOODBYE, { message: "go" }, "com.example.bye"])
      expect(yield* promise(() => withMessage.closed)).toEqual({ code: 1000, reason: "killed" })

      yield* promise(() => service.session.call("wamp.session.kill", [plainId]))
      expect(yield* promise(() => plain.next())).toEqual([GOODBYE, {}, "wamp.close.killed"])
      expect(yield* promise(() => plain.closed)).toEqual({ code: 1000, reason: "killed" })
    }))
})

describe("the peer's ABORT", () => {
  it.live("closes the connection normally, saying the peer aborted, before or after the session is established", () =>
    Effect.gen(function*() {
      const { staticUrl } = yield* authRouter
      const idle = yield* rawClient(staticUrl)
      idle.send([ABORT, {}, "wamp.close.system_shutdown"])
      expect(yield* promise(() => idle.closed)).toEqual({ code: 1000, reason: "aborted by peer" })

      const challenged = yield* rawClient(staticUrl)
      expect((yield* promise(() => challenged.hello("realm1", { authmethods: ["ticket"], authid: "joe" })))[0]).toBe(CHALLENGE)
      challenged.send([ABORT, {}, "wamp.close.system_shutdown"])
      expect(yield* promise(() => challenged.closed)).toEqual({ code: 1000, reason: "aborted by peer" })

      const established = yield* rawClient(staticUrl)
      yield* promise(() => established.hello("realm1", { authmethods: ["anonymous"] }))
      established.send([ABORT, {}, "wamp.close.system_shutdown"])
      expect(yield* promise(() => established.closed)).toEqual({ code: 1000, reason: "aborted by peer" })
    }))
})

describe("the router's log", () => {
  /** The router of the authentication fixture, logging into `lines`. */
  const logging = (lines: Array<string>) =>
    Effect.gen(function*() {
      const record = (level: string) => (m: string) => void lines.push(`${level} ${m}`)
      const loaded = yield* parseRouterConfig(authConfigJson(), "/", AUTH_ENV)
      const r = yield* Effect.acquireRelease(
        Effect.promise(() => startRouter(loaded.router, { log: { debug: record("debug"), info: record("info"), warn: record("warn") } })),
        (r) => Effect.promise(() => r.close())
      )
      return `ws://127.0.0.1:${r.listening[0]!.port}`
    })

  it.live("says why an authorizer's answer denied, and names a protocol violation's session", () =>
    Effect.gen(function*() {
      const lines: Array<string> = []
      const url = yield* logging(lines)
      const service = joined(yield* admin(url))
      yield* promise(() =>
        service.session.register(AUTHORIZE_URI, (args) => {
          const uri = (args as Array<unknown>)[1]
          if (uri === "com.example.open.weird") return "yes"
          throw new autobahn.Error("com.example.auth.broken", ["no decision"])
        })
      )
      const c = yield* dora(url)
      const [id] = (yield* promise(() => service.session.call("wamp.session.list", [["dynamic"]]))) as Array<number>
      c.send([CALL, 1, {}, "com.example.open.weird", []])
      expect((yield* promise(() => c.next())).slice(0, 5)).toEqual([ERROR, CALL, 1, {}, "wamp.error.not_authorized"])
      c.send([CALL, 2, {}, "com.example.open.other", []])
      expect((yield* promise(() => c.next())).slice(0, 5)).toEqual([ERROR, CALL, 2, {}, "wamp.error.not_authorized"])
      expect(lines).toContain(
        `warn session ${id}: authorizer "${AUTHORIZE_URI}" answered neither a boolean nor {allow, disclose, cache}: denied`
      )
      expect(lines).toContain(`warn session ${id}: authorizer "${AUTHORIZE_URI}" failed (com.example.auth.broken): denied`)
      c.send([AUTHENTICATE, "late", {}])
      expect((yield* promise(() => c.next()))[0]).toBe(ABORT)
      expect(lines).toContain(`warn session ${id}: protocol violation: message type 5 is not valid on an established session`)
    }))

  it.live("an authorization answered after its session was killed is dropped without an error", () =>
    Effect.gen(function*() {
      const lines: Array<string> = []
      const url = yield* logging(lines)
      const service = joined(yield* admin(url))
      const answer = gate<boolean>()
      let asked = 0
      yield* promise(() => service.session.register(AUTHORIZE_URI, () => (asked++, answer.opened)))
      const c = yield* dora(url)
      c.send([CALL, 1, {}, "com.example.open.echo", []])
      yield* waitUntil(() => asked === 1, "the authorizer asked")
      const [id] = (yield* promise(() => service.session.call("wamp.session.list", [["dynamic"]]))) as Array<number>
      yield* promise(() => service.session.call("wamp.session.kill", [id]))
      expect((yield* promise(() => c.next()))[0]).toBe(GOODBYE)
      answer.open(true)
      // the answer has been handled once a later call of the authorizer's session returns
      yield* promise(() => service.session.call("wamp.session.count"))
      expect(lines.filter((l) => l.startsWith("warn"))).toEqual([])
    }))
})

describe("a misconfigured authenticator, and what reaches no peer", () => {
  const logged = (config: Parameters<typeof startRouter>[0], lines: Array<string>) => {
    const record = (level: string) => (m: string) => void lines.push(`${level} ${m}`)
    return Effect.acquireRelease(
      Effect.promise(() => startRouter(config, { log: { debug: record("debug"), info: record("info"), warn: record("warn") } })),
      (r) => Effect.promise(() => r.close())
    )
  }

  it.live("an authenticator on a realm that does not exist (a programmatic configuration): ABORT no_such_realm naming it", () =>
    Effect.gen(function*() {
      const lines: Array<string> = []
      const r = yield* logged(
        testConfig({
          websocket: { auth: [{ type: "ticket", provider: "dynamic", authenticator: AUTHENTICATE_URI, authenticatorRealm: "nowhere" }] }
        }),
        lines
      )
      const c = yield* rawClient(r.url)
      expect((yield* promise(() => c.hello("realm1", { authmethods: ["ticket"], authid: "tom" })))[0]).toBe(CHALLENGE)
      c.send([AUTHENTICATE, "tom-ticket", {}])
      expect(yield* promise(() => c.next())).toEqual([ABORT, { message: `no realm "nowhere"` }, "wamp.error.no_such_realm"])
      expect(lines.filter((l) => l.startsWith("warn"))).toEqual([])
    }))

  it.live("a message that cannot be encoded for its receiver is logged at debug with the session, type and serializer", () =>
    Effect.gen(function*() {
      const lines: Array<string> = []
      const r = yield* logged(testConfig({ realms: [openRealm] }), lines)
      const callee = yield* rawClient(r.url, "msgpack")
      const calleeId = (yield* promise(() => callee.hello()))[1]
      callee.send([64, 1, {}, "com.example.big"])
      expect((yield* promise(() => callee.next()))[0]).toBe(65)
      const caller = yield* rawClient(r.url, "cbor")
      yield* promise(() => caller.hello())
      caller.send([CALL, 1, {}, "com.example.big", [2n ** 70n]])
      expect((yield* promise(() => caller.next())).slice(0, 5)).toEqual([ERROR, CALL, 1, {}, "wamp.error.invalid_payload"])
      expect(lines.filter((l) => l.includes("cannot encode"))).toEqual([
        expect.stringMatching(new RegExp(`^debug session ${calleeId}: cannot encode message 68 with msgpack: .+`))
      ])
    }))
})

describe("flow control defaults", () => {
  it("a callee is paused above 1 MiB unsent toward its caller, or 4 maximum-size messages if less; for 1 s at most", () => {
    expect(flowControl(16 * 1024 * 1024)).toEqual({ highWaterMark: 1024 * 1024, pauseLimitMs: 1000 })
    expect(flowControl(256 * 1024)).toEqual({ highWaterMark: 1024 * 1024, pauseLimitMs: 1000 })
    expect(flowControl(128 * 1024)).toEqual({ highWaterMark: 512 * 1024, pauseLimitMs: 1000 })
  })
})

void autobahn
