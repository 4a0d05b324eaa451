/**
 * The router's limits as clients meet them: the opening handshake timeout, allowed origins,
 * connections per transport, registrations, subscriptions and calls in flight per session (a WAMP
 * error, the session stays), the realm's meta API switch, and what the meta API tells about other
 * sessions' HTTP headers.
 */
import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as fc from "fast-check"
import { connect } from "node:net"
import { WebSocket } from "ws"
import { originCheck, publicHeaders } from "../../src/router/limits.js"
import type { Realm, RealmOptions, RouterConfig, WebSocketOptions } from "../../src/router/types.js"
import { openRealm, promise, raw, RawClient, router, testConfig, websocketOptions } from "./support.js"

const ERROR = 8, PUBLISH = 16, SUBSCRIBE = 32, SUBSCRIBED = 33, EVENT = 36, CALL = 48, RESULT = 50
const REGISTER = 64, REGISTERED = 65, UNREGISTER = 66, UNREGISTERED = 67, INVOCATION = 68, YIELD = 70
const LIMIT_EXCEEDED = "wampgres.error.limit_exceeded"

const realmWith = (options: Partial<RealmOptions>): Realm => ({ ...openRealm, options })

/** One websocket transport on 127.0.0.1 with these WebSocket options and at most `maxConnections`. */
const configWith = (options: { websocket?: Partial<WebSocketOptions>; maxConnections?: number; realm?: Realm }): RouterConfig => ({
  realms: [options.realm ?? openRealm],
  transports: [{
    type: "websocket",
    endpoint: { port: 0, interface: "127.0.0.1", ...(options.maxConnections === undefined ? {} : { maxConnections: options.maxConnections }) },
    options: websocketOptions(options.websocket)
  }]
})

/** Opens a WebSocket with these headers: the open socket, or the HTTP status that refused it. */
const upgrade = (url: string, headers: Record<string, string> = {}, origin?: string) =>
  Effect.acquireRelease(
    promise(() =>
      new Promise<{ readonly ws: WebSocket | undefined; readonly status: number; readonly body: string }>((resolve, reject) => {
        const ws = new WebSocket(url, ["wamp.2.json"], { headers, ...(origin === undefined ? {} : { origin }) })
        ws.once("open", () => resolve({ ws, status: 101, body: "" }))
        ws.once("unexpected-response", (_req, res) => {
          let body = ""
          res.on("data", (c: Buffer) => (body += c.toString()))
          res.on("end", () => resolve({ ws: undefined, status: res.statusCode ?? 0, body }))
        })
        ws.once("error", reject)
      })
    ),
    (r) => Effect.sync(() => r.ws?.terminate())
  )

/** The WebSocket's close code and reason, or "open" if it is still open after `ms`. */
const closedWithin = (ws: WebSocket, ms: number) =>
  promise(() =>
    new Promise<{ readonly code: number; readonly reason: string } | "open">((resolve) => {
      if (ws.readyState === WebSocket.CLOSED) return resolve({ code: 1006, reason: "" })
      const timer = setTimeout(() => resolve("open"), ms)
      ws.once("close", (code, reason) => {
        clearTimeout(timer)
        resolve({ code, reason: reason.toString() })
      })
    })
  )

const joined = (url: string) =>
  Effect.gen(function*() {
    const client = yield* raw(url)
    const welcome = yield* promise(() => client.hello())
    expect(welcome[0]).toBe(2)
    return client
  })

/** Sends `message` and returns the answer. */
const ask = (client: RawClient, message: ReadonlyArray<unknown>) =>
  promise(() => {
    client.send(message)
    return client.next()
  })

describe("open_handshake_timeout", () => {
  it.live("a connection that sends no HELLO is closed; one that joins in time stays", () =>
    Effect.gen(function*() {
      const r = yield* router(configWith({ websocket: { openHandshakeTimeout: 300 } }))
      // measured from before the connection: the router's timer starts after it (a busy machine may
      // take long to connect the next client, which must not count)
      const started = Date.now()
      const silent = yield* upgrade(r.url)
      const member = yield* joined(r.url)
      const closed = yield* closedWithin(silent.ws!, 20_000)
      expect(closed).not.toBe("open")
      if (closed === "open") return
      expect(Date.now() - started).toBeGreaterThanOrEqual(300)
      expect(closed.code).toBe(1008)
      expect(closed.reason).toContain("open_handshake_timeout")
      // the joined session outlives the timeout: a barrier, not a silence window; a second silent
      // connection, opened after the member joined, is closed by its own timeout first
      const later = yield* upgrade(r.url)
      const laterClosed = yield* closedWithin(later.ws!, 20_000)
      expect(laterClosed).not.toBe("open")
      expect(member.ws.readyState).toBe(member.ws.OPEN)
      expect((yield* ask(member, [REGISTER, 1, {}, "com.example.p"]))[0]).toBe(REGISTERED)
    }))

  it.live("it also bounds the HTTP request: a TCP connection that sends nothing gets 408 and is closed", () =>
    Effect.gen(function*() {
      const r = yield* router(configWith({ websocket: { openHandshakeTimeout: 300 } }))
      const port = r.listening[0]!.port
      const outcome = yield* promise(() =>
        new Promise<{ readonly reply: string; readonly after: number }>((resolve) => {
          const started = Date.now()
          let reply = ""
          const socket = connect(port, "127.0.0.1")
          socket.on("data", (d: Buffer) => (reply += d.toString()))
          socket.on("error", () => {})
          socket.on("close", () => resolve({ reply, after: Date.now() - started }))
        })
      )
      expect(outcome.reply).toMatch(/^HTTP\/1\.1 408/)
      expect(outcome.after).toBeGreaterThanOrEqual(250)
    }))

  it.live("0 turns it off", () =>
    Effect.gen(function*() {
      const r = yield* router(configWith({ websocket: { openHandshakeTimeout: 0 } }))
      const silent = yield* upgrade(r.url)
      expect(yield* closedWithin(silent.ws!, 600)).toBe("open")
    }))

  it.live("the default (10 s) gives a client more than a second to join", () =>
    Effect.gen(function*() {
      const r = yield* router()
      const silent = yield* upgrade(r.url)
      expect(yield* closedWithin(silent.ws!, 1000)).toBe("open")
    }))
})

describe("allowed_origins", () => {
  const origins = { allowedOrigins: ["https://app.example.com", "http://localhost:*"] }

  it.live("a browser page from another origin is refused with 403; listed origins and non-browser clients are not", () =>
    Effect.gen(function*() {
      const r = yield* router(configWith({ websocket: origins }))
      const foreign = yield* upgrade(r.url, {}, "https://evil.example")
      expect(foreign.status).toBe(403)
      expect(foreign.body).toContain("allowed_origins")
      expect((yield* upgrade(r.url, {}, "http://localhost:5173")).status).toBe(101)
      expect((yield* upgrade(r.url, {}, "HTTPS://APP.EXAMPLE.COM")).status).toBe(101)
      expect((yield* upgrade(r.url, {}, "https://app.example.com.evil.example")).status).toBe(403)
      // no Origin header: not a browser, nobody to protect
      expect((yield* upgrade(r.url)).status).toBe(101)
      expect((yield* upgrade(r.url, {}, "null")).status).toBe(403)
    }))

  it.live("allow_null_origin admits sandboxed pages (Origin: null)", () =>
    Effect.gen(function*() {
      const r = yield* router(configWith({ websocket: { ...origins, allowNullOrigin: true } }))
      expect((yield* upgrade(r.url, {}, "null")).status).toBe(101)
    }))

  it.live("without allowed_origins every origin may connect (Crossbar's default)", () =>
    Effect.gen(function*() {
      const r = yield* router()
      expect((yield* upgrade(r.url, {}, "https://anywhere.example")).status).toBe(101)
    }))

  it("patterns: * matches any run of characters, nothing else is special", () => {
    const check = originCheck(["https://*.example.com", "http://a.b:8080"], false)
    expect(check("https://x.example.com")).toBe(true)
    expect(check("https://x.y.example.com")).toBe(true)
    expect(check("https://example.com")).toBe(false)
    expect(check("http://a.b:8080")).toBe(true)
    expect(check("http://axb:8080")).toBe(false)
    expect(originCheck(["*"], false)("null")).toBe(true)
    // a list of origins (repeated headers, joined) is no origin
    expect(originCheck(["http://localhost:*"], false)("http://localhost:8080, https://evil.example")).toBe(false)
    fc.assert(
      fc.property(fc.string(), fc.string(), (allowed, other) => {
        const literal = allowed.replaceAll("*", "").replace(/[\s,]/g, "")
        const only = originCheck([literal], false)
        expect(only(literal.toLowerCase() === "null" ? "x" : literal)).toBe(literal.toLowerCase() !== "null")
        if (other.toLowerCase() !== literal.toLowerCase()) expect(only(other)).toBe(false)
      }),
      { numRuns: 1000 }
    )
  })
})

describe("max_connections", () => {
  it.live("a transport holds at most max_connections WebSockets; a further upgrade gets 503 until one closes", () =>
    Effect.gen(function*() {
      const r = yield* router(configWith({ maxConnections: 2 }))
      const first = yield* joined(r.url)
      yield* joined(r.url)
      const refused = yield* upgrade(r.url)
      expect(refused.status).toBe(503)
      expect(refused.body).toContain("max_connections 2")
      first.close()
      yield* promise(() => first.closed)
      // the router sees the close a moment later (a generous ceiling: the machine may be busy)
      let status = 0
      for (const deadline = Date.now() + 20_000; Date.now() < deadline && status !== 101;) {
        status = (yield* upgrade(r.url)).status
        if (status !== 101) yield* promise(() => new Promise((resolve) => setTimeout(resolve, 20)))
      }
      expect(status).toBe(101)
    }))
})

describe("per-session limits: an ERROR with wampgres.error.limit_exceeded, the session stays", () => {
  it.live("max_registrations_per_session", () =>
    Effect.gen(function*() {
      const r = yield* router(testConfig({ realms: [realmWith({ maxRegistrationsPerSession: 2 })] }))
      const c = yield* joined(r.url)
      const first = yield* ask(c, [REGISTER, 1, {}, "com.example.a"])
      expect((yield* ask(c, [REGISTER, 2, {}, "com.example.b"]))[0]).toBe(REGISTERED)
      const refused = yield* ask(c, [REGISTER, 3, {}, "com.example.c"])
      expect(refused.slice(0, 5)).toEqual([ERROR, REGISTER, 3, {}, LIMIT_EXCEEDED])
      expect(String((refused[5] as Array<unknown>)[0])).toContain("max_registrations_per_session")
      // another session is not limited by this one's count
      const other = yield* joined(r.url)
      expect((yield* ask(other, [REGISTER, 1, {}, "com.example.c"]))[0]).toBe(REGISTERED)
      // unregistering frees a place; the session was never closed
      expect(yield* ask(c, [UNREGISTER, 4, first[2]])).toEqual([UNREGISTERED, 4])
      expect((yield* ask(c, [REGISTER, 5, {}, "com.example.d"]))[0]).toBe(REGISTERED)
    }))

  it.live("max_subscriptions_per_session (subscribing again to a topic it has is no new subscription)", () =>
    Effect.gen(function*() {
      const r = yield* router(testConfig({ realms: [realmWith({ maxSubscriptionsPerSession: 2 })] }))
      const c = yield* joined(r.url)
      const a = yield* ask(c, [SUBSCRIBE, 1, {}, "com.example.a"])
      expect((yield* ask(c, [SUBSCRIBE, 2, { match: "prefix" }, "com.example"]))[0]).toBe(SUBSCRIBED)
      const refused = yield* ask(c, [SUBSCRIBE, 3, {}, "com.example.c"])
      expect(refused.slice(0, 5)).toEqual([ERROR, SUBSCRIBE, 3, {}, LIMIT_EXCEEDED])
      expect(String((refused[5] as Array<unknown>)[0])).toContain("max_subscriptions_per_session")
      expect(yield* ask(c, [SUBSCRIBE, 4, {}, "com.example.a"])).toEqual([SUBSCRIBED, 4, a[2]])
      // still subscribed and served
      const publisher = yield* joined(r.url)
      publisher.send([16, 1, {}, "com.example.a", ["hi"]])
      const event = yield* promise(() => c.next())
      expect(event[0]).toBe(EVENT)
      expect(event[4]).toEqual(["hi"])
    }))

  it.live("max_calls_in_flight_per_session", () =>
    Effect.gen(function*() {
      const r = yield* router(testConfig({ realms: [realmWith({ maxCallsInFlightPerSession: 2 })] }))
      const callee = yield* joined(r.url)
      expect((yield* ask(callee, [REGISTER, 1, {}, "com.example.slow"]))[0]).toBe(REGISTERED)
      const caller = yield* joined(r.url)
      caller.send([CALL, 1, {}, "com.example.slow", [1]])
      caller.send([CALL, 2, {}, "com.example.slow", [2]])
      const first = yield* promise(() => callee.next())
      yield* promise(() => callee.next())
      const refused = yield* ask(caller, [CALL, 3, {}, "com.example.slow", [3]])
      expect(refused.slice(0, 5)).toEqual([ERROR, CALL, 3, {}, LIMIT_EXCEEDED])
      expect(String((refused[5] as Array<unknown>)[0])).toContain("max_calls_in_flight_per_session")
      // meta procedures are answered at once and do not count
      expect((yield* ask(caller, [CALL, 4, {}, "wamp.session.count"]))).toEqual([RESULT, 4, {}, [2]])
      // a finished call frees a place
      expect(first[0]).toBe(INVOCATION)
      callee.send([YIELD, first[1], {}, ["one"]])
      expect(yield* promise(() => caller.next())).toEqual([RESULT, 1, {}, ["one"]])
      caller.send([CALL, 5, {}, "com.example.slow", [5]])
      expect((yield* promise(() => callee.next()))[0]).toBe(INVOCATION)
    }))
})

describe("per-session limits against a model", () => {
  type Command = { readonly op: "register" | "unregister" | "subscribe" | "unsubscribe"; readonly n: number }
  const command: fc.Arbitrary<Command> = fc.record({
    op: fc.constantFrom("register" as const, "unregister" as const, "subscribe" as const, "unsubscribe" as const),
    n: fc.integer({ min: 0, max: 5 })
  })

  it.live("any sequence of (un)registrations and (un)subscriptions: refused exactly when the session is at its limit", () =>
    Effect.gen(function*() {
      const r = yield* router(testConfig({ realms: [realmWith({ maxRegistrationsPerSession: 3, maxSubscriptionsPerSession: 2 })] }))
      yield* promise(() =>
        fc.assert(
          fc.asyncProperty(fc.array(command, { minLength: 1, maxLength: 20 }), async (commands) => {
            const c = await RawClient.open(r.url)
            try {
              await c.hello()
              const registered = new Map<number, unknown>()
              const subscribed = new Map<number, unknown>()
              let request = 0
              const send = async (m: Array<unknown>) => {
                c.send(m)
                return c.next()
              }
              for (const { op, n } of commands) {
                request++
                if (op === "register") {
                  const answer = await send([REGISTER, request, {}, `com.example.p${n}`])
                  if (registered.has(n)) expect(answer[4]).toBe("wamp.error.procedure_already_exists")
                  else if (registered.size >= 3) expect(answer.slice(0, 5)).toEqual([ERROR, REGISTER, request, {}, LIMIT_EXCEEDED])
                  else {
                    expect(answer[0]).toBe(REGISTERED)
                    registered.set(n, answer[2])
                  }
                } else if (op === "unregister" && registered.has(n)) {
                  expect(await send([UNREGISTER, request, registered.get(n)])).toEqual([UNREGISTERED, request])
                  registered.delete(n)
                } else if (op === "subscribe") {
                  const answer = await send([SUBSCRIBE, request, {}, `com.example.t${n}`])
                  if (!subscribed.has(n) && subscribed.size >= 2) {
                    expect(answer.slice(0, 5)).toEqual([ERROR, SUBSCRIBE, request, {}, LIMIT_EXCEEDED])
                  } else {
                    expect(answer[0]).toBe(SUBSCRIBED)
                    if (subscribed.has(n)) expect(answer[2]).toBe(subscribed.get(n))
                    subscribed.set(n, answer[2])
                  }
                } else if (op === "unsubscribe" && subscribed.has(n)) {
                  expect(await send([34, request, subscribed.get(n)])).toEqual([35, request])
                  subscribed.delete(n)
                }
              }
              // the session is still there and answers
              expect((await send([CALL, ++request, {}, "wamp.session.count", []]))[0]).toBe(RESULT)
            } finally {
              c.close()
            }
          }),
          { numRuns: 60 }
        )
      )
    }), 60_000)
})

describe("the realm's enable_meta_api", () => {
  it.live("false: meta procedures are no_such_procedure and no meta event is published", () =>
    Effect.gen(function*() {
      const r = yield* router(testConfig({ realms: [realmWith({ enableMetaApi: false })] }))
      const watcher = yield* joined(r.url)
      for (const [i, procedure] of ["wamp.session.count", "wamp.session.get", "wamp.registration.list", "wamp.subscription.list"].entries()) {
        const answer = yield* ask(watcher, [CALL, i + 1, {}, procedure, []])
        expect(answer.slice(0, 5), procedure).toEqual([ERROR, CALL, i + 1, {}, "wamp.error.no_such_procedure"])
      }
      expect((yield* ask(watcher, [SUBSCRIBE, 9, { match: "prefix" }, "wamp."]))[0]).toBe(SUBSCRIBED)
      expect((yield* ask(watcher, [SUBSCRIBE, 10, {}, "com.barrier"]))[0]).toBe(SUBSCRIBED)
      const other = yield* joined(r.url)
      expect((yield* ask(other, [REGISTER, 1, {}, "com.example.p"]))[0]).toBe(REGISTERED)
      other.close()
      // barrier: once a third session finds other's procedure gone, other has left; its event on
      // com.barrier, published after the join, register and leave, is the watcher's first message
      const third = yield* joined(r.url)
      for (let request = 1; ; request++) {
        const answer = yield* ask(third, [CALL, request, {}, "com.example.p", []])
        if (answer[0] === ERROR) break
      }
      third.send([PUBLISH, 1, {}, "com.barrier", ["barrier"]])
      expect((yield* promise(() => watcher.next(10_000)))[4]).toEqual(["barrier"])
    }))

  it.live("false: WELCOME announces no meta API feature; true: it announces them", () =>
    Effect.gen(function*() {
      const features = (welcome: ReadonlyArray<unknown>) => {
        const roles = (welcome[2] as { roles: Record<string, { features: Record<string, boolean> }> }).roles
        return [...Object.keys(roles["broker"]!.features), ...Object.keys(roles["dealer"]!.features)]
      }
      const off = yield* router(testConfig({ realms: [realmWith({ enableMetaApi: false })] }))
      const offClient = yield* raw(off.url)
      const offFeatures = features(yield* promise(() => offClient.hello()))
      expect(offFeatures.filter((f) => f.endsWith("_meta_api"))).toEqual([])
      expect(offFeatures).toContain("call_canceling")
      const on = yield* router(testConfig({ realms: [realmWith({ enableMetaApi: true })] }))
      const onClient = yield* raw(on.url)
      const onFeatures = features(yield* promise(() => onClient.hello()))
      expect(onFeatures).toEqual(expect.arrayContaining(["session_meta_api", "registration_meta_api", "subscription_meta_api"]))
    }))

  it.live("true (the default): the meta API answers", () =>
    Effect.gen(function*() {
      const r = yield* router(testConfig({ realms: [realmWith({ enableMetaApi: true })] }))
      const c = yield* joined(r.url)
      expect(yield* ask(c, [CALL, 1, {}, "wamp.session.count", []])).toEqual([RESULT, 1, {}, [1]])
    }))
})

describe("session details in the meta API", () => {
  const secrets = {
    cookie: "sid=secret-session",
    authorization: "Bearer secret-token",
    "proxy-authorization": "Basic c2VjcmV0",
    "x-forwarded-for": "10.1.2.3",
    "x-api-key": "secret-key",
    "user-agent": "limits-test/1.0"
  }

  /** A joined session over a WebSocket that sent `secrets`, speaking JSON by hand. */
  const joinedWithHeaders = (url: string) =>
    Effect.gen(function*() {
      const { ws } = yield* upgrade(url, secrets, "http://localhost:8080")
      const welcome = yield* promise(() =>
        new Promise<Array<unknown>>((resolve) => {
          ws!.once("message", (data: Buffer) => resolve(JSON.parse(data.toString()) as Array<unknown>))
          ws!.send(JSON.stringify([1, "realm1", { roles: { caller: {} } }]))
        })
      )
      return welcome[1] as number
    })

  const expectNoSecrets = (details: Record<string, unknown>) => {
    const text = JSON.stringify(details)
    for (const value of ["secret-session", "secret-token", "c2VjcmV0", "10.1.2.3", "secret-key"]) expect(text).not.toContain(value)
    const transport = details["transport"] as Record<string, unknown>
    expect(transport).toMatchObject({ type: "websocket", protocol: "wamp.2.json" })
    expect(transport["peer"]).toMatch(/^tcp:127\.0\.0\.1:\d+$/)
    expect(transport["http_headers_received"]).toMatchObject({ "user-agent": "limits-test/1.0", origin: "http://localhost:8080" })
  }

  it.live("wamp.session.get and wamp.session.on_join never carry cookies, credentials or forwarding headers", () =>
    Effect.gen(function*() {
      const r = yield* router()
      const watcher = yield* joined(r.url)
      expect((yield* ask(watcher, [SUBSCRIBE, 1, {}, "wamp.session.on_join"]))[0]).toBe(SUBSCRIBED)
      const id = yield* joinedWithHeaders(r.url)
      const joinEvent = yield* promise(() => watcher.next())
      expect(joinEvent[0]).toBe(EVENT)
      const joinDetails = (joinEvent[4] as Array<Record<string, unknown>>)[0]!
      expect(joinDetails["session"]).toBe(id)
      expectNoSecrets(joinDetails)
      const got = yield* ask(watcher, [CALL, 2, {}, "wamp.session.get", [id]])
      expect(got[0]).toBe(RESULT)
      expectNoSecrets((got[3] as Array<Record<string, unknown>>)[0]!)
    }))

  it("publicHeaders keeps only host, origin, user-agent and the WebSocket protocol headers", () => {
    fc.assert(
      fc.property(fc.dictionary(fc.string({ minLength: 1 }).map((s) => s.toLowerCase()), fc.string()), (headers) => {
        const kept = publicHeaders(headers)
        for (const name of Object.keys(kept)) {
          expect(["host", "origin", "user-agent", "sec-websocket-protocol", "sec-websocket-version"]).toContain(name)
          expect(kept[name]).toBe(headers[name])
        }
      }),
      { numRuns: 500 }
    )
    expect(publicHeaders({ cookie: "a", authorization: "b", host: "h", "x-forwarded-for": "1.2.3.4" })).toEqual({ host: "h" })
  })
})
