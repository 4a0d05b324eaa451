/**
 * The router configuration the authentication tests share (Autobahn|JS and Autobahn|Python): a
 * Crossbar node configuration with two WebSocket transports, one with static principals for
 * ticket, WAMP-CRA (plain and salted) and cryptosign, one with a dynamic authenticator for each,
 * and roles with static permissions or a dynamic authorizer.
 */
import { createHash, createPrivateKey, createPublicKey } from "node:crypto"
import * as Effect from "effect/Effect"
import { parseRouterConfig } from "../../src/router/config.js"
import { type RunningRouter, startRouter } from "../../src/router/index.js"

/** A deterministic Ed25519 key for a test principal: seed = SHA-256 of the name. */
export const testKey = (name: string): { readonly seed: Buffer; readonly publicKey: Buffer; readonly pubkeyHex: string } => {
  const seed = createHash("sha256").update(name).digest()
  const key = createPrivateKey({ key: Buffer.concat([Buffer.from("302e020100300506032b657004220420", "hex"), seed]), format: "der", type: "pkcs8" })
  const publicKey = createPublicKey(key).export({ format: "der", type: "spki" }).subarray(12)
  return { seed, publicKey, pubkeyHex: publicKey.toString("hex") }
}

export const ALICE = testKey("alice")
export const CARL = testKey("carl")

export const TICKETS = { joe: "joe-ticket-0123456789", dora: "dora-ticket", authService: "auth-service-ticket" } as const
export const CRA = { peter: "peter-secret", salty: "salty-secret", salt: "salt123", iterations: 100, keylen: 32 } as const

/** The procedures the authenticator client registers. */
export const AUTHENTICATE_URI = "com.example.auth.authenticate"
export const AUTHORIZE_URI = "com.example.auth.authorize"

const allow = (uri: string, actions: ReadonlyArray<string>) => ({
  uri,
  allow: Object.fromEntries(["call", "register", "publish", "subscribe"].map((a) => [a, actions.includes(a)]))
})

/** Environment variables the configuration refers to (`${ALICE_PUBKEY}`, as Crossbar substitutes them). */
export const AUTH_ENV = { ALICE_PUBKEY: ALICE.pubkeyHex }

export const authConfigJson = () => ({
  version: 2,
  workers: [{
    type: "router",
    realms: [{ name: "realm2", roles: [{ name: "frontend", permissions: [] }] }, {
      name: "realm1",
      roles: [
        { name: "anonymous", permissions: [allow("com.example.*", ["call", "subscribe"])] },
        { name: "frontend", permissions: [allow("com.example.*", ["call", "subscribe", "publish"])] },
        { name: "backend", permissions: [allow("com.example.*", ["call", "subscribe", "publish", "register"]), allow("wamp.session.*", ["call"])] },
        { name: "authenticator", permissions: [allow("com.example.auth.*", ["register"])] },
        { name: "dynamic", authorizer: AUTHORIZE_URI }
      ]
    }],
    transports: [
      {
        type: "websocket",
        endpoint: { type: "tcp", port: 0, interface: "127.0.0.1" },
        auth: {
          ticket: {
            type: "static",
            principals: {
              joe: { ticket: TICKETS.joe, role: "frontend" },
              dora: { ticket: TICKETS.dora, role: "dynamic" },
              "auth-service": { ticket: TICKETS.authService, role: "authenticator", realm: "realm1" },
              elsewhere: { ticket: "elsewhere-ticket", role: "frontend", realm: "realm2" }
            }
          },
          wampcra: {
            type: "static",
            users: {
              peter: { secret: CRA.peter, role: "frontend" },
              salty: { secret: CRA.salty, role: "frontend", salt: CRA.salt, iterations: CRA.iterations, keylen: CRA.keylen }
            }
          },
          cryptosign: {
            type: "static",
            principals: { alice: { authorized_keys: ["${ALICE_PUBKEY}"], role: "backend" } }
          },
          anonymous: { type: "static", role: "anonymous" }
        }
      },
      {
        type: "websocket",
        endpoint: { type: "tcp", port: 0, interface: "127.0.0.1" },
        auth: {
          ticket: { type: "dynamic", authenticator: AUTHENTICATE_URI },
          wampcra: { type: "dynamic", authenticator: AUTHENTICATE_URI, "authenticator-realm": "realm1" },
          cryptosign: { type: "dynamic", authenticator: AUTHENTICATE_URI }
        }
      }
    ]
  }]
})

export interface AuthRouter {
  readonly router: RunningRouter
  /** The transport with static principals. */
  readonly staticUrl: string
  /** The transport whose methods ask the dynamic authenticator. */
  readonly dynamicUrl: string
}

/** The router of {@link authConfigJson} for the test's scope. */
export const authRouter: Effect.Effect<AuthRouter, unknown, import("effect/Scope").Scope> = Effect.gen(function*() {
  const loaded = yield* parseRouterConfig(authConfigJson(), "/", AUTH_ENV)
  const router = yield* Effect.acquireRelease(Effect.promise(() => startRouter(loaded.router)), (r) => Effect.promise(() => r.close()))
  const url = (i: number) => `ws://127.0.0.1:${router.listening[i]!.port}`
  return { router, staticUrl: url(0), dynamicUrl: url(1) }
})
