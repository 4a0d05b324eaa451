/**
 * The `auth` section of a transport and a role's `authorizer`, as Crossbar's configuration check
 * reads them: what loads, and errors that name their JSON path.
 */
import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import { parseRouterConfig } from "../../src/router/config.js"
import { ALICE, AUTH_ENV, authConfigJson } from "./auth-fixture.js"

type Json = Record<string, any>

const errorOf = (json: unknown, env: Record<string, string> = AUTH_ENV) =>
  Effect.flip(parseRouterConfig(json, "/", env)).pipe(Effect.map((e) => e.message))

const edit = (change: (worker: Json) => void): Json => {
  const json = authConfigJson() as Json
  change(json["workers"][0])
  return json
}

describe("auth configuration", () => {
  it.effect("loads static and dynamic methods in the order written, with ${VAR} secrets from the environment", () =>
    Effect.gen(function*() {
      const loaded = yield* parseRouterConfig(authConfigJson(), "/", AUTH_ENV)
      const transports = loaded.router.transports
      const auth = transports[0]!.type === "websocket" ? transports[0]!.options.auth : []
      expect(auth.map((m) => m.type)).toEqual(["ticket", "wampcra", "cryptosign", "anonymous"])
      const cryptosign = auth[2]!
      expect(cryptosign.type === "cryptosign" && cryptosign.provider === "static" && cryptosign.principals.get("alice")?.authorizedKeys).toEqual([ALICE.pubkeyHex])
      const dynamic = transports[1]!.type === "websocket" ? transports[1]!.options.auth : []
      expect(dynamic).toContainEqual({ type: "wampcra", provider: "dynamic", authenticator: "com.example.auth.authenticate", authenticatorRealm: "realm1" })
      expect(loaded.router.realms[1]!.roles.find((r) => r.name === "dynamic")?.authorizer).toBe("com.example.auth.authorize")
    }))

  const cases: ReadonlyArray<readonly [string, Json, string, Record<string, string>?]> = [
    ["an unset environment variable", authConfigJson() as Json, "workers[0].transports[0].auth.cryptosign.principals.alice.authorized_keys[0]: environment variable ALICE_PUBKEY is not set", {}],
    [
      "a dynamic authenticator that is not a URI",
      edit((w) => (w["transports"][1].auth.ticket.authenticator = "not a uri")),
      `workers[0].transports[1].auth.ticket.authenticator: "not a uri" is not a valid procedure URI`
    ],
    [
      "an authenticator realm that does not exist",
      edit((w) => (w["transports"][1].auth.wampcra["authenticator-realm"] = "nowhere")),
      `workers[0].transports[1].auth.wampcra.authenticator-realm: realm "nowhere" is not defined on this router`
    ],
    [
      "a method type other than static or dynamic",
      edit((w) => (w["transports"][0].auth.ticket.type = "ldap")),
      `workers[0].transports[0].auth.ticket.type: expected "static" or "dynamic", got "ldap"`
    ],
    [
      "iterations without a salt",
      edit((w) => (w["transports"][0].auth.wampcra.users.peter.iterations = 10)),
      `workers[0].transports[0].auth.wampcra.users.peter: "iterations" and "keylen" only apply to a salted secret (add "salt")`
    ],
    [
      "a principal's realm that does not exist",
      edit((w) => (w["transports"][0].auth.ticket.principals.joe.realm = "nowhere")),
      `workers[0].transports[0].auth.ticket.principals.joe.realm: realm "nowhere" is not defined on this router`
    ],
    [
      "a role with both permissions and an authorizer",
      edit((w) => (w["realms"][1].roles[4].permissions = [])),
      `workers[0].realms[1].roles[4].permissions: a role has either "permissions" (static) or an "authorizer" (dynamic), not both`
    ],
    [
      "an authorizer that is not a URI",
      edit((w) => (w["realms"][1].roles[4].authorizer = "com..x")),
      `workers[0].realms[1].roles[4].authorizer: "com..x" is not a valid procedure URI`
    ],
    [
      "an unknown key in a principal (a typo of a secret's name)",
      edit((w) => (w["transports"][0].auth.ticket.principals.joe.tiket = "x")),
      `workers[0].transports[0].auth.ticket.principals.joe: unknown key "tiket"`
    ]
  ]
  for (const [name, json, expected, env] of cases) {
    it.effect(name, () =>
      Effect.gen(function*() {
        const message = yield* errorOf(json, env)
        expect(message.startsWith(expected)).toBe(true)
        // a secret's value never appears in an error
        expect(message).not.toContain("joe-ticket")
      }))
  }
})
