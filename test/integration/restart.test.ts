/**
 * The service survives a real PostgreSQL restart, without being restarted itself: PostgreSQL is
 * stopped (fast shutdown) and started again on the same port while the component stays joined.
 *
 * - during the outage calls fail with `wampgres.error.database` (no SQL text), the process stays up;
 * - after the restart `now.v1` (plain query) and `now.v3` (transaction) answer again within seconds:
 *   the pool replaced its broken connections;
 * - `on_account_change` (written to the outbox by the balance trigger) is delivered for a change made
 *   right after the restart with a separate connection, whether or not the relay listens again yet.
 *
 * A DEDICATED PostgreSQL (own temporary data directory, own port), not the run's shared one: other
 * test files use that. It is the service's own `EmbeddedPostgres` layer, restarted with its
 * stop/start, and the component reaches it over its Unix socket (the connection `npm start` uses).
 */
import { assert, layer } from "@effect/vitest"
import type autobahn from "autobahn"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Logger from "effect/Logger"
import * as Redacted from "effect/Redacted"
import * as Reactivity from "effect/reactivity/Reactivity"
import * as PgClient from "@effect/sql-pg/PgClient"
import type { WampError } from "../../src/layers/WampSession.js"
import * as Ledger from "../../src/procedures/ledger/index.js"
import { NowGroup } from "../../src/procedures/now/index.js"
import { Router } from "../../src/router/index.js"
import { callRaw, clientSession, componentLayer, TestRouter } from "../support/index.js"
import { databaseOn, RestartablePostgres } from "../support/RestartablePostgres.js"

const L = "com.example.ledger"
/** Every log line of the component, to check what the bridge reports. */
const logs: Array<string> = []
const Capture = Logger.layer([
  Logger.make((options) => {
    const message = Array.isArray(options.message) ? options.message.map(String).join(" ") : String(options.message)
    logs.push(`${options.logLevel} ${message}`)
  })
])

const DatabaseOnDedicated = databaseOn("wampgres-restart-test")

const Env = componentLayer(Layer.mergeAll(NowGroup.layer, Ledger.layer)).pipe(
  Layer.provideMerge(TestRouter.layer()),
  Layer.provideMerge(DatabaseOnDedicated),
  Layer.provideMerge(RestartablePostgres.layer),
  Layer.provide(Capture)
)

/** A separate connection (what psql would be), opened after the restart. */
const psql = Effect.gen(function*() {
  const pg = yield* RestartablePostgres
  return yield* PgClient.make({ url: Redacted.make(pg.url), maxConnections: 1 }).pipe(Effect.provide(Reactivity.layer))
})

const collect = (session: autobahn.Session, topic: string) =>
  Effect.gen(function*() {
    const events: Array<unknown> = []
    yield* Effect.promise(() => session.subscribe(topic, (args) => void events.push(args?.[0])))
    return events
  })

/** Polls `check` until it holds or `millis` pass; true when it held. */
const waitUntil = <R>(check: Effect.Effect<boolean, never, R>, millis: number) =>
  Effect.gen(function*() {
    const deadline = Date.now() + millis
    while (Date.now() < deadline) {
      if (yield* check) return true
      yield* Effect.sleep("50 millis")
    }
    return false
  })

const answers = (session: autobahn.Session, uri: string) =>
  Effect.map(Effect.exit(callRaw(session, uri)), (exit) => exit._tag === "Success" && typeof exit.value.args[0] === "string")

layer(Env, { excludeTestServices: true, timeout: "60 seconds" })("PostgreSQL restart", (it) => {
  it.effect(
    "calls fail with wampgres.error.database during the outage and succeed again after the restart; the outbox delivers",
    () =>
      Effect.gen(function*() {
        const router = yield* Router
        const pg = yield* RestartablePostgres
        const session = yield* clientSession(router.url)
        // The account's owner is the one subscriber its changes reach.
        const events = yield* collect(session, `${L}.on_account_change`)

        // The service's own embedded layer: it connects as its non-superuser role, so no superuser warning.
        assert.notMatch(logs.join("\n"), /a superuser: row-level security policies do not apply/)
        // Before: both styles answer, the bridge delivers.
        for (const uri of ["com.example.now.v1", "com.example.now.v3"]) {
          const result = yield* callRaw(session, uri)
          assert.isString(result.args[0], uri)
        }
        const account = (yield* callRaw(session, `${L}.open_account`)).args[0] as { id: number }
        assert.isTrue(yield* waitUntil(Effect.sync(() => events.length >= 1), 5000), "opening an account notifies")

        // The outage: a real fast shutdown of the postmaster, held for 1.5 s (the bridge retries meanwhile).
        yield* pg.stop
        const stoppedAt = Date.now()
        let failedCalls = 0
        while (Date.now() - stoppedAt < 1500) {
          for (const uri of ["com.example.now.v1", "com.example.now.v3"]) {
            const error: WampError = yield* Effect.flip(callRaw(session, uri))
            assert.strictEqual(error.error, "wampgres.error.database", `${uri}: ${error.error} ${error.message}`)
            const shown = JSON.stringify([error.args, error.kwargs])
            assert.notMatch(shown, /select|now\(\)/i, "no SQL text reaches the caller")
            failedCalls++
          }
          yield* Effect.sleep("250 millis")
        }
        assert.isAtLeast(failedCalls, 4)

        // Back on the same port; the component was never restarted.
        yield* pg.start
        const logsBeforeRecovery = logs.length
        const restarted = Date.now()
        const recovered = yield* waitUntil(
          Effect.map(
            Effect.all([answers(session, "com.example.now.v1"), answers(session, "com.example.now.v3")]),
            ([v1, v3]) => v1 && v3
          ),
          5000
        )
        assert.isTrue(recovered, "now.v1 and now.v3 answer again within 5 s of the restart")
        for (const v of [1, 3, 1, 3]) {
          const result = yield* callRaw(session, `com.example.now.v${v}`)
          assert.isString(result.args[0])
        }
        const recoveryMs = Date.now() - restarted
        assert.isTrue(
          logs.slice(logsBeforeRecovery).some((line) => /New DB connection created/.test(line)),
          "the pool opened a new connection after the restart"
        )

        // The outbox: a change made by another connection is delivered (NOTIFY or the relay's poll wakes it).
        const sql = yield* psql
        yield* sql`UPDATE ledger_accounts SET balance = 77 WHERE id = ${account.id}`
        assert.isTrue(yield* waitUntil(Effect.sync(() => events.length >= 2), 5000), "a change after the restart is delivered")
        assert.deepStrictEqual(events, [{ id: account.id, balance: 0 }, { id: account.id, balance: 77 }])
        assert.isBelow(recoveryMs, 5000)
        // Same component throughout: it joined once, its database layer started once.
        assert.strictEqual(logs.filter((line) => /Joined realm1/.test(line)).length, 1, logs.join("\n"))
        assert.strictEqual(logs.filter((line) => /Database .* ready/.test(line)).length, 1, logs.join("\n"))
      })
  )
})
