/**
 * The composition root: `npm start` / `npx tsx src/main.ts`.
 *
 * With no configuration it runs everything in one process: an embedded PostgreSQL (data in
 * `.data/postgres`), the embedded WAMP router with `.crossbar/config.json` (realm1, anonymous, web on
 * 8080 serving `web/` and `/ws`), and the component registering the procedure groups below.
 * `WAMP_URL` set → no embedded router; `DATABASE_URL` or `PGHOST` set → no embedded PostgreSQL.
 * SIGINT/SIGTERM shut down in reverse order: procedures drain and unregister, the session leaves,
 * the router stops, the pool closes, PostgreSQL stops; exit code 0.
 */
import * as NodeRuntime from "@effect/platform-node/NodeRuntime"
import * as Cause from "effect/Cause"
import * as Config from "effect/Config"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as References from "effect/References"
import * as Schema from "effect/Schema"
import * as Fs from "node:fs"
import * as Database from "./layers/Database.js"
import { externalTarget, poolSettings } from "./layers/DatabaseConfig.js"
import { dataDirFor, EmbeddedPostgres } from "./layers/EmbeddedPostgres.js"
import * as EmbeddedRouter from "./layers/EmbeddedRouter.js"
import { config as wampConfig, WampSession } from "./layers/WampSession.js"
import * as Ledger from "./procedures/ledger/index.js"
import { NowGroup } from "./procedures/now/index.js"
import { Router } from "./router/index.js"

/** The procedure groups of this service: one line per group. */
const Procedures = Layer.mergeAll(
  NowGroup.layer,
  Ledger.layer
)

export const help = `wampgres: WAMP procedures doing PostgreSQL database programming, Effect-native.

Usage: npm start            (or: npx tsx src/main.ts [--help])

With no configuration: embedded PostgreSQL + embedded WAMP router + the component.

Environment variables:
  Database (set DATABASE_URL or PGHOST to use an external PostgreSQL instead of the embedded one)
    DATABASE_URL          postgres://user:password@host:port/database
    PGHOST, PGPORT        host, port (default 5432)
    PGDATABASE, PGUSER    database (default: the user), user (default: the OS user)
    PGPASSWORD            password
    DB_POOL_MIN           connections kept open (adbapi cp_min)           default 3
    DB_POOL_MAX           connections at most (adbapi cp_max)             default 10
    DB_CONNECT_TIMEOUT    timeout of one connection attempt               default "5 seconds"
    DB_STARTUP_TIMEOUT    time for the health query to succeed at start   default "20 seconds"
    DB_HEALTH_QUERY       health query (adbapi cp_good_sql)               default "SELECT 1"
    DB_MULTIPLEX          pipeline statements on shared connections       default true
    DB_APPLICATION_NAME   application_name in pg_stat_activity            default wampgres
    WAMPGRES_DATA_DIR     embedded PostgreSQL data lives in <dir>/postgres default .data
  WAMP (set WAMP_URL to use an external router, e.g. Crossbar.io, instead of the embedded one)
    WAMP_URL              router WebSocket URL                            default: the embedded router
    WAMP_REALM            realm to join                                   default realm1
    WAMP_SERIALIZER       json | msgpack                                  default json
    WAMP_INVOKE           single | roundrobin | random | first | last     default single
                          invocation policy of procedures without their own; anything but
                          single lets several instances share the same procedures (scale-out)
    WAMP_JOIN_TIMEOUT     time to join at start-up                        default "15 seconds"
    WAMP_REQUEST_TIMEOUT  bound on register/call/publish requests         default "10 seconds"
    WAMP_DRAIN_TIMEOUT    time in-flight calls get at shutdown            default "3 seconds"
    WAMP_MAX_RETRY_DELAY  longest pause between reconnect attempts        default "5 seconds"
  Embedded router (only when WAMP_URL is not set)
    ROUTER_CONFIG         Crossbar.io configuration file                  default .crossbar/config.json
    ROUTER_PORT           overrides the web transport's port (0 = any free port)
  Logging
    LOG_LEVEL             Trace | Debug | Info | Warn | Error             default Info

Durations are written like "5 seconds" or "500 millis".
`

/** PostgreSQL: external when DATABASE_URL/PGHOST is set, else embedded. */
const DatabaseLive = Layer.unwrap(
  Effect.gen(function*() {
    const target = yield* externalTarget
    const pool = yield* poolSettings
    if (Option.isSome(target)) return Database.layer(target.value, pool)
    const dataDir = dataDirFor(yield* Config.option(Config.String("WAMPGRES_DATA_DIR")).pipe(Effect.map(Option.getOrUndefined)))
    return Layer.unwrap(Effect.map(EmbeddedPostgres, (pg) => Database.layer(pg.target, pool))).pipe(
      Layer.provide(EmbeddedPostgres.layer({ dataDir }))
    )
  })
)

/** The WAMP session: against WAMP_URL when set, else against the embedded router. */
const WampSessionLive = Layer.unwrap(
  Effect.gen(function*() {
    const settings = yield* wampConfig
    const url = yield* Config.option(Config.String("WAMP_URL"))
    if (Option.isSome(url) && url.value.length > 0) return WampSession.layer(settings)
    const configFile = yield* Config.String("ROUTER_CONFIG").pipe(Config.withDefault(".crossbar/config.json"))
    // Not Config.Port: 0 (any free port) is allowed here.
    const port = yield* Config.option(Config.schema(Schema.Int.check(Schema.isBetween({ minimum: 0, maximum: 65535 })), "ROUTER_PORT"))
    const RouterLive = EmbeddedRouter.layer({ configFile, port: Option.getOrUndefined(port) })
    return Layer.unwrap(
      Effect.gen(function*() {
        const router = yield* Router
        for (const l of router.listening) {
          if (l.transport.type === "web" && l.transport.paths.has("/")) {
            yield* Effect.logInfo(`Web page at http://127.0.0.1:${l.port}/`)
          }
        }
        return WampSession.layer({ ...settings, url: router.url })
      })
    ).pipe(Layer.provide(RouterLive))
  })
)

export const App = Procedures.pipe(
  Layer.provide(Layer.mergeAll(WampSessionLive, DatabaseLive))
)

const logLevel = Config.LogLevel("LOG_LEVEL").pipe(Config.withDefault("Info" as const))

/**
 * npm does not pass a SIGTERM sent to it on to the script: `kill <npm pid>` would orphan the service
 * (and its PostgreSQL). Under `npm start` we find npm among our ancestors (Linux /proc) and end the
 * service, as a signal does, when that process is gone.
 */
const npmAncestor = (): number | undefined => {
  let pid = process.ppid
  for (let depth = 0; depth < 5 && pid > 1; depth++) {
    try {
      // npm sets its title to "npm start"; else it is node running npm-cli.js.
      const command = Fs.readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\u0000").slice(0, 2)
      if (command.some((part) => /(^|\/)npm(-cli\.js)?(\s|$)/.test(part))) return pid
      const stat = Fs.readFileSync(`/proc/${pid}/stat`, "utf8")
      pid = Number.parseInt(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1] ?? "0", 10)
    } catch {
      return undefined
    }
  }
  return undefined
}

const alive = (pid: number): boolean => {
  try {
    process.kill(pid, 0)
    return true
  } catch (error) {
    // EPERM: it exists but belongs to another user (npm run by root, the service as a normal user).
    return (error as NodeJS.ErrnoException).code === "EPERM"
  }
}

const exitWithNpm = Effect.gen(function*() {
  const npm = process.env["npm_lifecycle_event"] === undefined ? undefined : npmAncestor()
  if (npm === undefined) return yield* Effect.never
  yield* Effect.sleep("1 second").pipe(Effect.repeat({ until: () => !alive(npm) }))
  yield* Effect.logWarning("npm exited: shutting down")
})

const main = Effect.gen(function*() {
  const level = yield* logLevel
  return yield* Layer.launch(App).pipe(
    Effect.raceFirst(exitWithNpm),
    Effect.provideService(References.MinimumLogLevel, level)
  )
})

if (process.argv.includes("--help") || process.argv.includes("-h")) {
  process.stdout.write(help)
} else {
  // A shutdown that hangs must not keep the process: force an exit well after the drain time.
  const deadline = () => setTimeout(() => process.exit(1), 15_000).unref()
  process.once("SIGINT", deadline)
  process.once("SIGTERM", deadline)
  NodeRuntime.runMain(main, {
    // A signal-initiated shutdown (interruption) is a normal end: exit code 0.
    teardown: (exit, onExit) =>
      onExit(Exit.isSuccess(exit) || Cause.hasInterruptsOnly(exit.cause) ? 0 : 1)
  })
}
