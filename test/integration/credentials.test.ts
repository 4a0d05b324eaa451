/**
 * The component's credentials against the embedded router: it joins with a ticket, a salted
 * WAMP-CRA secret or a cryptosign key read from files (Credentials.load, as src/main.ts does),
 * registers its procedures in the backend role, and authenticates again after its session is
 * killed; a wrong secret never joins. And the shipped configuration's safe default: an anonymous
 * session may call but neither register nor publish under com.example.
 */
import { assert, layer } from "@effect/vitest"
import * as Context from "effect/Context"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Schedule from "effect/Schedule"
import * as Fs from "node:fs/promises"
import * as Os from "node:os"
import * as Path from "node:path"
import * as Credentials from "../../src/layers/Credentials.js"
import * as EmbeddedRouter from "../../src/layers/EmbeddedRouter.js"
import { WampSession } from "../../src/layers/WampSession.js"
import { NowGroup } from "../../src/procedures/now/index.js"
import { Router } from "../../src/router/index.js"
import { callRaw, clientSession, componentLayer, TestDatabase, TestRouter } from "../support/index.js"

const role = (name: string, uri: string, allow: Record<string, boolean>) => ({ name, permissions: [{ uri, match: "prefix", allow }] })
const everything = { call: true, register: true, publish: true, subscribe: true }

/** A router configuration admitting the component with each method, all in the backend role. */
const config = {
  version: 2,
  workers: [{
    type: "router",
    realms: [{
      name: "realm1",
      roles: [
        role("anonymous", "com.example.", { call: true, subscribe: true }),
        role("backend", "com.example.", everything),
        role("admin", "wamp.session.", { call: true })
      ]
    }],
    transports: [{
      type: "websocket",
      endpoint: { type: "tcp", port: 0, interface: "127.0.0.1" },
      auth: {
        ticket: { type: "static", principals: { "svc-ticket": { ticket: "${SVC_TICKET}", role: "backend" }, admin: { ticket: "admin-ticket", role: "admin" } } },
        wampcra: { type: "static", users: { "svc-cra": { secret: "cra secret \u00e9", salt: "NaCl", iterations: 200, keylen: 32, role: "backend" } } },
        cryptosign: { type: "static", principals: { "svc-key": { authorized_keys: ["${SVC_PUBKEY}"], role: "backend" } } },
        anonymous: { type: "static", role: "anonymous" }
      }
    }]
  }]
}

interface Files {
  readonly dir: string
  readonly configFile: string
  readonly ticket: string
  readonly craSecret: string
  readonly key: string
  readonly wrong: string
}

const files = Effect.acquireRelease(
  Effect.promise(async (): Promise<Files> => {
    const dir = await Fs.mkdtemp(Path.join(Os.tmpdir(), "wampgres-credentials-"))
    const write = async (name: string, text: string) => {
      const file = Path.join(dir, name)
      await Fs.writeFile(file, text, { mode: 0o600 })
      return file
    }
    return {
      dir,
      configFile: await write("config.json", JSON.stringify(config)),
      ticket: await write("ticket", "ticket-of-the-service\n"),
      craSecret: await write("cra", "cra secret \u00e9\n"),
      key: Path.join(dir, "keys", "component.key"),
      wrong: await write("wrong", "not the secret\n")
    }
  }),
  (f) => Effect.promise(() => Fs.rm(f.dir, { recursive: true, force: true }))
)

/** The embedded router of `config`, and a component with `credentials` registering the now group. */
const component = (f: Files, credentials: Credentials.ComponentCredentials, joinTimeout = Duration.seconds(10)) =>
  Effect.gen(function*() {
    const key = yield* Credentials.ensureKey(f.key)
    const router = EmbeddedRouter.layer({ configFile: f.configFile, port: 0, env: { SVC_TICKET: "ticket-of-the-service", SVC_PUBKEY: key.publicKey } })
    return componentLayer(NowGroup.layer, { credentials, joinTimeout }).pipe(Layer.provideMerge(router))
  })

const settings = (f: Files, method: Credentials.AuthMethod, authid: string, secretFile: string | undefined): Credentials.CredentialSettings => ({
  method,
  authid,
  secretFile,
  defaultKeyFile: f.key
})

layer(TestDatabase.layer, { excludeTestServices: true, timeout: "120 seconds" })("component credentials", (it) => {
  for (const [method, authid, file] of [["ticket", "svc-ticket", "ticket"], ["wampcra", "svc-cra", "craSecret"], ["cryptosign", "svc-key", undefined]] as const) {
    it.effect(`${method}: joins in the backend role and registers its procedures`, () =>
      Effect.scoped(Effect.gen(function*() {
        const f = yield* files
        const credentials = yield* Credentials.load(settings(f, method, authid, file === undefined ? undefined : f[file]))
        const context = yield* Layer.build(yield* component(f, credentials))
        const router = Context.get(context, Router)
        const caller = yield* clientSession(router.url)
        const result = yield* callRaw(caller, "com.example.now.v1")
        assert.strictEqual(typeof result.args[0], "string")
      })))
  }

  it.effect("the cryptosign key is created at first start: 0600 in a 0700 directory, the same key afterwards", () =>
    Effect.scoped(Effect.gen(function*() {
      const f = yield* files
      const first = yield* Credentials.ensureKey(f.key)
      const again = yield* Credentials.ensureKey(f.key)
      assert.strictEqual(again.publicKey, first.publicKey)
      assert.strictEqual((yield* Effect.promise(() => Fs.stat(f.key))).mode & 0o777, 0o600)
      assert.strictEqual((yield* Effect.promise(() => Fs.stat(Path.dirname(f.key)))).mode & 0o777, 0o700)
    })))

  it.effect("a wrong secret never joins: start-up fails naming not_authorized", () =>
    Effect.scoped(Effect.gen(function*() {
      const f = yield* files
      const credentials = yield* Credentials.load(settings(f, "ticket", "svc-ticket", f.wrong))
      const exit = yield* Effect.exit(Layer.build(yield* component(f, credentials, Duration.seconds(2))))
      assert.isTrue(Exit.isFailure(exit))
      assert.include(String(Exit.isFailure(exit) ? exit.cause : ""), "not_authorized")
    })))

  it.effect("after its session is killed, the component authenticates again and serves", () =>
    Effect.scoped(Effect.gen(function*() {
      const f = yield* files
      const credentials = yield* Credentials.load(settings(f, "wampcra", "svc-cra", f.craSecret))
      const context = yield* Layer.build(yield* component(f, credentials))
      const router = Context.get(context, Router)
      const wamp = Context.get(context, WampSession)
      const before = Option.getOrThrow(yield* wamp.sessionId)
      const admin = yield* Effect.acquireRelease(
        Effect.promise(() => import("../router/auth-client.js").then((c) => c.attempt(router.url, { method: "ticket", authid: "admin", ticket: "admin-ticket" }))),
        (a) => Effect.promise(async () => (await import("../router/auth-client.js")).leave(a))
      )
      if (!admin.joined) return assert.fail(`admin did not join: ${admin.reason}`)
      const killed = yield* Effect.promise(() => admin.session.call("wamp.session.kill_by_authid", ["svc-cra"]))
      assert.deepStrictEqual(killed, [before])
      const caller = yield* clientSession(router.url)
      const result = yield* callRaw(caller, "com.example.now.v1").pipe(
        Effect.retry({ schedule: Schedule.spaced("100 millis"), times: 100 })
      )
      assert.strictEqual(typeof result.args[0], "string")
      const after = Option.getOrThrow(yield* wamp.sessionId)
      assert.notStrictEqual(after, before)
    })))
})

layer(TestRouter.layer(), { excludeTestServices: true })("the shipped configuration", (it) => {
  it.effect("an anonymous session may call and subscribe under com.example., but neither register nor publish", () =>
    Effect.gen(function*() {
      const router = yield* Router
      const anonymous = yield* clientSession(router.url)
      const outcome = (p: Promise<unknown> | undefined) =>
        Effect.promise(() => (p ?? Promise.resolve()).then(() => "ok", (e: { error?: string }) => e.error ?? String(e)))
      assert.strictEqual(yield* outcome(anonymous.register("com.example.now.v1", () => "taken")), "wamp.error.not_authorized")
      assert.strictEqual(yield* outcome(anonymous.register("com.example.anything", () => 1, { match: "prefix" })), "wamp.error.not_authorized")
      assert.strictEqual(yield* outcome(anonymous.publish("com.example.ledger.on_transfer", [], {}, { acknowledge: true })), "wamp.error.not_authorized")
      assert.strictEqual(yield* outcome(anonymous.subscribe("com.example.ledger.on_transfer", () => {})), "ok")
      assert.strictEqual(yield* outcome(anonymous.call("wamp.session.count")), "wamp.error.not_authorized")
      // calling is allowed: with no callee the router says so (not "not authorized")
      assert.strictEqual(yield* outcome(anonymous.call("com.example.nobody")), "wamp.error.no_such_procedure")
    }))
})
