/**
 * A dedicated PostgreSQL a test can stop and start again on the same port: the service's own
 * `EmbeddedPostgres` layer on a temporary data directory, restarted with its stop/start, reached over
 * its Unix socket (the connection `npm start` uses). Not the run's shared PostgreSQL: other test
 * files use that.
 */
import * as Context from "effect/Context"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Redacted from "effect/Redacted"
import * as Fs from "node:fs/promises"
import * as Os from "node:os"
import * as Path from "node:path"
import * as Database from "../../src/layers/Database.js"
import type { DatabaseTarget } from "../../src/layers/DatabaseConfig.js"
import { EmbeddedPostgres } from "../../src/layers/EmbeddedPostgres.js"

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
  /**
   * The service's own `EmbeddedPostgres` layer on a temporary data directory, with its stop/start:
   * the component connects over the cluster's Unix socket, as `npm start` does.
   */
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
      // built in this layer's scope: stopped before the data directory is removed
      const pg = Context.get(yield* Layer.build(EmbeddedPostgres.layer({ dataDir: Path.join(root, "postgres") })), EmbeddedPostgres)
      const via = pg.target._tag === "Fields" ? pg.target.host : "a URL"
      if (!via.startsWith("/")) throw new Error(`expected the Unix socket as the target, got ${via}`)
      return RestartablePostgres.of({
        port: pg.port,
        url: Redacted.value(pg.url(pg.target._tag === "Fields" ? pg.target.database : "postgres")),
        target: pg.target,
        stop: pg.stop,
        start: Effect.mapError(pg.start, (e) => new Error(e.message))
      })
    })
  )
}

/** The service's pool on the restartable PostgreSQL: small, quick to give up, multiplexed as in production. */
export const databaseOn = (applicationName: string) =>
  Layer.unwrap(
    Effect.map(RestartablePostgres, (pg) =>
      Database.layer(pg.target, {
        min: 1,
        max: 4,
        connectTimeout: Duration.seconds(2),
        startupTimeout: Duration.seconds(10),
        healthQuery: "SELECT 1",
        multiplex: true,
        applicationName
      }))
  )
