/**
 * The typed client (`Remote`) in Node over autobahn-js, and reflection, against the ledger
 * component on the embedded router (callers' configuration: every session its own caller, authrole
 * by path, funds minted by an admin) and a real PostgreSQL: typed results and
 * errors, progressive results as a Stream and an async iterator whose early end sends CANCEL,
 * typed events; `wamp.reflection.*` from autobahn-js and from Autobahn|Python.
 */
import { assert, expect, layer } from "@effect/vitest"
import autobahn from "autobahn"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import * as Stream from "effect/Stream"
import * as Ledger from "../../src/procedures/ledger/contract.js"
import * as LedgerServer from "../../src/procedures/ledger/index.js"
import * as Reflection from "../../src/procedures/Reflection.js"
import * as Remote from "../../src/procedures/Remote.js"
import type { WampError } from "../../src/layers/wamp/Protocol.js"
import { Router } from "../../src/router/index.js"
import { MessageType } from "../../src/wamp/messages.js"
import { autobahnPythonMissing, PythonProcess } from "../interop/python.js"
import { callRaw, clientSession, componentLayer, TestDatabase, TestRouter } from "../support/index.js"
import { type CallerRole, callersRouterConfig, urlFor } from "./ledger/callers.js"

const Env = componentLayer(
  Layer.mergeAll(LedgerServer.layer, Reflection.layer([...LedgerServer.LedgerGroup.procedures], Ledger.topics))
).pipe(
  Layer.provideMerge(TestRouter.layer({ configFile: callersRouterConfig })),
  Layer.provideMerge(TestDatabase.layer)
)

/** A typed client on the test router, a caller of its own; `sent` records the type of every message it sends. */
const connectTyped = (role: CallerRole) => Effect.gen(function*() {
  const router = yield* Router
  const client = yield* Remote.connect(autobahn as unknown as Remote.AutobahnModule, { url: urlFor(router, role), realm: "realm1" })
  const sent: Array<number> = []
  const session = client.session() as unknown as { _send_wamp: (message: Array<unknown>) => void }
  const send = session._send_wamp.bind(session)
  session._send_wamp = (message) => {
    sent.push(message[0] as number)
    send(message)
  }
  return { client, sent }
})

const typedClient = connectTyped("user")

/** A new account of `client`'s caller holding `balance`, minted by an admin (typed `mint`). */
const funded = (client: Remote.RemoteClient, balance: number) =>
  Effect.gen(function*() {
    const account = yield* client.call(Ledger.openAccount, {})
    if (balance === 0) return account
    const admin = yield* connectTyped("admin")
    return yield* admin.client.call(Ledger.mint, { account: account.id, amount: balance })
  })

const waitUntil = (check: () => boolean, millis = 10_000) =>
  Effect.gen(function*() {
    const deadline = Date.now() + millis
    while (!check() && Date.now() < deadline) yield* Effect.sleep("20 millis")
    assert.isTrue(check(), "condition not met in time")
  })

layer(Env, { excludeTestServices: true, timeout: "60 seconds" })("typed client and reflection", (it) => {
  it.effect("call: typed input and result; declared errors come back as their classes, others as WampError", () =>
    Effect.gen(function*() {
      const { client, sent } = yield* typedClient
      const a = yield* funded(client, 100)
      const b = yield* funded(client, 0)
      assert.strictEqual(b.balance, 0, "accounts open empty")
      const done = yield* client.call(Ledger.transfer, { from: a.id, to: b.id, amount: 30 })
      assert.strictEqual(done.from_balance, 70)
      assert.strictEqual((yield* client.call(Ledger.getAccount, { id: b.id })).balance, 30)
      const poor = yield* Effect.flip(client.call(Ledger.transfer, { from: b.id, to: a.id, amount: 31 }))
      assert.instanceOf(poor, Ledger.InsufficientFunds)
      assert.deepStrictEqual([poor.account, poor.amount], [b.id, 31])
      const missing = yield* Effect.flip(client.call(Ledger.getAccount, { id: 2 ** 40 }))
      assert.instanceOf(missing, Ledger.NoSuchAccount)
      assert.strictEqual(missing.message, `no account ${2 ** 40}`)
      const same = yield* Effect.flip(client.call(Ledger.transfer, { from: a.id, to: a.id, amount: 1 }))
      assert.instanceOf(same, Ledger.InvalidArgument)
      // an input the contract rejects is never sent
      const notAdmin = yield* Effect.flip(client.call(Ledger.mint, { account: a.id, amount: 1 }))
      assert.instanceOf(notAdmin, Ledger.NotAdmin)
      const callsBefore = sent.filter((type) => type === MessageType.CALL).length
      const invalid = yield* Effect.flip(client.call(Ledger.getAccount, { id: 0.5 }))
      assert.strictEqual((invalid as WampError).error, "wamp.error.invalid_argument")
      assert.strictEqual(sent.filter((type) => type === MessageType.CALL).length, callsBefore)
    }))

  it.effect("stream: progressive results decoded (Date), then the end; an early end sends CANCEL", () =>
    Effect.gen(function*() {
      const { client, sent } = yield* typedClient
      const a = yield* funded(client, 1000)
      const b = yield* funded(client, 0)
      for (let i = 1; i <= 5; i++) yield* client.call(Ledger.transfer, { from: a.id, to: b.id, amount: i })
      const all = yield* Stream.runCollect(client.stream(Ledger.history, { account: a.id }))
      assert.deepStrictEqual(all.map((t) => t.amount), [1, 2, 3, 4, 5])
      assert.instanceOf(all[0]!.at, Date)
      assert.notInclude(sent, MessageType.CANCEL)
      const two = yield* Stream.runCollect(Stream.take(client.stream(Ledger.history, { account: a.id }), 2))
      assert.strictEqual(two.length, 2)
      // whether the call had ended before the stream stopped reading decides; an unbounded one has not
      const missing = yield* Effect.flip(Stream.runCollect(client.stream(Ledger.history, { account: 2 ** 40 })))
      assert.instanceOf(missing, Ledger.NoSuchAccount)
    }))

  it.effect("iterate: the async iterator yields transfers; breaking out of the loop sends CANCEL to a call in flight", () =>
    Effect.gen(function*() {
      const { client, sent } = yield* typedClient
      const a = yield* funded(client, 1_000_000)
      const b = yield* funded(client, 0)
      yield* Effect.forEach(Array.from({ length: 300 }, (_, i) => i + 1), (amount) =>
        client.call(Ledger.transfer, { from: a.id, to: b.id, amount }), { concurrency: 8 })
      const seen = yield* Effect.promise(async () => {
        const amounts: Array<number> = []
        for await (const transfer of client.iterate(Ledger.history, { account: a.id })) {
          amounts.push(transfer.amount)
          if (amounts.length === 3) break
        }
        return amounts
      })
      assert.strictEqual(seen.length, 3)
      yield* waitUntil(() => sent.includes(MessageType.CANCEL))
      // the session is still usable
      assert.strictEqual((yield* client.call(Ledger.getAccount, { id: a.id })).id, a.id)
    }))

  it.effect("interrupting a call in flight sends CANCEL", () =>
    Effect.gen(function*() {
      const { client, sent } = yield* typedClient
      const a = yield* funded(client, 10_000)
      const b = yield* funded(client, 0)
      yield* Effect.forEach(Array.from({ length: 200 }, (_, i) => i + 1), (amount) =>
        client.call(Ledger.transfer, { from: a.id, to: b.id, amount: 1 + (amount % 3) }), { concurrency: 8 })
      let received = 0
      // a reader that takes one transfer and then waits: the call stays in flight
      const reader = Stream.tap(client.stream(Ledger.history, { account: a.id }), () =>
        Effect.andThen(Effect.sync(() => received++), Effect.never))
      const fiber = yield* Effect.forkChild(Stream.runDrain(reader))
      yield* waitUntil(() => received === 1)
      assert.notInclude(sent, MessageType.CANCEL)
      yield* Fiber.interrupt(fiber)
      yield* waitUntil(() => sent.includes(MessageType.CANCEL))
      assert.strictEqual((yield* client.call(Ledger.getAccount, { id: b.id })).id, b.id)
    }))

  it.effect("subscribe: typed events of the caller's transfers (as payer) and of its accounts' balances; the payee's stay its own", () =>
    Effect.gen(function*() {
      const { client } = yield* typedClient
      const other = yield* typedClient
      const transfers: Array<Ledger.Transfer> = []
      const changes: Array<{ id: number; balance: number }> = []
      const otherChanges: Array<{ id: number; balance: number }> = []
      yield* Effect.forkChild(Stream.runForEach(client.subscribe(Ledger.onTransfer), (t) => Effect.sync(() => transfers.push(t))))
      yield* Effect.forkChild(Stream.runForEach(client.subscribe(Ledger.onAccountChange), (c) => Effect.sync(() => changes.push(c))))
      yield* Effect.forkChild(Stream.runForEach(other.client.subscribe(Ledger.onAccountChange), (c) => Effect.sync(() => otherChanges.push(c))))
      yield* Effect.sleep("200 millis") // the SUBSCRIBEs reach the router before the transfer
      const a = yield* funded(client, 50)
      const b = yield* funded(other.client, 0)
      const done = yield* client.call(Ledger.transfer, { from: a.id, to: b.id, amount: 20 })
      yield* waitUntil(() =>
        transfers.some((t) => t.id === done.id) && changes.some((c) => c.id === a.id && c.balance === 30) &&
        otherChanges.some((c) => c.id === b.id && c.balance === 20)
      )
      const event = transfers.find((t) => t.id === done.id)!
      assert.instanceOf(event.at, Date)
      assert.deepStrictEqual([event.from, event.to, event.amount], [a.id, b.id, 20])
      assert.isFalse(changes.some((c) => c.id === b.id), "the payee's balance goes to the payee only")
      assert.isFalse(otherChanges.some((c) => c.id === a.id), "the payer's balance goes to the payer only")
    }))

  it.effect("wamp.reflection.*: lists and descriptions with JSON Schema, from any WAMP client", () =>
    Effect.gen(function*() {
      const session = yield* clientSession(urlFor(yield* Router, "user"))
      const first = (uri: string, args: Array<unknown> = []) => Effect.map(callRaw(session, uri, { args }), (r) => r.args[0])
      expect(yield* first("wamp.reflection.procedure.list")).toEqual(Ledger.procedures.map((c) => c.uri).sort())
      expect(yield* first("wamp.reflection.topic.list")).toEqual([Ledger.Uris.onAccountChange, Ledger.Uris.onTransfer])
      expect(yield* first("wamp.reflection.error.list")).toEqual([
        Ledger.InsufficientFunds.uri,
        Ledger.NoSuchAccount.uri,
        Ledger.InvalidArgument.uri,
        Ledger.NotAdmin.uri
      ])
      const history = (yield* first("wamp.reflection.procedure.describe", [Ledger.history.uri])) as Record<string, unknown>
      expect(history).toMatchObject({ uri: Ledger.history.uri, streaming: true, transactional: true, errors: Ledger.history.errors.map((e) => e.uri) })
      expect(history["progress"]).toMatchObject({ type: "object", required: ["id", "from", "to", "amount", "at"] })
      const topic = (yield* first("wamp.reflection.topic.describe", [Ledger.Uris.onTransfer])) as Record<string, unknown>
      expect(topic["payload"]).toMatchObject({ type: "object", properties: { at: { type: "string" } } })
      const error = (yield* first("wamp.reflection.error.describe", [Ledger.NoSuchAccount.uri])) as Record<string, unknown>
      expect(error).toMatchObject({ tag: "NoSuchAccount", kwargs: { properties: { id: { type: "integer" } } } })
      const unknown = yield* Effect.flip(callRaw(session, "wamp.reflection.procedure.describe", { args: ["com.example.nothing"] }))
      assert.strictEqual(unknown.error, "wamp.error.no_such_procedure")
      const noUri = yield* Effect.flip(callRaw(session, "wamp.reflection.topic.describe", { args: [7] }))
      assert.strictEqual(noUri.error, "wamp.error.invalid_argument")
    }))

  const missingPython = autobahnPythonMissing()
  it.effect.skipIf(missingPython !== undefined && !process.env["CI"])("wamp.reflection.* from Autobahn|Python (cbor)", () =>
    Effect.gen(function*() {
      const router = yield* Router
      const python = PythonProcess.start("client.py", [
        "reflector",
        "--url",
        router.url,
        "--serializer",
        "cbor",
        "--prefix",
        "com.example.ledger"
      ], "python reflector")
      const report = yield* Effect.promise(() => python.waitFor((r) => r.event === "reflection"))
      yield* Effect.promise(() => python.stop())
      expect(report["procedures"]).toEqual(Ledger.procedures.map((c) => c.uri).sort())
      const described = report["described"] as Record<string, Record<string, unknown>>
      expect(described[Ledger.transfer.uri]).toMatchObject({
        streaming: false,
        args: { kwargs: { required: ["from", "to", "amount"], additionalProperties: false } }
      })
      expect(report["topics"]).toEqual([Ledger.Uris.onAccountChange, Ledger.Uris.onTransfer])
      expect(Object.keys(report["error_descriptions"] as object)).toHaveLength(4)
      expect(report["missing"]).toBe("wamp.error.no_such_procedure")
    }))
})
