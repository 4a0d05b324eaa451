/**
 * Authentication as Crossbar.io does it, seen by Autobahn|JS: ticket, WAMP-CRA (plain and salted)
 * and cryptosign from static principals; the same from a dynamic authenticator registered by a
 * client; a failure looks the same whether the secret is wrong or the authid unknown.
 */
import { describe, expect, it } from "@effect/vitest"
import autobahn from "autobahn"
import * as Effect from "effect/Effect"
import { attempt, type Attempt, leave } from "./auth-client.js"
import { ALICE, AUTHENTICATE_URI, authRouter, CARL, CRA, TICKETS } from "./auth-fixture.js"
import { promise } from "./support.js"

const joined = (a: Attempt) => {
  if (!a.joined) throw new Error(`not joined: ${a.reason} ${a.message}`)
  return a
}

/** Opens an attempt for the test's scope. */
const open = (url: string, ...args: Parameters<typeof attempt> extends [string, ...infer R] ? R : never) =>
  Effect.acquireRelease(promise(() => attempt(url, ...args)), (a) => Effect.promise(() => leave(a)))

const REFUSED = { joined: false, reason: "wamp.error.not_authorized", message: "authentication failed" }

describe("static authentication", () => {
  it.live("ticket: the right ticket joins with the principal's role; a wrong ticket and an unknown authid are refused alike", () =>
    Effect.gen(function*() {
      const { staticUrl } = yield* authRouter
      const ok = joined(yield* open(staticUrl, { method: "ticket", authid: "joe", ticket: TICKETS.joe }))
      expect(ok.welcome).toMatchObject({ authid: "joe", authrole: "frontend", authmethod: "ticket", authprovider: "static" })
      const wrong = yield* open(staticUrl, { method: "ticket", authid: "joe", ticket: "not-the-ticket" })
      const unknown = yield* open(staticUrl, { method: "ticket", authid: "nobody", ticket: TICKETS.joe })
      expect(wrong).toEqual(REFUSED)
      expect(unknown).toEqual(REFUSED)
    }))

  it.live("a principal bound to another realm is refused on this one", () =>
    Effect.gen(function*() {
      const { staticUrl } = yield* authRouter
      expect(yield* open(staticUrl, { method: "ticket", authid: "elsewhere", ticket: "elsewhere-ticket" })).toEqual(REFUSED)
      const there = joined(yield* open(staticUrl, { method: "ticket", authid: "elsewhere", ticket: "elsewhere-ticket" }, "realm2"))
      expect(there.welcome).toMatchObject({ realm: "realm2", authrole: "frontend" })
    }))

  it.live("wampcra: plain and salted secrets, derived as autobahn derives them", () =>
    Effect.gen(function*() {
      const { staticUrl } = yield* authRouter
      const plain = joined(yield* open(staticUrl, { method: "wampcra", authid: "peter", secret: CRA.peter }))
      expect(plain.welcome).toMatchObject({ authid: "peter", authrole: "frontend", authmethod: "wampcra", authprovider: "static" })
      const salted = joined(yield* open(staticUrl, { method: "wampcra", authid: "salty", secret: CRA.salty }))
      expect(salted.welcome).toMatchObject({ authid: "salty", authmethod: "wampcra" })
      expect(yield* open(staticUrl, { method: "wampcra", authid: "peter", secret: "wrong" })).toEqual(REFUSED)
      expect(yield* open(staticUrl, { method: "wampcra", authid: "salty", secret: CRA.peter })).toEqual(REFUSED)
      expect(yield* open(staticUrl, { method: "wampcra", authid: "nobody", secret: CRA.peter })).toEqual(REFUSED)
    }))

  it.live("cryptosign: the authorized key joins, by authid or by public key alone; another key is refused", () =>
    Effect.gen(function*() {
      const { staticUrl } = yield* authRouter
      const byAuthid = joined(yield* open(staticUrl, { method: "cryptosign", authid: "alice", seed: ALICE.seed, publicKey: ALICE.publicKey }))
      expect(byAuthid.welcome).toMatchObject({ authid: "alice", authrole: "backend", authmethod: "cryptosign", authprovider: "static" })
      const byKey = joined(yield* open(staticUrl, { method: "cryptosign", seed: ALICE.seed, publicKey: ALICE.publicKey }))
      expect(byKey.welcome).toMatchObject({ authid: "alice", authrole: "backend" })
      expect(yield* open(staticUrl, { method: "cryptosign", authid: "alice", seed: CARL.seed, publicKey: CARL.publicKey })).toEqual(REFUSED)
      expect(yield* open(staticUrl, { method: "cryptosign", authid: "nobody", seed: ALICE.seed, publicKey: ALICE.publicKey })).toEqual(REFUSED)
      // a key that signs for another's public key
      expect(yield* open(staticUrl, { method: "cryptosign", authid: "alice", seed: CARL.seed, publicKey: ALICE.publicKey })).toEqual(REFUSED)
    }))

  it.live("anonymous gets the anonymous role, which may call but not register under com.example.", () =>
    Effect.gen(function*() {
      const { staticUrl } = yield* authRouter
      const anon = joined(yield* open(staticUrl, { method: "anonymous" }))
      expect(anon.welcome).toMatchObject({ authrole: "anonymous", authmethod: "anonymous" })
      const refused = yield* promise(() => anon.session.register("com.example.take", () => 1).then(() => "registered", (e: { error: string }) => e.error))
      expect(refused).toBe("wamp.error.not_authorized")
    }))
})

describe("dynamic authentication", () => {
  /** The authenticator: a client (ticket, role authenticator) registers the procedure the router calls. */
  const authenticator = (staticUrl: string, seen: Array<ReadonlyArray<unknown>>) =>
    Effect.gen(function*() {
      const service = joined(yield* open(staticUrl, { method: "ticket", authid: "auth-service", ticket: TICKETS.authService }))
      yield* promise(() =>
        service.session.register(AUTHENTICATE_URI, (args) => {
          const [realm, authid, details] = args as [string, string | null, Record<string, unknown>]
          seen.push([realm, authid, details["authmethod"], details["session"]])
          switch (details["authmethod"]) {
            case "ticket":
              if (authid === "tom" && details["ticket"] === "tom-ticket") return "frontend"
              break
            case "wampcra":
              if (authid === "wendy") return { secret: "wendy-secret", role: "frontend", salt: "pepper", iterations: 50, keylen: 32 }
              break
            case "cryptosign":
              if (authid === "carl") return { pubkey: CARL.pubkeyHex, role: "backend" }
              break
          }
          throw new autobahn.Error("com.example.auth.denied", ["no such principal"])
        })
      )
      return service
    })

  it.live("the authenticator's answer decides: ticket, salted wampcra and cryptosign principals join with the role it names", () =>
    Effect.gen(function*() {
      const { dynamicUrl, staticUrl } = yield* authRouter
      const seen: Array<ReadonlyArray<unknown>> = []
      yield* authenticator(staticUrl, seen)
      const tom = joined(yield* open(dynamicUrl, { method: "ticket", authid: "tom", ticket: "tom-ticket" }))
      expect(tom.welcome).toMatchObject({ authid: "tom", authrole: "frontend", authmethod: "ticket", authprovider: "dynamic" })
      const wendy = joined(yield* open(dynamicUrl, { method: "wampcra", authid: "wendy", secret: "wendy-secret" }))
      expect(wendy.welcome).toMatchObject({ authid: "wendy", authrole: "frontend", authmethod: "wampcra", authprovider: "dynamic" })
      const carl = joined(yield* open(dynamicUrl, { method: "cryptosign", authid: "carl", seed: CARL.seed, publicKey: CARL.publicKey }))
      expect(carl.welcome).toMatchObject({ authid: "carl", authrole: "backend", authmethod: "cryptosign", authprovider: "dynamic" })
      expect(seen.map((s) => s.slice(0, 3))).toEqual([["realm1", "tom", "ticket"], ["realm1", "wendy", "wampcra"], ["realm1", "carl", "cryptosign"]])
      // the session id the authenticator was told is the one WELCOME gave
      expect(seen[0]![3]).toBe(tom.session.id)
    }))

  it.live("a wrong answer to the challenge is refused; the authenticator's own error is passed on", () =>
    Effect.gen(function*() {
      const { dynamicUrl, staticUrl } = yield* authRouter
      yield* authenticator(staticUrl, [])
      expect(yield* open(dynamicUrl, { method: "ticket", authid: "tom", ticket: "wrong" })).toMatchObject({ joined: false, reason: "com.example.auth.denied" })
      expect(yield* open(dynamicUrl, { method: "wampcra", authid: "wendy", secret: "wrong" })).toEqual(REFUSED)
      expect(yield* open(dynamicUrl, { method: "cryptosign", authid: "carl", seed: ALICE.seed, publicKey: ALICE.publicKey })).toEqual(REFUSED)
      expect(yield* open(dynamicUrl, { method: "wampcra", authid: "nobody", secret: "x" })).toMatchObject({ joined: false, reason: "com.example.auth.denied" })
    }))

  it.live("without an authenticator registered, every attempt is refused", () =>
    Effect.gen(function*() {
      const { dynamicUrl } = yield* authRouter
      expect(yield* open(dynamicUrl, { method: "ticket", authid: "tom", ticket: "tom-ticket" })).toEqual(REFUSED)
      expect(yield* open(dynamicUrl, { method: "wampcra", authid: "wendy", secret: "wendy-secret" })).toEqual(REFUSED)
    }))
})
