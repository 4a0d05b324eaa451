/**
 * Reflection through the embedded router with two roles, as a deployment would have them: the
 * component joins on /backend as `backend` (registers, publishes), browsers on /ws as `browser`,
 * who may call the ledger except open_account and mint, subscribe to on_transfer only, and call
 * `wamp.reflection.*`. The browser learns only of what it may use; the backend's own
 * `wampgres.reflection.*` is not the browser's to call.
 */
import { afterAll, assert, expect, layer } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Fs from "node:fs"
import * as Os from "node:os"
import * as Path from "node:path"
import * as Ledger from "../../src/procedures/ledger/contract.js"
import * as LedgerServer from "../../src/procedures/ledger/index.js"
import * as Reflection from "../../src/procedures/Reflection.js"
import { Router } from "../../src/router/index.js"
import { callRaw, clientSession, componentLayer, TestDatabase, testCredentials, TestRouter } from "../support/index.js"

const allow = (uri: string, match: string, actions: ReadonlyArray<string>) => ({
  uri,
  match,
  allow: Object.fromEntries(["call", "register", "publish", "subscribe"].map((action) => [action, actions.includes(action)]))
})

/** The component signs in as "wampgres" with the tests' cryptosign key (see test/support). */
const testPublicKey = testCredentials.method === "cryptosign" ? testCredentials.key.publicKey : ""

const config = {
  version: 2,
  workers: [{
    type: "router",
    realms: [{
      name: "realm1",
      roles: [
        {
          name: "backend",
          permissions: [
            allow("com.example.", "prefix", ["register", "publish"]),
            allow("wampgres.reflection.", "prefix", ["register"]),
            allow("wampgres.outbox.", "prefix", ["register"])
          ]
        },
        {
          name: "browser",
          permissions: [
            allow("com.example.ledger.", "prefix", ["call"]),
            allow(Ledger.openAccount.uri, "exact", []),
            allow(Ledger.mint.uri, "exact", []),
            allow(Ledger.Uris.onTransfer, "exact", ["subscribe"]),
            allow("wamp.reflection.", "prefix", ["call"])
          ]
        }
      ]
    }],
    transports: [{
      type: "web",
      endpoint: { type: "tcp", port: 0 },
      paths: {
        ws: { type: "websocket", auth: { anonymous: { type: "static", role: "browser" } } },
        backend: {
          type: "websocket",
          auth: { cryptosign: { type: "static", principals: { wampgres: { authorized_keys: [testPublicKey], role: "backend" } } } }
        }
      }
    }]
  }]
}

const configDir = Fs.mkdtempSync(Path.join(Os.tmpdir(), "wampgres-reflection-"))
const configFile = Path.join(configDir, "config.json")
afterAll(() => Fs.rmSync(configDir, { recursive: true, force: true }))
Fs.writeFileSync(configFile, JSON.stringify(config))

const Component = Layer.unwrap(Effect.map(Router, (router) =>
  componentLayer(
    Layer.mergeAll(LedgerServer.layer, Reflection.layer([...LedgerServer.LedgerGroup.procedures], Ledger.topics)),
    { url: router.url.replace(/\/ws$/, "/backend") }
  )))

const Env = Component.pipe(
  Layer.provideMerge(TestRouter.layer({ configFile })),
  Layer.provideMerge(TestDatabase.layer)
)

layer(Env, { excludeTestServices: true, timeout: "60 seconds" })("reflection by role", (it) => {
  it.effect("a browser lists and describes only what it may call or subscribe to", () =>
    Effect.gen(function*() {
      const session = yield* clientSession((yield* Router).url)
      const first = (uri: string, args: Array<unknown> = []) => Effect.map(callRaw(session, uri, { args }), (r) => r.args[0])
      expect(yield* first("wamp.reflection.procedure.list")).toEqual([Ledger.getAccount.uri, Ledger.history.uri, Ledger.transfer.uri])
      expect(yield* first("wamp.reflection.topic.list")).toEqual([Ledger.Uris.onTransfer])
      expect(yield* first("wamp.reflection.error.list")).toEqual([
        Ledger.InsufficientFunds.uri,
        Ledger.NoSuchAccount.uri,
        Ledger.InvalidArgument.uri
      ])
      const hidden = yield* Effect.flip(callRaw(session, "wamp.reflection.procedure.describe", { args: [Ledger.openAccount.uri] }))
      assert.strictEqual(hidden.error, "wamp.error.no_such_procedure")
      const hiddenTopic = yield* Effect.flip(callRaw(session, "wamp.reflection.topic.describe", { args: [Ledger.Uris.onAccountChange] }))
      assert.strictEqual(hiddenTopic.error, "wampgres.error.no_such_topic")
      // not_authorized (NotAdmin) is raised only by mint, which the browser may not call
      const hiddenError = yield* Effect.flip(callRaw(session, "wamp.reflection.error.describe", { args: [Ledger.NotAdmin.uri] }))
      assert.strictEqual(hiddenError.error, "wampgres.error.no_such_error")
      // an error raised by several procedures lists only those the browser may call
      const noSuchAccount = (yield* first("wamp.reflection.error.describe", [Ledger.NoSuchAccount.uri])) as { procedures: Array<string> }
      expect(noSuchAccount.procedures).toEqual([Ledger.getAccount.uri, Ledger.history.uri, Ledger.transfer.uri])
      const visible = (yield* first("wamp.reflection.procedure.describe", [Ledger.transfer.uri])) as { uri: string }
      assert.strictEqual(visible.uri, Ledger.transfer.uri)
      // the component's unfiltered procedures are not the browser's to call
      const direct = yield* Effect.flip(callRaw(session, "wampgres.reflection.procedure.list"))
      assert.strictEqual(direct.error, "wamp.error.not_authorized")
    }))
})
