/**
 * A role's dynamic authorizer (Crossbar's `authorizer`): the router asks a procedure a client
 * registered, with (session details, uri, action, options), and follows its answer (a boolean or
 * {allow, disclose, cache}); the session's messages keep their order meanwhile. And the session
 * kill procedures of the meta API; and a handshake's hostile input.
 */
import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as fc from "fast-check"
import { attempt, type Attempt, leave } from "./auth-client.js"
import { parseRouterConfig } from "../../src/router/config.js"
import { startRouter } from "../../src/router/index.js"
import { ALICE, AUTH_ENV, AUTHENTICATE_URI, authConfigJson, AUTHORIZE_URI, authRouter, TICKETS } from "./auth-fixture.js"
import { promise, raw, RawClient } from "./support.js"

const joined = (a: Attempt) => {
  if (!a.joined) throw new Error(`not joined: ${a.reason} ${a.message}`)
  return a
}

const open = (url: string, ...args: Parameters<typeof attempt> extends [string, ...infer R] ? R : never) =>
  Effect.acquireRelease(promise(() => attempt(url, ...args)), (a) => Effect.promise(() => leave(a)))

const outcome = (p: Promise<unknown>): Promise<string> => p.then(() => "ok", (e: { error?: string }) => e.error ?? String(e))

describe("dynamic authorization", () => {
  /** An authorizer (as a backend session) allowing com.example.open.*, caching what ends in ".cached". */
  const authorizer = (staticUrl: string, asked: Array<ReadonlyArray<unknown>>) =>
    Effect.gen(function*() {
      const service = joined(yield* open(staticUrl, { method: "cryptosign", authid: "alice", seed: ALICE.seed, publicKey: ALICE.publicKey }))
      // the backend role may register under com.example. only: the authorizer lives there
      yield* promise(() =>
        service.session.register(AUTHORIZE_URI, (args) => {
          const [session, uri, action] = args as [Record<string, unknown>, string, string]
          asked.push([session["authrole"], session["authid"], uri, action])
          if (uri === "com.example.open.weird") return "yes"
          return { allow: uri.startsWith("com.example.open."), disclose: uri.endsWith(".disclosed"), cache: uri.endsWith(".cached") }
        })
      )
      return service
    })

  it.live("the authorizer decides each action of the role's sessions; cached answers are not asked again", () =>
    Effect.gen(function*() {
      const { staticUrl } = yield* authRouter
      const asked: Array<ReadonlyArray<unknown>> = []
      yield* authorizer(staticUrl, asked)
      const dora = joined(yield* open(staticUrl, { method: "ticket", authid: "dora", ticket: TICKETS.dora }))
      expect(dora.welcome).toMatchObject({ authrole: "dynamic" })
      const s = dora.session
      expect(yield* promise(() => outcome(s.register("com.example.open.echo", (args) => args)))).toBe("ok")
      expect(yield* promise(() => outcome(s.register("com.example.closed.echo", (args) => args)))).toBe("wamp.error.not_authorized")
      expect(yield* promise(() => s.call("com.example.open.echo", [1, 2]))).toEqual([1, 2])
      expect(yield* promise(() => outcome(s.call("com.example.closed.echo")))).toBe("wamp.error.not_authorized")
      expect(yield* promise(() => outcome(s.subscribe("com.example.open.news", () => {})))).toBe("ok")
      expect(yield* promise(() => outcome(s.publish("com.example.closed.news", [], {}, { acknowledge: true })!))).toBe("wamp.error.not_authorized")
      // an answer that is neither a boolean nor a dictionary with allow denies
      expect(yield* promise(() => outcome(s.subscribe("com.example.open.weird", () => {})))).toBe("wamp.error.not_authorized")
      expect(asked).toContainEqual(["dynamic", "dora", "com.example.open.echo", "register"])
      expect(asked).toContainEqual(["dynamic", "dora", "com.example.closed.echo", "call"])
      expect(asked).toContainEqual(["dynamic", "dora", "com.example.closed.news", "publish"])
      expect(asked).toContainEqual(["dynamic", "dora", "com.example.open.news", "subscribe"])

      // cache: true is remembered for the session, anything else is asked every time
      const before = asked.length
      yield* promise(() => s.register("com.example.open.twice.cached", () => 1))
      yield* promise(() => s.call("com.example.open.twice.cached"))
      yield* promise(() => s.call("com.example.open.twice.cached"))
      yield* promise(() => s.call("com.example.open.echo", [3]))
      yield* promise(() => s.call("com.example.open.echo", [4]))
      const calls = asked.slice(before).filter((a) => a[3] === "call").map((a) => a[2])
      expect(calls).toEqual(["com.example.open.twice.cached", "com.example.open.echo", "com.example.open.echo"])
    }))

  it.live("messages sent while an authorization is pending keep their order", () =>
    Effect.gen(function*() {
      const { staticUrl } = yield* authRouter
      yield* authorizer(staticUrl, [])
      const dora = joined(yield* open(staticUrl, { method: "ticket", authid: "dora", ticket: TICKETS.dora }))
      const s = dora.session
      yield* promise(() => s.register("com.example.open.order", (args) => args))
      // fired together: each waits for the authorizer, results in order
      const results = yield* promise(() => Promise.all([1, 2, 3, 4, 5].map((n) => s.call("com.example.open.order", [n]))))
      expect(results).toEqual([[1], [2], [3], [4], [5]])
    }))

  it.live("without the authorizer registered, the role may do nothing", () =>
    Effect.gen(function*() {
      const { staticUrl } = yield* authRouter
      const dora = joined(yield* open(staticUrl, { method: "ticket", authid: "dora", ticket: TICKETS.dora }))
      expect(yield* promise(() => outcome(dora.session.register("com.example.open.x", () => 1)))).toBe("wamp.error.not_authorized")
    }))
})

describe("wamp.session.kill*", () => {
  it.live("kill, kill_by_authid and kill_by_authrole end the sessions with GOODBYE; authorized like any URI", () =>
    Effect.gen(function*() {
      const { staticUrl } = yield* authRouter
      const admin = joined(yield* open(staticUrl, { method: "cryptosign", authid: "alice", seed: ALICE.seed, publicKey: ALICE.publicKey }))
      const closedWith = (a: ReturnType<typeof joined>) =>
        new Promise<unknown>((resolve) => (a.connection.onclose = (_reason, details) => (resolve(details.reason), true)))
      const joe1 = joined(yield* open(staticUrl, { method: "ticket", authid: "joe", ticket: TICKETS.joe }))
      const joe2 = joined(yield* open(staticUrl, { method: "ticket", authid: "joe", ticket: TICKETS.joe }))
      const anon = joined(yield* open(staticUrl, { method: "anonymous" }))
      const anon2 = joined(yield* open(staticUrl, { method: "anonymous" }))
      const joeIds = [joe1.session.id, joe2.session.id].sort()
      const anonId = anon.session.id
      const anon2Id = anon2.session.id
      const joeClosed = [closedWith(joe1), closedWith(joe2)]
      const anonClosed = closedWith(anon)

      // the anonymous role may not call wamp.session.*
      expect(yield* promise(() => outcome(anon2.session.call("wamp.session.kill", [admin.session.id])))).toBe("wamp.error.not_authorized")

      const killed = yield* promise(() => admin.session.call("wamp.session.kill_by_authid", ["joe"]))
      expect([...(killed as Array<number>)].sort()).toEqual(joeIds)
      expect(yield* promise(() => Promise.all(joeClosed))).toEqual(["wamp.close.killed", "wamp.close.killed"])

      yield* promise(() => admin.session.call("wamp.session.kill", [anonId], { reason: "com.example.bye", message: "go" }))
      expect(yield* promise(() => anonClosed)).toBe("com.example.bye")
      expect(yield* promise(() => outcome(admin.session.call("wamp.session.kill", [anonId])))).toBe("wamp.error.no_such_session")
      expect(yield* promise(() => outcome(admin.session.call("wamp.session.kill", [admin.session.id])))).toBe("wamp.error.invalid_argument")
      expect(yield* promise(() => outcome(admin.session.call("wamp.session.kill", [anon2Id], { reason: "not a uri" })))).toBe("wamp.error.invalid_argument")

      const byRole = yield* promise(() => admin.session.call("wamp.session.kill_by_authrole", ["anonymous"]))
      expect(byRole).toEqual([anon2Id])
      expect(yield* promise(() => admin.session.call("wamp.session.count"))).toBe(1)
    }))
})

describe("handshake input", () => {
  it.live("AUTHENTICATE without a CHALLENGE is a protocol violation", () =>
    Effect.gen(function*() {
      const { staticUrl } = yield* authRouter
      const client = yield* raw(staticUrl)
      client.send([5, "signature", {}])
      expect(yield* promise(() => client.next())).toEqual([
        3,
        { message: "message type 5 before the session was established" },
        "wamp.error.protocol_violation"
      ])
      expect((yield* promise(() => client.closed)).code).toBe(1002)
    }))

  it.live("any signature to a challenge is refused with not_authorized, never a crash (fuzz)", () =>
    Effect.gen(function*() {
      const { staticUrl } = yield* authRouter
      const methods = [
        { authmethods: ["ticket"], authid: "joe" },
        { authmethods: ["wampcra"], authid: "salty" },
        { authmethods: ["cryptosign"], authid: "alice", authextra: { pubkey: ALICE.pubkeyHex } }
      ]
      yield* promise(() =>
        fc.assert(
          fc.asyncProperty(fc.constantFrom(...methods), fc.oneof(fc.string(), fc.string({ unit: fc.constantFrom(..."0123456789abcdef"), minLength: 128, maxLength: 192 })), async (details, signature) => {
            const client = await RawClient.open(staticUrl)
            try {
              const challenge = await client.hello("realm1", details)
              expect(challenge[0]).toBe(4)
              client.send([5, signature, {}])
              const abort = await client.next()
              expect(abort).toEqual([3, { message: "authentication failed" }, "wamp.error.not_authorized"])
            } finally {
              client.close()
            }
          }),
          { numRuns: 60 }
        )
      )
    }))
})

describe("secrets in logs", () => {
  it.live("failed attempts and a misbehaving authenticator leave no secret in the router's log", () =>
    Effect.gen(function*() {
      const lines: Array<string> = []
      const log = { debug: (m: string) => void lines.push(m), info: (m: string) => void lines.push(m), warn: (m: string) => void lines.push(m) }
      const loaded = yield* parseRouterConfig(authConfigJson(), "/", AUTH_ENV)
      const r = yield* Effect.acquireRelease(Effect.promise(() => startRouter(loaded.router, { log })), (r) => Effect.promise(() => r.close()))
      const staticUrl = `ws://127.0.0.1:${r.listening[0]!.port}`
      const dynamicUrl = `ws://127.0.0.1:${r.listening[1]!.port}`
      const service = joined(yield* open(staticUrl, { method: "ticket", authid: "auth-service", ticket: TICKETS.authService }))
      // an authenticator that answers a secret of the wrong type: refused, and the answer is not logged
      yield* promise(() => service.session.register(AUTHENTICATE_URI, () => ({ role: "frontend", secret: 42, salt: "s3cr3t-salt" })))
      expect(yield* open(dynamicUrl, { method: "wampcra", authid: "wendy", secret: "wendy-secret-typed" })).toMatchObject({ joined: false })
      expect(yield* open(staticUrl, { method: "ticket", authid: "joe", ticket: "joe-wrong-ticket-typed" })).toMatchObject({ joined: false })
      expect(yield* open(staticUrl, { method: "wampcra", authid: "peter", secret: "peter-wrong-typed" })).toMatchObject({ joined: false })
      expect(lines.some((l) => l.includes("answered wrongly"))).toBe(true)
      for (const secret of ["wendy-secret-typed", "s3cr3t-salt", "joe-wrong-ticket-typed", TICKETS.joe, "peter-wrong-typed", TICKETS.authService]) {
        expect(lines.filter((l) => l.includes(secret))).toEqual([])
      }
    }))
})
