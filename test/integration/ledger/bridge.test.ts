/**
 * Changes made in the database reaching WAMP subscribers.
 *
 * - com.example.ledger.on_account_change: a trigger on ledger_accounts writes each balance change
 *   into the transactional outbox for the account's owner only (`eligible_authid`); changes made
 *   outside the component (a second connection, as psql would) reach the owner with consecutive
 *   `_seq` numbers, also while the relay's LISTEN is down, and no other caller;
 * - the LISTEN/NOTIFY bridge (`NOTIFY_BRIDGE`, channel `test_bridge` here): a NOTIFY is published as
 *   is; after its LISTEN backend is killed (`pg_terminate_backend`, standing in for a PostgreSQL
 *   restart on the shared test instance) the bridge listens again and logs the gap.
 */
import { assert, layer } from "@effect/vitest"
import type autobahn from "autobahn"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Logger from "effect/Logger"
import * as Redacted from "effect/Redacted"
import * as Reactivity from "effect/reactivity/Reactivity"
import * as PgClient from "@effect/sql-pg/PgClient"
import * as NotifyBridge from "../../../src/layers/NotifyBridge.js"
import * as Ledger from "../../../src/procedures/ledger/index.js"
import { Router } from "../../../src/router/index.js"
import { asSuperuser, callRaw, clientSession, componentLayer, TestDatabase, TestRouter } from "../../support/index.js"
import { authidOf, callersRouterConfig, urlFor } from "./callers.js"

const L = "com.example.ledger"
const bridged = { channel: "test_bridge", topic: "com.example.test.on_bridge" }

/** Every log line of the component, to check what the bridge reports. */
const logs: Array<string> = []
const Capture = Logger.layer([
  Logger.make((options) => {
    const message = Array.isArray(options.message) ? options.message.map(String).join(" ") : String(options.message)
    logs.push(`${options.logLevel} ${message}`)
  })
])

const Env = componentLayer(Layer.merge(Ledger.layer, NotifyBridge.layer([bridged]))).pipe(
  Layer.provideMerge(TestRouter.layer({ configFile: callersRouterConfig })),
  Layer.provideMerge(TestDatabase.layer),
  Layer.provide(Capture)
)

/** A second, separate connection to the test database (what psql would be). */
const psql = Effect.gen(function*() {
  const db = yield* TestDatabase
  return yield* PgClient.make({ url: Redacted.make(db.url), maxConnections: 1 }).pipe(Effect.provide(Reactivity.layer))
})

const collect = (session: autobahn.Session, topic: string, sequence?: Array<unknown>) =>
  Effect.gen(function*() {
    const events: Array<unknown> = []
    yield* Effect.promise(() =>
      session.subscribe(topic, (args, kwargs) => {
        events.push(args?.[0])
        sequence?.push(kwargs?.["_seq"])
      })
    )
    return events
  })

const waitUntil = <R>(check: Effect.Effect<boolean, unknown, R>, millis: number) =>
  Effect.gen(function*() {
    const deadline = Date.now() + millis
    while (Date.now() < deadline) {
      if (yield* check) return true
      yield* Effect.sleep("20 millis")
    }
    return false
  })

/** Backend PIDs of this database that last ran LISTEN on `channel`. */
const listenBackends = (channel: string) =>
  Effect.gen(function*() {
    const db = yield* TestDatabase
    return yield* asSuperuser((sql) =>
      sql<{ pid: number }>`SELECT pid FROM pg_stat_activity WHERE datname = ${db.name} AND query LIKE ${`LISTEN %${channel}%`}`
    ).pipe(Effect.map((rows) => (rows as ReadonlyArray<{ pid: number }>).map((row) => row.pid)), Effect.orDie)
  })

layer(Env, { excludeTestServices: true, timeout: "60 seconds" })("on_account_change (outbox) and the LISTEN/NOTIFY bridge", (it) => {
  it.effect("balance changes made with a second connection reach the owner in order; rolled-back ones do not; others get nothing", () =>
    Effect.gen(function*() {
      const router = yield* Router
      const subscriber = yield* clientSession(urlFor(router, "user"))
      const stranger = yield* clientSession(urlFor(router, "user"))
      const sequence: Array<unknown> = []
      const events = yield* collect(subscriber, `${L}.on_account_change`, sequence)
      const strangers = yield* collect(stranger, `${L}.on_account_change`)
      const account = (yield* callRaw(subscriber, `${L}.open_account`)).args[0] as { id: number }
      assert.isTrue(yield* waitUntil(Effect.sync(() => events.length >= 1), 5000), "opening an account notifies")
      assert.deepStrictEqual(events, [{ id: account.id, balance: 0 }])

      const sql = yield* psql
      yield* sql.withTransaction(
        Effect.andThen(sql`UPDATE ledger_accounts SET balance = 999 WHERE id = ${account.id}`, Effect.fail("roll back"))
      ).pipe(Effect.ignore)
      yield* sql`UPDATE ledger_accounts SET owner = owner WHERE id = ${account.id}`
      yield* sql`UPDATE ledger_accounts SET balance = 42 WHERE id = ${account.id}`
      // a later balance change is the barrier: the outbox publishes in commit order, so its event comes
      // after any the rollback or the rename could have caused
      yield* sql`UPDATE ledger_accounts SET balance = 43 WHERE id = ${account.id}`
      assert.isTrue(yield* waitUntil(Effect.sync(() => events.length >= 3), 30_000), "the updates notify")
      assert.deepStrictEqual(events, [{ id: account.id, balance: 0 }, { id: account.id, balance: 42 }, { id: account.id, balance: 43 }])
      assert.deepStrictEqual(sequence, [1, 2, 3], "consecutive sequence numbers: the rolled-back change took none")
      assert.deepStrictEqual(strangers, [])
    }))

  it.effect("a change made while the outbox's LISTEN connection is gone is still delivered", () =>
    Effect.gen(function*() {
      const router = yield* Router
      const subscriber = yield* clientSession(urlFor(router, "user"))
      const owner = yield* authidOf(subscriber)
      const events = yield* collect(subscriber, `${L}.on_account_change`)
      const sql = yield* psql
      const [account] = yield* sql<{ id: string }>`INSERT INTO ledger_accounts (owner, balance) VALUES (${owner}, 1) RETURNING id`
      assert.isTrue(yield* waitUntil(Effect.sync(() => events.length >= 1), 5000))
      const before = yield* listenBackends("wampgres_outbox")
      assert.strictEqual(before.length, 1, "one outbox LISTEN connection")
      yield* asSuperuser((admin) => admin`SELECT pg_terminate_backend(${before[0]!})`).pipe(Effect.orDie)
      yield* sql`UPDATE ledger_accounts SET balance = 2 WHERE id = ${account!.id}`
      assert.isTrue(yield* waitUntil(Effect.sync(() => events.length >= 2), 10_000), "delivered despite the gap")
      assert.deepStrictEqual(events, [{ id: Number(account!.id), balance: 1 }, { id: Number(account!.id), balance: 2 }])
    }))

  it.effect("a NOTIFY sent by hand on a bridged channel is published as is", () =>
    Effect.gen(function*() {
      const router = yield* Router
      const subscriber = yield* clientSession(urlFor(router, "user"))
      const events = yield* collect(subscriber, bridged.topic)
      const sql = yield* psql
      yield* sql`SELECT pg_notify('test_bridge', '{"id": 7, "balance": 70}')`
      assert.isTrue(yield* waitUntil(Effect.sync(() => events.length >= 1), 5000))
      yield* Effect.sleep("200 millis")
      assert.deepStrictEqual(events, [{ id: 7, balance: 70 }])
    }))

  it.effect("after its backend is terminated the bridge listens again, logs the gap, and delivers new changes", () =>
    Effect.gen(function*() {
      const router = yield* Router
      const subscriber = yield* clientSession(urlFor(router, "user"))
      const events = yield* collect(subscriber, bridged.topic)
      const before = yield* listenBackends(bridged.channel)
      assert.strictEqual(before.length, 1, "one LISTEN connection")
      const killed = yield* asSuperuser((sql) => sql`SELECT pg_terminate_backend(${before[0]!}) AS ok`).pipe(Effect.orDie)
      assert.deepStrictEqual(killed, [{ ok: true }])
      assert.isTrue(
        yield* waitUntil(
          Effect.map(listenBackends(bridged.channel), (pids) => pids.length === 1 && pids[0] !== before[0]),
          10_000
        ),
        "a new backend LISTENs"
      )
      assert.isTrue(logs.some((line) => /LISTEN test_bridge lost/.test(line)), logs.join("\n"))
      assert.isTrue(
        yield* waitUntil(Effect.sync(() => logs.some((line) => /LISTEN test_bridge again after a gap of \d+ ms/.test(line))), 2000),
        logs.join("\n")
      )
      const sql = yield* psql
      yield* sql`SELECT pg_notify('test_bridge', '{"id": 8, "balance": 80}')`
      assert.isTrue(yield* waitUntil(Effect.sync(() => events.length >= 1), 5000), "delivered after recovery")
      assert.deepStrictEqual(events, [{ id: 8, balance: 80 }])
    }))

  it("NOTIFY_BRIDGE mappings parse; malformed ones are refused", () => {
    assert.deepStrictEqual(NotifyBridge.parseMappings(" a=com.x.a , b = com.x.b,"), [
      { channel: "a", topic: "com.x.a" },
      { channel: "b", topic: "com.x.b" }
    ])
    assert.deepStrictEqual(NotifyBridge.parseMappings(""), [])
    assert.throws(() => NotifyBridge.parseMappings("a"))
    assert.throws(() => NotifyBridge.parseMappings("a=b=c"))
    assert.deepStrictEqual(NotifyBridge.payloadOf("not json"), { args: ["not json"] })
  })
})
