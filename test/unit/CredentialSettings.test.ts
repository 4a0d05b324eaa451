/**
 * The component's credential settings (WAMP_AUTHMETHOD, WAMP_AUTHID, WAMP_SECRET_FILE): their
 * defaults for the embedded and an external router, and how a start-up failure about them reads.
 */
import { assert, describe, it } from "@effect/vitest"
import * as ConfigProvider from "effect/ConfigProvider"
import * as Effect from "effect/Effect"
import * as Path from "node:path"
import { CredentialsError } from "../../src/layers/Credentials.js"
import * as Settings from "../../src/Settings.js"
import { WampError } from "../../src/layers/wamp/Protocol.js"
import { describeError } from "../../src/StartupFailure.js"

const load = (env: Record<string, string>) =>
  Settings.load.pipe(Effect.provideService(ConfigProvider.ConfigProvider, ConfigProvider.fromEnv({ env })))

describe("credential settings", () => {
  it.effect("with the embedded router: cryptosign as wampgres, with the key created in the data directory", () =>
    Effect.gen(function*() {
      const s = yield* load({ WAMPGRES_DATA_DIR: "/var/lib/wg" })
      assert.deepStrictEqual(s.wamp.credentials, { method: "cryptosign", authid: "wampgres", secretFile: undefined, defaultKeyFile: Path.resolve("/var/lib/wg", "component.key") })
    }))

  it.effect("with WAMP_URL: anonymous unless WAMP_AUTHMETHOD says otherwise", () =>
    Effect.gen(function*() {
      assert.strictEqual((yield* load({ WAMP_URL: "ws://crossbar:8080/ws" })).wamp.credentials.method, "anonymous")
      const s = yield* load({ WAMP_URL: "ws://crossbar:8080/ws", WAMP_AUTHMETHOD: "wampcra", WAMP_AUTHID: "svc", WAMP_SECRET_FILE: "/run/secrets/cra" })
      assert.deepStrictEqual(s.wamp.credentials, { method: "wampcra", authid: "svc", secretFile: "/run/secrets/cra", defaultKeyFile: Path.resolve(".data", "component.key") })
    }))

  it.effect("an unknown method is refused, naming the variable and the methods", () =>
    Effect.gen(function*() {
      const error = yield* Effect.flip(load({ WAMP_AUTHMETHOD: "password" }))
      assert.include(Settings.messageOf(error), `WAMP_AUTHMETHOD="password" is not valid: expected one of anonymous, ticket, wampcra, cryptosign`)
    }))

  it("start-up failures about credentials name the variables to check", () => {
    assert.match(describeError(new CredentialsError({ message: "/k: not an Ed25519 key" })), /credentials are unusable: \/k: not an Ed25519 key\n.*WAMP_SECRET_FILE/)
    const refused = new WampError({ error: "wampgres.error.join_timeout", args: [], kwargs: {}, message: "did not join realm1 within 15s (last close: closed (wamp.error.not_authorized))" })
    assert.include(describeError(refused), "WAMP_AUTHMETHOD, WAMP_AUTHID, WAMP_SECRET_FILE")
  })
})
